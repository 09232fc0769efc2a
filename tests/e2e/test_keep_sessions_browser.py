"""A therapist with a booked client replaces the link, tries to archive, and picks the feed for their calendar."""

from datetime import time, timedelta

import pytest
from playwright.sync_api import expect

import booking
import clients
from dates import PLAIN_TUESDAY
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_replace_link_and_archive_name_the_booked_sessions(page, therapist, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    for day in (PLAIN_TUESDAY, PLAIN_TUESDAY + timedelta(days=7)):
        booking.book(therapist, jane, booking.slot(therapist, day, time(14, 0), 50))
    log_in(page)
    page.goto(f"/clients/{jane.id}")
    pane = page.locator("#client-pane")

    pane.get_by_text("Archive…").click()
    expect(pane.get_by_text("Jane Doe has 2 upcoming sessions.")).to_be_visible()
    expect(pane.get_by_role("button", name="Cancel these sessions and archive")).to_be_visible()
    screenshot("archive-confirmation")
    pane.get_by_role("link", name="Keep the client").click()
    expect(pane.get_by_role("button", name="Cancel these sessions and archive")).to_be_hidden()

    pane.get_by_text("Replace link…").click()
    expect(pane.get_by_text("2 upcoming sessions will get the new link")).to_be_visible()
    screenshot("replace-link-confirmation")
    pane.get_by_role("button", name="Replace link").click()
    expect(page.get_by_role("status").filter(has_text="2 upcoming sessions updated with the new link.")).to_be_visible()
    screenshot("replace-link-done")

    pane.get_by_text("Archive…").click()
    pane.get_by_label("Message to the client (optional)").fill("Take care.")
    pane.get_by_role("button", name="Cancel these sessions and archive").click()
    expect(page.get_by_role("status").filter(has_text="2 upcoming sessions cancelled.")).to_be_visible()
    expect(pane.get_by_role("button", name="Restore")).to_be_visible()


def test_calendar_choice_in_account_settings(page, therapist, screenshot):
    log_in(page)
    page.goto("/account/calendar")
    page.get_by_label("Subscription feed only (your copies are not emailed)").check()
    page.get_by_role("button", name="Save calendar choice").click()
    expect(page.get_by_role("status").filter(has_text="no longer emailed")).to_be_visible()
    screenshot("calendar-choice")
    page.reload()
    expect(page.get_by_label("Subscription feed only (your copies are not emailed)")).to_be_checked()
