"""The therapist's day in the browser: Today and its Join button, the week view, attendance, and a
reminder's Confirm link showing on Today."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

import booking
import clients
import formats
import reminders
import schedule
from conftest import add_session, at_midday
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, utcnow
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def within_today(therapist, *moments):
    """Put the therapist where it is about noon now, so these moments fall on their local today."""
    at_midday(therapist)
    start = schedule.local_midnight_utc(schedule.local_today(therapist), therapist)
    assert all(start <= m < start + timedelta(hours=23) for m in moments)


def test_today_with_two_sessions_and_join_goes_to_the_room(page, therapist, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    ben = clients.add(therapist, name="Ben Ode", email="ben@example.com")
    now = utcnow().replace(second=0, microsecond=0)
    earlier = add_session(therapist, ben, now - timedelta(hours=2), minutes=45)
    soon = add_session(therapist, jane, now + timedelta(minutes=5))
    within_today(therapist, earlier.starts_at, soon.ends_at)
    log_in(page)
    expect(page.get_by_role("heading", name=re.compile("^Today"))).to_be_visible()  # the home page
    expect(page.get_by_role("listitem").filter(has_text="Ben Ode")).to_contain_text("45 min")
    expect(page.get_by_role("status").filter(has_text="Next session in")).to_contain_text("Jane Doe")
    screenshot("today")
    page.get_by_role("link", name="Start session with Jane Doe").click()
    expect(page).to_have_url(re.compile(rf"/room/client/{jane.id}\?join=1$"))
    expect(page.locator("#call-state")).to_have_text("Waiting for Jane to join…")  # joined: no second click


def test_marking_attendance_on_today(page, therapist, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    now = utcnow().replace(second=0, microsecond=0)
    over = add_session(therapist, jane, now - timedelta(minutes=70))
    within_today(therapist, over.starts_at)
    log_in(page)
    form = page.get_by_role("form", name=re.compile("Attendance for Jane Doe"))
    form.get_by_role("button", name="No-show").click()
    expect(
        page.get_by_role("form", name=re.compile("Attendance for Jane Doe")).get_by_role("button", name="No-show")
    ).to_have_attribute("aria-pressed", "true")
    screenshot("today-attendance")
    page.goto(f"/sessions/{over.id}")
    expect(page.get_by_role("definition").filter(has_text="No-show")).to_be_visible()
    page.get_by_role("button", name="Attended").click()
    expect(page.get_by_text("Marked: Attended.")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Appointment, over.id).attendance == "attended"


def test_today_over_the_limit_shows_all_and_focuses_the_list(page, therapist, screenshot):
    """A day over schedule.DAY_LIMIT: 20 sessions around now, then Show all swaps in every one and focuses the list;
    marking attendance keeps them all."""
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    now = utcnow().replace(second=0, microsecond=0)
    day = [add_session(therapist, jane, now + (n - 6) * timedelta(minutes=15), minutes=9) for n in range(30)]
    within_today(therapist, day[0].starts_at, day[-1].ends_at)
    log_in(page)
    expect(page.locator(".today-item")).to_have_count(schedule.DAY_LIMIT)
    screenshot("today-over-the-limit")
    page.get_by_role("link", name="Show all 30 sessions today").click()
    expect(page.locator(".today-item")).to_have_count(30)
    expect(page.get_by_role("list", name="All 30 sessions today")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/sessions/today\?all=1$"))
    first = page.get_by_role("form", name=re.compile("Attendance for Jane Doe")).first
    first.get_by_role("button", name="Attended").click()
    expect(page.get_by_role("button", name="Attended", pressed=True)).to_have_count(1)
    expect(page.locator(".today-item")).to_have_count(30)

    # The week draws the day's first 20 and "+10 more", a link to the week with every session.
    today = schedule.local_today(therapist)
    page.get_by_role("link", name="Week", exact=True).first.click()
    expect(page.locator(f"#week .c{(today - schedule.week_start(today, 'en_GB')).days + 1} a.block")).to_have_count(21)
    screenshot("week-over-the-limit")
    page.get_by_role("link", name=f"+10 more sessions on {formats.day(today, locale='en_GB')}").click()
    expect(page).to_have_url(re.compile(rf"/sessions/week\?date={today}&all=1#day-{today}$"))
    expect(page.get_by_role("link", name=re.compile("Jane Doe"))).to_have_count(30)


def test_week_view_empty_slot_prefills_booking_and_weeks_navigate(page, therapist, screenshot):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    booked = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, booking.time(9, 0), 50))
    log_in(page)
    page.goto(f"/sessions/week?date={PLAIN_TUESDAY}")
    monday = schedule.week_start(PLAIN_TUESDAY, "en_GB")
    expect(page.get_by_role("heading", name=f"Week of {formats.day(monday, '%a %-d %b %Y', 'en_GB')}")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("09:00–09:50 Jane Doe"))).to_be_visible()
    screenshot("week")

    page.get_by_role("link", name="Next week").click()
    following = monday + timedelta(days=7)
    expect(
        page.get_by_role("heading", name=f"Week of {formats.day(following, '%a %-d %b %Y', 'en_GB')}")
    ).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/sessions/week\?date={following}$"))
    expect(page.get_by_role("link", name=re.compile("Jane Doe"))).to_have_count(0)
    expect(page).to_have_title(f"Week of {formats.day(following, '%-d %B %Y', 'en_GB')} · Sessions · Hearth")
    page.get_by_role("link", name="Previous week").click()
    expect(page.get_by_role("heading", name=f"Week of {formats.day(monday, '%a %-d %b %Y', 'en_GB')}")).to_be_visible()
    page.go_back()
    expect(
        page.get_by_role("heading", name=f"Week of {formats.day(following, '%a %-d %b %Y', 'en_GB')}")
    ).to_be_visible()
    page.wait_for_load_state("networkidle")  # htmx has finished restoring that page before the next step back
    page.go_back()
    expect(page.get_by_role("heading", name=f"Week of {formats.day(monday, '%a %-d %b %Y', 'en_GB')}")).to_be_visible()

    slot = page.get_by_role("link", name=f"Book {PLAIN_TUESDAY:%a %-d %b}, 10:30")
    slot.focus()  # keyboard: a link like any other
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Book With Calendar")).to_be_visible()
    expect(page.get_by_label("Date")).to_have_value(PLAIN_TUESDAY.isoformat())
    expect(page.get_by_label("Start time")).to_have_value("10:30")
    assert booked.id


def test_week_in_a_sunday_first_locale_starts_on_sunday(page, therapist, screenshot):
    """en_US: the grid, its links and the phone's list of days all start on Sunday, with a 12-hour clock."""
    therapist.locale = "en_US"
    db.session.commit()
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    sunday = schedule.week_start(PLAIN_TUESDAY, "en_US")
    booking.book(therapist, jane, booking.slot(therapist, sunday, booking.time(15, 0), 50))
    log_in(page)
    page.goto(f"/sessions/week?date={PLAIN_TUESDAY}")
    expect(page.get_by_role("heading", name=f"Week of {formats.day(sunday, '%a %-d %b %Y', 'en_US')}")).to_be_visible()
    expect(page.get_by_role("heading", level=3).first).to_have_text(
        formats.day(sunday, "%a %-d %b", "en_US"), use_inner_text=True
    )
    expect(page.get_by_role("link", name=re.compile(r"3:00\sPM–3:50\sPM Jane Doe"))).to_be_visible()
    screenshot("week-sunday-first")
    page.get_by_role("link", name="Next week").click()
    following = sunday + timedelta(days=7)
    expect(page).to_have_url(re.compile(rf"/sessions/week\?date={following}$"))
    expect(page.get_by_role("heading", level=3).first).to_have_text(
        formats.day(following, "%a %-d %b", "en_US"), use_inner_text=True
    )
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("heading", level=3).first).to_have_text(
        formats.day(following, "%A %-d %B", "en_US"), use_inner_text=True
    )
    screenshot("week-sunday-first-phone")


