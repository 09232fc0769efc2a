"""Two people meet in a room: WebRTC between two browser contexts, signalling through Hearth."""

import pytest
from playwright.sync_api import expect

import clients
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser

CONNECTED = "() => document.querySelector('[data-room]').dataset.connectionState === 'connected'"
PLAYING = """() => { const v = document.getElementById('remote-video');
  return v.videoWidth > 0 && v.currentTime > 0.5 && !v.paused; }"""


def expect_call(page, timeout=20_000):
    page.wait_for_function(CONNECTED, timeout=timeout)
    expect(page.locator("#call-state")).to_have_text("Connected")
    page.wait_for_function(PLAYING, timeout=20_000)
    first = page.evaluate("document.getElementById('remote-video').currentTime")
    # The remote video keeps playing: its clock moves on past where it was.
    page.wait_for_function(
        "first => document.getElementById('remote-video').currentTime > first + 0.5", arg=first, timeout=10_000
    )


def leave(page):
    page.get_by_role("button", name="Leave", exact=True).click()
    expect(page.get_by_role("dialog", name="Leave the session?")).to_be_visible()
    page.get_by_role("button", name="Leave the session").click()


def test_therapist_and_client_meet_in_the_clients_room(new_page, therapist, tmp_path):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    room_link = clients.room_url(jane)

    dana = new_page()
    log_in(dana)
    dana.goto(f"/clients/{jane.id}")
    dana.get_by_role("link", name="Open room").click()
    dana.get_by_role("button", name="Join").click()
    expect(dana.locator("#call-state")).to_have_text("Waiting for Jane to join…", timeout=15_000)

    client = new_page()
    client.goto(room_link)
    expect(client.get_by_role("heading", name="Your session room with Dana Whitfield")).to_be_visible()
    client.get_by_role("button", name="Join").click()

    expect_call(dana)
    expect_call(client)

    client.get_by_role("button", name="Mute").click()
    expect(client.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")
    expect(dana.locator("#remote-state")).to_have_text("Jane’s microphone is off.")
    dana.screenshot(path=str(tmp_path / "call-therapist.png"))
    client.screenshot(path=str(tmp_path / "call-client.png"))

    # A reload rejoins the same room (after the browser's "Leave site?", accepted).
    client.on("dialog", lambda dialog: dialog.accept())
    client.reload()
    expect_call(client)
    expect_call(dana)

    leave(client)
    expect(client.locator("#call-state")).to_have_text("You left the session.")
    expect(dana.locator("#call-state")).to_have_text("Waiting for Jane to join…", timeout=10_000)


def test_personal_link_lobby_admit_one_keep_another_waiting_decline_a_third(new_page, therapist, tmp_path):
    dana = new_page()
    log_in(dana)
    dana.goto("/sessions/")

    alex = new_page()
    alex_polls = []
    alex.on("response", lambda r: alex_polls.append(r.json()) if "/poll" in r.url else None)
    alex.goto(clients.lobby_url(therapist))
    alex.get_by_label("Your name").fill("Alex")
    alex.get_by_role("button", name="Ask to join").click()
    expect(alex.locator("#call-state")).to_have_text("Waiting for Dana Whitfield to let you in")

    notice = dana.locator("#lobby-notices")
    expect(notice).to_contain_text("Alex is waiting", timeout=10_000)
    dana.screenshot(path=str(tmp_path / "lobby-notice.png"))

    # Before Admit, the waiting visitor hears nothing of the therapist: no peer, no message.
    assert alex_polls and all(answer == {"status": "waiting"} for answer in alex_polls)

    notice.get_by_role("button", name="Admit").click()
    expect(dana.get_by_role("heading", name="Your personal room")).to_be_visible()
    expect_call(alex)
    expect_call(dana)

    sam = new_page()
    sam.goto(clients.lobby_url(therapist))
    sam.get_by_label("Your name").fill("Sam")
    sam.get_by_role("button", name="Ask to join").click()
    expect(notice).to_contain_text("Sam is waiting", timeout=10_000)
    notice.get_by_role("button", name="Admit").click()
    expect(notice).to_contain_text("Alex is still in your room")
    expect(sam.locator("#call-state")).to_have_text("Waiting for Dana Whitfield to let you in")

    notice.get_by_role("button", name="Decline").click()
    expect(sam.locator("#call-state")).to_contain_text("Sorry, Dana Whitfield cannot see you right now", timeout=10_000)
    expect_call(alex)  # the admitted visit goes on


def test_the_call_works_under_gunicorn_with_two_workers(
    gunicorn_server, new_page, therapist
):  # server outlives the pages
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    token = jane.room_link.token
    dana = new_page(gunicorn_server)
    log_in(dana)
    dana.goto(f"/room/client/{jane.id}")
    dana.get_by_role("button", name="Join").click()
    client = new_page(gunicorn_server)
    client.goto(f"/r/{token}")
    client.get_by_role("button", name="Join").click()
    expect_call(dana)
    expect_call(client)
