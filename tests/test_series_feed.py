"""The calendar feed carries a series as its invite does: one RRULE event in the therapist's zone (TZID and
VTIMEZONE), EXDATEs for skipped and cancelled sessions, an instance (RECURRENCE-ID) for each moved one, no
people; expanded, it gives exactly the scheduled sessions, and its ETag holds between fetches."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import select
from test_queries import counting
from test_series import ACROSS_SPRING, twelve_weeks

import accounts
import booking
import invites
import series
from dates import PLAIN_TUESDAY
from extensions import db
from models import Series, SessionStatus, utcnow

PRAGUE = ZoneInfo("Europe/Prague")
ANY_TIME = (datetime(2000, 1, 1), datetime(2100, 1, 1))


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


@pytest.fixture
def feed(app, therapist):
    """Fetch the therapist's feed as a subscriber does (no login): the parsed calendar, checked by both parsers."""
    visitor = app.test_client()
    path = f"/feed/{accounts.feed_token(therapist)}.ics"

    def fetch():
        response = visitor.get(path)
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        IcsCalendarStream.from_ics(response.get_data(as_text=True))  # the strict parser accepts it
        return icalendar.Calendar.from_ical(response.data), response

    fetch.visitor, fetch.path = visitor, path
    return fetch


def expanded(cal, uid: str, status: str = "CONFIRMED") -> list[datetime]:
    """The series' sessions a subscriber's calendar shows with this STATUS: UTC starts, in order."""
    return sorted(
        utc(e.decoded("DTSTART"))
        for e in recurring_ical_events.of(cal).between(*ANY_TIME)
        if str(e["UID"]) == uid and str(e.get("STATUS")) == status
    )


def scheduled(booked: Series) -> list[datetime]:
    db.session.expire_all()
    return sorted(a.starts_at for a in booked.appointments if a.status == SessionStatus.SCHEDULED)


def series_events(cal, uid: str) -> list:
    return [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]