def test_week_view_on_a_phone_is_a_list_of_days(new_page, therapist, tmp_path):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, booking.time(9, 0), 50))
    phone = new_page()
    phone.set_viewport_size({"width": 360, "height": 740})
    log_in(phone)
    phone.goto(f"/sessions/week?date={PLAIN_TUESDAY}")
    expect(phone.get_by_role("link", name=f"Book {PLAIN_TUESDAY:%a %-d %b}, 10:30")).to_be_hidden()  # no slots
    expect(phone.get_by_role("heading", name=f"{PLAIN_TUESDAY:%A %-d %B}")).to_be_visible()
    expect(phone.get_by_role("link", name=re.compile("09:00–09:50 Jane Doe"))).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.screenshot(path=str(tmp_path / "week-phone.png"), full_page=True)


def test_confirm_link_from_a_reminder_shows_confirmed_on_today(new_page, therapist, smtp, live_server):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    now = utcnow().replace(second=0, microsecond=0)
    session = add_session(therapist, jane, now + timedelta(minutes=40), time_set_at=now - timedelta(days=2))
    within_today(therapist, session.starts_at)
    reminders.send_due()
    (message,) = smtp.to("jane@example.com")
    link = re.search(r"(http://\S+/confirm/[\w-]+)", message.get_body(("plain",)).get_content()).group(1)
    assert link.startswith(live_server)

    client_page = new_page()
    client_page.goto(link)
    expect(client_page.get_by_role("heading", name="Your session with Dana Whitfield")).to_be_visible()
    client_page.get_by_role("button", name="Confirm I’ll be there").click()
    expect(client_page.get_by_role("status")).to_contain_text("can see that you will be there")

    therapist_page = new_page()
    log_in(therapist_page)
    item = therapist_page.get_by_role("listitem").filter(has_text="Jane Doe")
    expect(item).to_contain_text("Confirmed by client")
