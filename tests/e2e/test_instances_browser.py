"""Calls across two instances: the client's browser talks to instance A, the therapist's to instance B.

Both instances are gunicorn with 2 workers on one PostgreSQL database and one Redis (see `instances`
in conftest.py); skipped unless TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL are set.
"""

import time

import pytest
from playwright.sync_api import expect

import clients
from tests.e2e.helpers import log_in
from tests.e2e.test_room_browser import expect_call

pytestmark = pytest.mark.browser


@pytest.fixture
def app(shared_app):
    return shared_app


def start_call(new_page, therapist, instances):
    """Dana joins Jane's room on B, Jane joins it on A; both see live video."""
    a, b = instances.urls
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    dana = new_page(b)
    log_in(dana)
    dana.goto(f"/room/client/{jane.id}")
    dana.get_by_role("button", name="Join").click()
    expect(dana.locator("#call-state")).to_have_text("Waiting for Jane to join…", timeout=15_000)
    client = new_page(a)
    client.goto(f"/r/{jane.room_link.token}")
    client.get_by_role("button", name="Join").click()
    expect_call(dana)
    expect_call(client)
    return dana, client


def test_a_call_whose_client_is_on_a_and_therapist_on_b_connects_with_live_video(new_page, therapist, instances):
    dana, client = start_call(new_page, therapist, instances)
    client.get_by_role("button", name="Mute").click()
    expect(dana.locator("#remote-state")).to_have_text("Jane’s microphone is off.")


def test_a_knock_on_a_shows_on_bs_notice_and_admit_on_b_lets_the_visitor_in_on_a(new_page, therapist, instances):
    a, b = instances.urls
    dana = new_page(b)
    log_in(dana)
    dana.goto("/sessions/")

    alex = new_page(a)
    alex.goto(f"/u/{therapist.personal_slug}")
    alex.get_by_label("Your name").fill("Alex")
    alex.get_by_role("button", name="Ask to join").click()
    expect(alex.locator("#call-state")).to_have_text("Waiting for Dana Whitfield to let you in")

    notice = dana.locator("#lobby-notices")
    expect(notice).to_contain_text("Alex is waiting", timeout=10_000)
    notice.get_by_role("button", name="Admit").click()
    expect(dana.get_by_role("heading", name="Your personal room")).to_be_visible()
    expect_call(alex)
    expect_call(dana)


def test_when_instance_a_dies_mid_call_the_clients_page_resumes_through_b(new_page, therapist, instances, tmp_path):
    a, b = instances.urls
    dana, client = start_call(new_page, therapist, instances)

    with client.expect_event("requestfailed", timeout=10_000):  # a poll finds A gone
        instances.kill(0)

    # The proxy notices A is gone and sends the same addresses to B; the page itself is not reloaded.
    client.context.route(f"{a}/**", lambda route: route.continue_(url=route.request.url.replace(a, b, 1)))
    moved = time.monotonic()
    expect(client.locator("#call-state")).to_have_text("Connected", timeout=15_000)
    client.get_by_role("button", name="Mute").click()  # signalling goes through B now
    expect(dana.locator("#remote-state")).to_have_text("Jane’s microphone is off.", timeout=15_000)
    expect_call(client)
    expect_call(dana)
    assert time.monotonic() - moved < 15
    client.screenshot(path=str(tmp_path / "resumed-client.png"))