class Later(datetime):
    """The clock, some months on."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(days=200)


def later_utcnow():
    return utcnow() + timedelta(days=200)


def test_the_feed_carries_a_series_as_one_rrule_event_through_each_change(
    logged_in, therapist, jordan, smtp, feed, monkeypatch
):
    booked, _ = series.book(twelve_weeks(therapist, jordan))
    single = booking.book(therapist, jordan, booking.slot(therapist, ACROSS_SPRING + timedelta(days=1), time(9), 50))
    rows = list(booked.appointments)

    cal, first = feed()
    (master,) = series_events(cal, booked.uid)
    assert "RRULE" in master and "RECURRENCE-ID" not in master
    assert master.decoded("DTSTART") == datetime.combine(ACROSS_SPRING, time(10), PRAGUE)
    assert master["DTSTART"].params["TZID"] == "Europe/Prague"
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Prague"]
    assert "ORGANIZER" not in master and "ATTENDEE" not in master and str(master["CLASS"]) == "PRIVATE"
    # The 12 sessions keep 10:00 in Prague across its clock change: exactly the rows.
    assert expanded(cal, booked.uid) == scheduled(booked) and len(scheduled(booked)) == 12
    # A single session stays as it was: its own UID, in UTC.
    (alone,) = series_events(cal, single.uid)
    assert "RRULE" not in alone and alone.decoded("DTSTART") == single.starts_at.replace(tzinfo=timezone.utc)
    assert feed.visitor.get(feed.path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304

    # 1. This session moves: an instance with the series' UID and the session's RECURRENCE-ID.
    moved_day = ACROSS_SPRING + timedelta(weeks=1, days=2)
    form = {"date": moved_day.isoformat(), "start_time": "16:00", "length": "50", "version": "0", "scope": "this"}
    response = logged_in.post(f"/sessions/{rows[1].id}/reschedule", form)
    assert response.status_code == 200 and "moved" in response.get_data(as_text=True), response.get_data(as_text=True)
    cal, response = feed()
    assert response.headers["ETag"] != first.headers["ETag"]
    master, moved = series_events(cal, booked.uid)
    assert utc(moved.decoded("RECURRENCE-ID")) == rows[1].recurrence_id
    assert moved.decoded("DTSTART") == datetime.combine(moved_day, time(16), PRAGUE)
    assert "ORGANIZER" not in moved and "ATTENDEE" not in moved
    assert expanded(cal, booked.uid) == scheduled(booked)
    assert booking.local_to_utc(moved_day, time(16), PRAGUE)[0] in expanded(cal, booked.uid)

    # 2. This session is cancelled: an EXDATE, and no longer shown.
    assert logged_in.post(f"/sessions/{rows[2].id}/cancel", {"version": "0", "scope": "this"}).status_code == 303
    cal, _ = feed()
    assert rows[2].recurrence_id not in expanded(cal, booked.uid)
    assert expanded(cal, booked.uid) == scheduled(booked) and len(scheduled(booked)) == 11

    # 3. This and following, from the 6th: the series ends before it.
    assert logged_in.post(f"/sessions/{rows[5].id}/cancel", {"version": "0", "scope": "following"}).status_code == 303
    cal, again = feed()
    assert expanded(cal, booked.uid) == scheduled(booked) and len(scheduled(booked)) == 4
    assert len(series_events(cal, booked.uid)) == 2  # the series and its moved 2nd session

    # Nothing in it depends on when it is fetched: months later, the same ETag, and a 304 for a subscriber.
    monkeypatch.setattr(invites, "datetime", Later)
    monkeypatch.setattr(invites, "utcnow", later_utcnow)
    assert feed()[1].headers["ETag"] == again.headers["ETag"]
    assert feed.visitor.get(feed.path, headers={"If-None-Match": again.headers["ETag"]}).status_code == 304


def test_a_series_that_began_before_the_feeds_window_still_expands_from_its_start(therapist, jordan, feed):
    """The feed holds the last 90 days of sessions; a series written from those alone would start late or lose
    its earlier sessions to EXDATEs."""
    start = date.today() + timedelta(days=7)
    booked, _ = series.book(series.plan(therapist, jordan, start, time(9), 50, 1, count=26))
    # Moved back 20 weeks, as if booked long ago: the first 7 sessions end before the feed's 90 days.
    booked.starts_local -= timedelta(weeks=20)
    for row, moment in zip(booked.appointments, series.starts(booked), strict=True):
        row.starts_at = row.recurrence_id = moment
        row.ends_at = moment + timedelta(minutes=50)
    db.session.commit()
    old = [a for a in booked.appointments if a.ends_at <= utcnow() - timedelta(days=booking.FEED_DAYS_BACK)]
    assert len(old) == 7 and old[0].id not in {a.id for a in booking.feed_sessions(therapist)}

    cal, _ = feed()
    (master,) = series_events(cal, booked.uid)
    assert master.decoded("DTSTART").replace(tzinfo=None) == booked.starts_local
    assert "EXDATE" not in master
    assert expanded(cal, booked.uid) == scheduled(booked) and len(scheduled(booked)) == 26


@pytest.mark.parametrize("how", ["whole series", "following from the first"])
def test_a_series_cancelled_whole_shows_cancelled_for_7_days(logged_in, therapist, jordan, smtp, feed, how):
    booked, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9), 50, 1, count=6))
    rows = list(booked.appointments)
    booking.reschedule(rows[3], booking.slot(therapist, PLAIN_TUESDAY + timedelta(weeks=3, days=1), time(11), 50))
    planned = sorted(a.starts_at for a in rows)
    scope = "series" if how == "whole series" else "following"
    assert logged_in.post(f"/sessions/{rows[0].id}/cancel", {"version": "0", "scope": scope}).status_code == 303
    assert scheduled(booked) == []

    cal, _ = feed()
    master, moved = series_events(cal, booked.uid)
    assert str(master["STATUS"]) == "CANCELLED" and str(master["SUMMARY"]) == "Cancelled: Session with Jordan E."
    assert str(moved["STATUS"]) == "CANCELLED" and "RECURRENCE-ID" in moved
    # Every session shows, cancelled, where it was (the moved 4th at its new time); none as going ahead.
    assert expanded(cal, booked.uid, "CANCELLED") == planned
    assert expanded(cal, booked.uid) == []

    for row in booked.appointments:
        row.updated_at = utcnow() - timedelta(days=booking.FEED_CANCELLED_DAYS + 1)
    db.session.commit()
    cal, _ = feed()
    assert series_events(cal, booked.uid) == []


def test_the_feed_reads_each_series_once(therapist, jordan, feed):
    """However many sessions a series has in the feed, it is one event, and its sessions are loaded together."""
    booked, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9), 50, 1, count=8))
    cal, _ = feed()
    assert len(series_events(cal, booked.uid)) == 1
    db.session.expire_all()
    sessions = booking.feed_sessions(therapist)
    with counting() as statements:
        assert {len(a.series.appointments) for a in sessions} == {8}
    assert statements == []
    assert db.session.scalar(select(Series.id)) == booked.id
