"""Weekly sessions as a therapist clicks through them: book 6 from the form, cancel the 3rd, move the 5th and
the rest; the Sessions list and the emails at a real SMTP server follow."""

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

import booking
import clients
import invites
import series
from dates import PLAIN_TUESDAY
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_book_a_weekly_series_cancel_one_and_move_the_rest(page, therapist, smtp, screenshot):
    jordan = clients.add(therapist, name="Jordan Ellis", email="jordan@example.com", timezone="America/New_York")
    sam = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    # Sam already has the 2nd Tuesday at 09:30: the preview must offer to skip it.
    booking.book(therapist, sam, booking.slot(therapist, PLAIN_TUESDAY + timedelta(weeks=1), time(9, 30), 50))
    log_in(page)
    page.goto(f"/sessions/book?client={jordan.id}")
    page.get_by_label("Date").fill(PLAIN_TUESDAY.isoformat())
    page.get_by_label("Start time").fill("09:00")
    page.get_by_label("Repeats").select_option(label="Weekly")
    page.get_by_label("Number of sessions").fill("7")
    preview = page.locator("#booking-preview")
    expect(preview).to_contain_text("Weekly on Tuesdays at 09:00, 7 sessions")
    expect(preview.get_by_role("row")).to_have_count(8)
    expect(preview).to_contain_text("Skip them below")
    skip = preview.get_by_label("Skip this session")
    expect(skip).to_have_count(1)
    skip.check()
    expect(preview).to_contain_text("Weekly on Tuesdays at 09:00, 6 sessions")
    expect(preview).not_to_contain_text("Skip them below")
    shot = screenshot("series-preview")
    shutil.copy(shot, Path("/tmp") / "wt16-series-preview.png")

    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_role("heading", name="Series booked.")).to_be_focused()
    expect(page.get_by_text("Weekly on Tuesdays at 09:00, 6 sessions")).to_be_visible()
    assert len(smtp.to("jordan@example.com")) == 1  # one invite for the whole series

    page.get_by_role("link", name="All sessions").click()
    rows = page.get_by_role("row").filter(has_text="Jordan Ellis")
    expect(rows).to_have_count(6)
    expect(rows.nth(2)).to_contain_text("3 of 6, weekly")

    # Cancel the 3rd session only.
    rows.nth(2).get_by_role("link").first.click()
    expect(page.get_by_text("3 of 6, weekly")).to_be_visible()
    page.get_by_text("Cancel session…").click()
    page.get_by_label("This session", exact=True).check()
    page.get_by_role("button", name="Yes, cancel session").click()
    expect(page.get_by_text("Session cancelled.")).to_be_visible()
    assert smtp.to("jordan@example.com")[-1]["Subject"].startswith("Cancelled: ")

    # Move the 5th and the rest to Wednesdays at 11:00.
    page.goto("/sessions/")
    rows = page.get_by_role("row").filter(has_text="Jordan Ellis")
    expect(rows).to_have_count(5)
    rows.nth(3).get_by_role("link", name="Reschedule").click()
    page.get_by_label("This and following sessions").check()
    page.get_by_label("Date").fill((PLAIN_TUESDAY + timedelta(weeks=4, days=1)).isoformat())
    page.get_by_label("Start time").fill("11:00")
    page.get_by_role("button", name="Save new time").click()
    expect(page.get_by_role("heading", name="Session moved.")).to_be_focused()
    screenshot("series-moved")
    page.goto("/sessions/")
    rows = page.get_by_role("row").filter(has_text="Jordan Ellis")
    expect(rows).to_have_count(5)
    expect(rows.nth(3)).to_contain_text("Wed")
    expect(rows.nth(3)).to_contain_text("11:00")
    expect(rows.nth(3)).to_contain_text("1 of 2, weekly")
    subjects = [m["Subject"] for m in smtp.to("jordan@example.com")]
    assert len(subjects) == 4 and "Weekly on Wednesdays at 11:00, 2 sessions" in subjects[-1]


def test_move_the_rest_skipping_the_one_that_would_overlap(page, therapist, smtp, screenshot):
    """This and following, to Wednesdays at 11:00 from the 3rd: Sam has the 5th's new time, so the preview offers to
    skip it; ticking Skip lets the rest move and cancels that one."""
    jordan = clients.add(therapist, name="Jordan Ellis", email="jordan@example.com", timezone="America/New_York")
    sam = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    booked, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9), 50, 1, count=6))
    invites.send_series(booked)
    third = booked.appointments[2]
    booking.book(therapist, sam, booking.slot(therapist, PLAIN_TUESDAY + timedelta(weeks=4, days=1), time(11, 30), 50))
    log_in(page)
    page.goto(f"/sessions/{third.id}/reschedule")
    page.get_by_label("Date").fill((PLAIN_TUESDAY + timedelta(weeks=2, days=1)).isoformat())
    page.get_by_label("Start time").fill("11:00")
    preview = page.locator("#booking-preview")
    expect(preview).to_contain_text("Wed")
    expect(preview.get_by_role("row")).to_have_count(0)  # this session only: one time
    page.get_by_label("This and following sessions").check()  # the preview follows the choice
    expect(preview).to_contain_text("Weekly on Wednesdays at 11:00, 4 sessions")
    expect(preview.get_by_role("row")).to_have_count(5)
    expect(preview).to_contain_text("Skip those sessions below")
    skip = preview.get_by_label("Skip this session")
    expect(skip).to_have_count(1)
    skip.check()
    expect(preview).to_contain_text("Weekly on Wednesdays at 11:00, 3 sessions")
    expect(preview).not_to_contain_text("Skip those sessions below")
    expect(preview.get_by_label("Skip this session")).to_be_checked()
    screenshot("series-following-preview")

    page.get_by_role("button", name="Save new time").click()
    expect(page.get_by_role("heading", name="Session moved.")).to_be_focused()
    expect(page.get_by_text("Skipped and cancelled:")).to_be_visible()
    page.goto("/sessions/")
    rows = page.get_by_role("row").filter(has_text="Jordan Ellis")
    expect(rows).to_have_count(5)
    expect(rows.nth(2)).to_contain_text("1 of 4, weekly")
    expect(rows.nth(4)).to_contain_text("Wed")
    subjects = [m["Subject"] for m in smtp.to("jordan@example.com")]
    assert len(subjects) == 3 and "Weekly on Wednesdays at 11:00, 3 sessions" in subjects[-1]
