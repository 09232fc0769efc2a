"""Reschedule and cancel from the session page; both calendars hear of each change."""

from datetime import time, timedelta

import pytest
from playwright.sync_api import expect

import booking
import clients
from dates import PLAIN_TUESDAY
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_reschedule_then_cancel_from_the_session_page(page, therapist, smtp, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name=f"{PLAIN_TUESDAY:%a, %-d %b %Y}, 14:00–14:50").click()
    expect(page.get_by_role("heading", name="Session with Jane Doe")).to_be_visible()

    page.get_by_role("link", name="Reschedule").click()
    expect(page.get_by_label("Start time")).to_have_value("14:00")
    page.wait_for_load_state()  # the live preview is htmx's: typing before scripts run asks for none
    new_day = PLAIN_TUESDAY + timedelta(days=2)
    page.get_by_label("Date").fill(new_day.isoformat())
    page.get_by_label("Start time").fill("16:00")
    expect(page.locator("#booking-preview")).to_contain_text("16:00–16:50 your time")
    page.get_by_role("button", name="Save new time").click()
    expect(page.get_by_role("heading", name="Session moved.")).to_be_visible()
    expect(page.get_by_text("Updated invites sent to you and Jane Doe.")).to_be_visible()
    assert len(smtp.to("jane@example.com")) == 1 and len(smtp.to("dana@example.com")) == 1

    page.get_by_role("link", name="Open session").click()
    page.get_by_text("Cancel session…").click()
    page.get_by_label("Message to the client (optional)").fill("I am unwell; I will write to you.")
    page.get_by_role("button", name="Yes, cancel session").click()
    expect(page.get_by_text("Session cancelled.")).to_be_visible()
    expect(page.get_by_role("link", name="Reschedule")).to_have_count(0)
    screenshot("cancelled-session")
    assert len(smtp.to("jane@example.com")) == 2

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    expect(page.get_by_text("No upcoming sessions.")).to_be_visible()  # Upcoming holds scheduled ones only
    page.get_by_role("navigation", name="Sessions views").get_by_role("link", name="Cancelled").click()
    row = page.get_by_role("row").filter(has_text="Jane Doe")
    expect(row).to_contain_text(f"{new_day:%a, %-d %b %Y}, 16:00–16:50")
    expect(row).to_contain_text("Cancelled")
    screenshot("sessions-with-cancelled")


def test_calendar_tab_offers_the_feed_with_copy_buttons(page, therapist, screenshot):
    log_in(page)
    page.goto("/account/calendar")
    page.get_by_role("button", name="Copy link").first.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("webcal://127.0.0.1:") and copied.endswith(".ics")
    screenshot("calendar-tab")
    feed = page.context.request.get(page.get_by_label("Subscription link (https)").input_value())
    assert feed.status == 200 and "BEGIN:VCALENDAR" in feed.text()
