"""A therapist adds a client, copies the room link and the personal link, and searches a long list."""

import pytest
from playwright.sync_api import expect

import clients
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_add_client_copy_room_link_and_open_the_room(page, therapist, screenshot):
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Add client").click()
    form = page.get_by_role("form", name="Add client")
    form.get_by_label("Name").fill("Jane Doe")
    form.get_by_label("Email").fill("jane@example.com")
    form.get_by_label("Time zone").select_option("America/New_York")
    form.get_by_label("Private note").fill("Prefers mornings.")
    form.get_by_role("button", name="Save client").click()

    pane = page.locator("#client-pane")
    expect(pane.get_by_role("heading", name="Jane Doe")).to_be_focused()
    expect(page.locator("#client-results").get_by_role("link", name="Jane Doe")).to_be_visible()
    assert "/clients/" in page.url

    pane.get_by_role("button", name="Copy link").click()
    expect(pane.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    screenshot("client-details")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == pane.get_by_label("Room link").input_value()
    assert "/r/" in copied

    room = page.context.new_page()
    room.goto(copied)
    expect(room.get_by_role("heading", name="Your session room with Dana Whitfield")).to_be_visible()
    assert "Jane" not in room.content()
    room.close()

    # Replace the link after confirming; the old one stops at once.
    pane.get_by_text("Replace link…").click()
    pane.get_by_role("button", name="Replace link").click()
    expect(page.get_by_text("The old link no longer works.")).to_be_visible()
    assert pane.get_by_label("Room link").input_value() != copied
    visitor = page.context.new_page()
    visitor.goto(copied)
    expect(visitor.get_by_role("heading", name="This link is no longer valid")).to_be_visible()


def test_copy_personal_link_from_account_settings(page, therapist, screenshot):
    log_in(page)
    page.get_by_role("button", name="Dana Whitfield").click()
    page.get_by_role("link", name="Account Settings").click()
    # Scripts run before "load": a click before then is a plain link to the full page (no swap, no focus move),
    # as it is for anyone without JavaScript.
    page.wait_for_load_state()
    page.get_by_role("link", name="Personal Link").click()
    expect(page.get_by_text("Share this one link with any client")).to_be_visible()
    expect(page.get_by_role("heading", name="Personal Link")).to_be_focused()  # swapped in and settled

    page.get_by_label("Link name").fill("Bad Name")
    expect(page.get_by_text("Use lowercase letters")).to_be_visible()
    page.get_by_label("Link name").fill("dana-room")
    expect(page.get_by_text("“dana-room” is available.")).to_be_visible()
    page.get_by_role("button", name="Change link").click()
    expect(page.get_by_text("Personal link changed.")).to_be_visible()

    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_text("Copied")).to_be_visible()
    screenshot("personal-link")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith("/u/dana-room") and copied == page.get_by_label("Personal link").input_value()

    lobby = page.context.new_page()
    lobby.goto(copied)
    expect(lobby.get_by_role("heading", name="Dana Whitfield’s room")).to_be_visible()
    expect(lobby.get_by_label("Your name")).to_be_visible()


def test_search_two_hundred_clients(page, therapist, screenshot):
    for number in range(200):
        clients.add(therapist, name=f"Person {number:03d}", email=f"person{number}@example.com")
    clients.add(therapist, name="Zelda Fitzgerald", email="zelda@example.com")
    log_in(page)
    page.goto("/clients/")
    expect(page.get_by_text("201 clients")).to_be_visible()
    expect(page.locator("#client-results li")).to_have_count(50)

    page.get_by_label("Search clients").fill("zeld")
    expect(page.get_by_text("1 client matching “zeld”")).to_be_visible()
    expect(page.locator("#client-results").get_by_role("link")).to_have_text(["Zelda Fitzgerald zelda@example.com"])
    assert "q=zeld" in page.url

    page.get_by_label("Search clients").fill("person 19")
    expect(page.locator("#client-results li")).to_have_count(10)  # Person 190 to 199
    screenshot("search")
    page.locator("#client-results").get_by_role("link", name="Person 195").click()
    expect(page.locator("#client-pane").get_by_role("heading", name="Person 195")).to_be_visible()
