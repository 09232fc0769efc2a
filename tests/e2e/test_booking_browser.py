"""Book With Calendar, as a therapist clicks through it; the invites arrive at a real SMTP server."""

from datetime import time

import pytest
from playwright.sync_api import expect

import booking
import clients
from dates import PLAIN_TUESDAY
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_book_a_session_from_the_navigation_bar(page, therapist, smtp, screenshot, tmp_path):
    log_in(page)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Add client").click()
    form = page.get_by_role("form", name="Add client")
    form.get_by_label("Name").fill("Jane Doe")
    form.get_by_label("Email").fill("jane@example.com")
    form.get_by_label("Time zone").select_option("America/New_York")
    form.get_by_role("button", name="Save client").click()
    expect(page.locator("#client-pane").get_by_role("heading", name="Jane Doe")).to_be_visible()

    nav.get_by_role("button", name="New Session").click()
    page.get_by_role("link", name="Book With Calendar").click()
    expect(page.get_by_role("heading", name="Book With Calendar")).to_be_visible()
    page.get_by_label("Client", exact=True).select_option(label="Jane Doe")
    page.get_by_label("Date").fill(PLAIN_TUESDAY.isoformat())
    page.get_by_label("Start time").fill("14:00")
    expect(page.get_by_label("Session length")).to_have_value("50")
    preview = page.locator("#booking-preview")
    expect(preview).to_contain_text("14:00–14:50 your time, Central European Time (Prague)")
    expect(preview).to_contain_text("08:00–08:50 for Jane, Eastern Time (New York)")
    screenshot("booking-form")

    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_role("heading", name="Session booked.")).to_be_focused()
    expect(page.get_by_text("Calendar invites sent to you and Jane Doe.")).to_be_visible()
    screenshot("booking-confirmation")
    assert len(smtp.to("jane@example.com")) == 1 and len(smtp.to("dana@example.com")) == 1

    nav.get_by_role("link", name="Sessions").click()
    row = page.get_by_role("row").filter(has_text="Jane Doe")
    expect(row).to_contain_text(f"{PLAIN_TUESDAY:%a, %-d %b %Y}, 14:00–14:50")
    expect(row).to_contain_text("50 min")
    expect(row).to_contain_text("Invites sent")
    screenshot("sessions")

    # The client's email, as a phone shows it.
    (message,) = smtp.to("jane@example.com")
    phone = page.context.browser.new_page(viewport={"width": 360, "height": 740})
    phone.set_content(message.get_body(("html",)).get_content())
    join = phone.get_by_role("link", name="Join session")
    expect(join).to_be_visible()
    assert "/r/" in join.get_attribute("href")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    phone.screenshot(path=str(tmp_path / "client-email-360.png"), full_page=True)
    phone.close()


def test_a_conflict_is_shown_before_booking(page, therapist, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    log_in(page)
    page.goto(f"/sessions/book?client={jane.id}")
    page.get_by_label("Date").fill(PLAIN_TUESDAY.isoformat())
    page.get_by_label("Start time").fill("14:30")
    expect(page.locator("#booking-preview")).to_contain_text("Overlaps Jane D., 14:00–14:50.")
    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_label("Start time")).to_be_focused()
    expect(page.locator("#start_time-error")).to_have_text("Overlaps Jane D., 14:00–14:50.")
    screenshot("conflict")


def test_find_client_among_many(page, therapist):
    for number in range(250):
        clients.add(therapist, name=f"Person {number:03d}", email=f"person{number}@example.com")
    clients.add(therapist, name="Zelda Fitzgerald", email="zelda@example.com", timezone="America/New_York")
    log_in(page)
    page.goto("/sessions/book")
    expect(page.get_by_label("Client", exact=True).locator("option[disabled]")).to_have_text(
        "… 51 more: type in Find client"
    )
    page.get_by_label("Find client").fill("zeld")
    expect(page.get_by_label("Client", exact=True).locator("option")).to_have_text(
        ["Choose a client…", "Zelda Fitzgerald"]
    )
    page.get_by_label("Client", exact=True).select_option(label="Zelda Fitzgerald")
    page.get_by_label("Date").fill(PLAIN_TUESDAY.isoformat())
    page.get_by_label("Start time").fill("14:00")
    expect(page.locator("#booking-preview")).to_contain_text("08:00–08:50 for Zelda, Eastern Time (New York)")
