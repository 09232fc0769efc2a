"""Weekly sessions: a series is planned, booked as one commit, and invited as one RRULE event that keeps its
local time across clock changes; both parsers read it and recurring-ical-events expands it to the rows."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import func, select

import booking
import clients
import invites
import series
from conftest import calendars
from dates import EU_SPRING, PLAIN_TUESDAY, US_SPRING
from extensions import db
from models import Appointment, Series, SessionStatus
from validation import Invalid

PRAGUE, NEW_YORK = ZoneInfo("Europe/Prague"), ZoneInfo("America/New_York")
# A Tuesday four weeks before the US clocks change: 12 weekly sessions cross both zones' spring changes.
ACROSS_SPRING = US_SPRING - timedelta(days=28) + timedelta(days=(1 - (US_SPRING - timedelta(days=28)).weekday()) % 7)


def twelve_weeks(therapist, client, **kwargs):
    kwargs.setdefault("count", 12)
    return series.plan(therapist, client, ACROSS_SPRING, time(10, 0), 50, 1, **kwargs)


def count_rows():
    return db.session.scalar(select(func.count()).select_from(Appointment))


def test_a_series_books_every_session_at_the_same_local_time(therapist, jordan):
    booked, created = series.book(twelve_weeks(therapist, jordan))
    assert created and len(booked.appointments) == 12
    starts = [booking.to_local(a.starts_at, PRAGUE) for a in booked.appointments]
    assert {(s.hour, s.minute, s.weekday()) for s in starts} == {(10, 0, 1)}
    assert [a.recurrence_id for a in booked.appointments] == [a.starts_at for a in booked.appointments]
    assert booked.rule == "FREQ=WEEKLY;COUNT=12"
    assert series.label(booked.appointments[2]) == "3 of 12, weekly"
    assert series.describe(booked).startswith("Weekly on Tuesdays at 10:00, 12 sessions, until ")


def test_every_two_weeks_until_a_date(therapist, jordan):
    plan = series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 2, until=PLAIN_TUESDAY + timedelta(weeks=10))
    assert len(plan.occurrences) == 6 and {
        "FREQ=WEEKLY",
        "INTERVAL=2",
        "UNTIL=20" + plan.occurrences[-1].starts_at.strftime("%y%m%dT%H%M%SZ"),
    } <= set(plan.rule().split(";")) | {"UNTIL=" + plan.rule().split("UNTIL=")[1].split(";")[0]}
    booked, _ = series.book(plan)
    assert series.starts(booked) == [a.starts_at for a in booked.appointments]
    assert series.label(booked.appointments[0]) == "1 of 6, every 2 weeks"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": PLAIN_TUESDAY - timedelta(days=1)}, "ends before it starts"),
        ({"count": 53}, "at most 52"),
        ({"until": PLAIN_TUESDAY + timedelta(days=365 * 3)}, "within the next 2 years"),
        ({"until": PLAIN_TUESDAY + timedelta(weeks=60)}, "at most 52"),
        ({"count": 1}, "at least 2"),
        ({}, "Choose when the series ends"),
    ],
)
def test_bad_series_are_refused_with_a_message(therapist, jordan, kwargs, message):
    with pytest.raises(Invalid, match=message):
        series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 1, **kwargs)


def test_conflicts_are_named_and_can_be_skipped(therapist, jordan):
    other = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    third = PLAIN_TUESDAY + timedelta(weeks=2)
    booking.book(therapist, other, booking.slot(therapist, third, time(9, 30), 50))
    plan = series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 1, count=4)
    assert [o.index for o in plan.conflicts] == [3]
    assert "Sam R." in series.conflict_message(plan)
    before = count_rows()
    with pytest.raises(Invalid, match="overlap"):
        series.book(plan)
    assert count_rows() == before  # nothing half-written
    plan = series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 1, count=4, skip=[third.isoformat()])
    booked, _ = series.book(plan)
    assert len(booked.appointments) == 4 - 1
    assert series.exdates(booked) == [plan.occurrences[2].starts_at]


def test_a_series_whose_every_session_conflicts_is_refused(therapist, jordan):
    other = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    for week in range(2):
        day = PLAIN_TUESDAY + timedelta(weeks=week)
        booking.book(therapist, other, booking.slot(therapist, day, time(9, 0), 50))
    plan = series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 1, count=2)
    with pytest.raises(Invalid, match="Every session of this series overlaps"):
        series.book(plan)
    assert db.session.scalar(select(func.count()).select_from(Series)) == 0


def test_the_client_is_told_where_their_local_time_moves(therapist, jordan):
    moves = twelve_weeks(therapist, jordan).client_time_moves()
    # New York springs forward three weeks before Prague: those three sessions are an hour later there.
    second_change_week = ACROSS_SPRING + timedelta(weeks=5)
    assert moves == [
        f"{(ACROSS_SPRING + timedelta(weeks=4)):%-d}–{second_change_week:%-d %b}: 05:00 for Jordan instead of 04:00"
    ]


def expand(data: bytes, first: datetime, last: datetime):
    cal = icalendar.Calendar.from_ical(data)
    return sorted(recurring_ical_events.of(cal).between(first, last), key=lambda e: e.decoded("DTSTART"))


def test_the_invite_is_one_rrule_event_in_the_therapists_zone(therapist, jordan):
    booked, _ = series.book(twelve_weeks(therapist, jordan))
    data = invites.series_calendar(booked, invites.CLIENT)
    cal = icalendar.Calendar.from_ical(data)
    (event,) = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime.combine(ACROSS_SPRING, time(10), PRAGUE)
    assert b"DTSTART;TZID=Europe/Prague:" in data and b"RRULE:FREQ=WEEKLY;COUNT=12" in data
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Prague"]
    IcsCalendarStream.from_ics(data.decode())  # the strict parser accepts it


@pytest.mark.parametrize("role", [invites.CLIENT, invites.THERAPIST])
def test_sent_series_expands_to_the_rows_across_the_clock_change(therapist, jordan, smtp, role):
    booked, _ = series.book(twelve_weeks(therapist, jordan, skip=[(ACROSS_SPRING + timedelta(weeks=8)).isoformat()]))
    deliveries = invites.send_series(booked)
    assert {d.status for d in deliveries} == {"sent"}
    address = "jordan@example.com" if role == invites.CLIENT else "dana@example.com"
    (message,) = smtp.to(address)
    assert "Weekly on Tuesdays at 10:00, 11 sessions" in message["Subject"]
    assert "A series of sessions has been booked." in message.get_body(("plain",)).get_content()
    data = next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    strict = IcsCalendarStream.from_ics(data.decode()).calendars[0]
    assert strict.method == "REQUEST"
    events = expand(data, datetime(2000, 1, 1), datetime(2100, 1, 1))
    rows = [a for a in booked.appointments if a.status == SessionStatus.SCHEDULED]
    assert len(events) == len(rows) == 11
    for event, row in zip(events, rows, strict=True):
        start = event.decoded("DTSTART")
        assert start.astimezone(timezone.utc) == row.starts_at
        assert start.astimezone(PRAGUE).time() == time(10)
    new_york = [e.decoded("DTSTART").astimezone(NEW_YORK).time() for e in events]
    assert new_york.count(time(5)) == 2 and new_york.count(time(4)) == 9  # the 2 weeks between the two changes
    # Every session's invite log names the send.
    assert all(a.deliveries for a in rows)


def test_a_session_the_clocks_skip_is_booked_when_calendars_show_it(logged_in, therapist, jordan):
    """Sundays at 02:30 from a week before the spring change: that night has no 02:30. RFC 5545 reads it with the
    offset before the jump (03:30), so the row, the preview and every calendar agree on 03:30 instead of refusing."""
    first = EU_SPRING - timedelta(weeks=1)
    form = series_form(jordan.id, date=first.isoformat(), start_time="02:30", count="3", booking_key="gap-key")
    preview = logged_in.get("/sessions/book/preview", query_string=form, htmx=True).get_data(as_text=True)
    assert f"Sun {EU_SPRING.day} Mar: 03:30 instead of 02:30 (the clocks go forward)" in preview
    assert logged_in.post("/sessions/book", form, htmx=True).status_code == 200
    booked = db.session.scalar(select(Series))
    local = [booking.to_local(a.starts_at, PRAGUE).replace(tzinfo=None) for a in booked.appointments]
    assert [t.time() for t in local] == [time(2, 30), time(3, 30), time(2, 30)]
    data = invites.series_calendar(booked, invites.CLIENT)
    events = expand(data, datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert [e.decoded("DTSTART").astimezone(timezone.utc) for e in events] == [a.starts_at for a in booked.appointments]
    assert series.exdates(booked) == []  # the shifted session is the rule's own instance, not an exception
    IcsCalendarStream.from_ics(data.decode())


def test_one_session_of_a_series_goes_out_with_its_recurrence_id(therapist, jordan, smtp):
    booked, _ = series.book(twelve_weeks(therapist, jordan))
    third = booked.appointments[2]
    original = third.starts_at
    booking.reschedule(third, booking.slot(therapist, ACROSS_SPRING + timedelta(weeks=2, days=1), time(11), 50))
    invites.send(third, moved_from=original)
    data = next(
        p for p in smtp.to("jordan@example.com")[0].walk() if p.get_content_type() == "text/calendar"
    ).get_payload(decode=True)
    IcsCalendarStream.from_ics(data.decode())
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["UID"]) == booked.uid and event["SEQUENCE"] == 1
    assert event.decoded("RECURRENCE-ID").astimezone(timezone.utc) == original
    assert event.decoded("DTSTART").astimezone(PRAGUE) == datetime.combine(
        ACROSS_SPRING + timedelta(weeks=2, days=1), time(11), PRAGUE
    )
    # Re-sending the whole series now carries the moved session as an override: expansion shows the new time.
    events = expand(invites.series_calendar(booked, invites.CLIENT), datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert [e.decoded("DTSTART").astimezone(timezone.utc) for e in events] == sorted(
        a.starts_at for a in booked.appointments
    )


def test_a_cancelled_session_of_a_series_is_a_cancel_with_recurrence_id(therapist, jordan):
    booked, _ = series.book(twelve_weeks(therapist, jordan, count=3))
    second = booked.appointments[1]
    booking.cancel(second)
    data = invites.calendar(second, invites.CLIENT, invites.CANCEL)
    IcsCalendarStream.from_ics(data.decode())
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(event["UID"]) == booked.uid and "RECURRENCE-ID" in event and str(event["STATUS"]) == "CANCELLED"
    # The series as re-sent leaves it out (EXDATE).
    events = expand(invites.series_calendar(booked, invites.CLIENT), datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert len(events) == 2


# Through the booking form


def series_form(client_id, **changes):
    return {
        "client": str(client_id),
        "date": ACROSS_SPRING.isoformat(),
        "start_time": "10:00",
        "length": "50",
        "repeats": "weekly",
        "ends": "count",
        "count": "12",
        "booking_key": "series-key-1",
        **changes,
    }


def test_the_preview_lists_every_session_in_both_zones_and_the_moves(logged_in, jordan):
    page = logged_in.get("/sessions/book/preview", query_string=series_form(jordan.id), htmx=True)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Weekly on Tuesdays at 10:00, 12 sessions, until" in text
    assert text.count("<tr") == 13  # a header and 12 sessions
    assert "05:00 for Jordan instead of 04:00" in text


def test_the_preview_offers_to_skip_an_overlap_and_booking_skips_it(logged_in, therapist, jordan, smtp):
    other = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    third = ACROSS_SPRING + timedelta(weeks=2)
    booking.book(therapist, other, booking.slot(therapist, third, time(10, 30), 50))
    text = logged_in.get("/sessions/book/preview", query_string=series_form(jordan.id), htmx=True).get_data(
        as_text=True
    )
    assert "Skip this session" in text and f'value="{third.isoformat()}"' in text and "Sam R." in text
    refused = logged_in.post("/sessions/book", series_form(jordan.id), htmx=True)
    assert refused.status_code == 422 and "Skip them below" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Series)) == 0
    done = logged_in.post("/sessions/book", series_form(jordan.id, skip=third.isoformat()), htmx=True)
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "Series booked." in text
    assert "Weekly on Tuesdays at 10:00, 11 sessions" in text
    (booked,) = db.session.scalars(select(Series)).all()
    assert len(booked.appointments) == 11 and series.exdates(booked)[0].date() == third
    assert len(smtp.to("jordan@example.com")) == 1  # one invite for the whole series
    again = logged_in.post("/sessions/book", series_form(jordan.id, skip=third.isoformat()), htmx=True)
    assert "This series was already booked." in again.get_data(as_text=True)
    assert len(smtp.to("jordan@example.com")) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": "53"}, "at most 52"),
        ({"ends": "until", "until": (ACROSS_SPRING - timedelta(days=7)).isoformat()}, "ends before it starts"),
        ({"ends": "until", "until": (date.today() + timedelta(days=365 * 3)).isoformat()}, "within the next 2 years"),
        ({"count": ""}, "Enter the number of sessions"),
        ({"count": "x" * 50}, "Enter the number of sessions"),
        ({"ends": "until", "until": ""}, "Enter the date of the last session"),
        ({"repeats": "daily"}, "Not a valid choice"),
    ],
)
def test_bad_series_input_gets_a_message_and_books_nothing(logged_in, jordan, changes, message):
    response = logged_in.post("/sessions/book", series_form(jordan.id, **changes), htmx=True)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert count_rows() == 0


# Changing one session, the rest, or the whole series


def test_session_page_and_list_name_the_series(logged_in, six):
    third = six.appointments[2]
    page = logged_in.get(f"/sessions/{third.id}").get_data(as_text=True)
    assert "3 of 6, weekly" in page and "This and following sessions" in page and "The whole series" in page
    assert "1 of 6, weekly" in logged_in.get("/sessions/").get_data(as_text=True)
    assert "1 of 6, weekly" in logged_in.get(f"/clients/{six.client_id}").get_data(as_text=True)
    reschedule = logged_in.get(f"/sessions/{third.id}/reschedule").get_data(as_text=True)
    assert "This and following sessions" in reschedule


def test_cancel_this_session_sends_a_cancel_with_its_recurrence_id(logged_in, six, smtp):
    third = six.appointments[2]
    response = logged_in.post(f"/sessions/{third.id}/cancel", {"version": "0", "scope": "this"}, htmx=True)
    assert response.status_code == 200 and "Session cancelled." in response.get_data(as_text=True)
    last = calendars(smtp, "jordan@example.com")[-1]
    assert last["METHOD"] == "CANCEL"
    (event,) = last.walk("VEVENT")
    assert str(event["UID"]) == six.uid
    assert event.decoded("RECURRENCE-ID").astimezone(timezone.utc) == third.recurrence_id
    assert [a.status for a in six.appointments].count(SessionStatus.CANCELLED) == 1


def test_cancel_the_whole_series_is_a_cancel_of_its_uid(logged_in, six, smtp):
    response = logged_in.post(f"/sessions/{six.appointments[1].id}/cancel", {"version": "0", "scope": "series"})
    assert response.status_code == 303
    last = calendars(smtp, "jordan@example.com")[-1]
    (event,) = last.walk("VEVENT")
    assert last["METHOD"] == "CANCEL" and str(event["UID"]) == six.uid and "RECURRENCE-ID" not in event
    # Above each cancelled session's own SEQUENCE (1), so no calendar keeps one of them as newer.
    assert "RRULE" in event and event["SEQUENCE"] == 2
    db.session.expire_all()
    assert {a.status for a in six.appointments} == {SessionStatus.CANCELLED}


def test_cancel_this_and_following_resends_the_series_ending_before_it(logged_in, six, smtp):
    fourth = six.appointments[3]
    response = logged_in.post(f"/sessions/{fourth.id}/cancel", {"version": "0", "scope": "following"})
    assert response.status_code == 303
    last = calendars(smtp, "jordan@example.com")[-1]
    assert last["METHOD"] == "REQUEST"
    events = recurring_ical_events.of(last).between(datetime(2000, 1, 1), datetime(2100, 1, 1))
    db.session.expire_all()
    kept = [a.starts_at for a in six.appointments if a.status == SessionStatus.SCHEDULED]
    assert sorted(e.decoded("DTSTART").astimezone(timezone.utc) for e in events) == kept
    assert len(kept) == 3


def test_reschedule_this_and_following_makes_a_new_series(logged_in, therapist, six, smtp):
    fifth = six.appointments[4]
    new_day = PLAIN_TUESDAY + timedelta(weeks=4, days=1)  # Wednesdays from the 5th on
    form = {"date": new_day.isoformat(), "start_time": "11:00", "length": "50", "version": "0", "scope": "following"}
    response = logged_in.post(f"/sessions/{fifth.id}/reschedule", form, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    (original, successor) = db.session.scalars(select(Series).order_by(Series.id)).all()
    assert successor.uid != original.uid and len(successor.appointments) == 2
    sent = calendars(smtp, "jordan@example.com")
    first_half, second_half = sent[-2], sent[-1]
    everything = []
    for cal, uid in ((first_half, original.uid), (second_half, successor.uid)):
        assert str(cal.walk("VEVENT")[0]["UID"]) == uid
        everything += recurring_ical_events.of(cal).between(datetime(2000, 1, 1), datetime(2100, 1, 1))
    starts = sorted(e.decoded("DTSTART").astimezone(PRAGUE).replace(tzinfo=None) for e in everything)
    assert starts == [datetime.combine(PLAIN_TUESDAY + timedelta(weeks=k), time(9)) for k in range(4)] + [
        datetime.combine(new_day + timedelta(weeks=k), time(11)) for k in range(2)
    ]
    rows = sorted(a.starts_at for a in original.appointments + successor.appointments)
    assert rows == sorted(datetime.combine(s.date(), s.time(), PRAGUE).astimezone(timezone.utc) for s in starts)


def test_reschedule_this_and_following_from_the_first_session_moves_the_whole_series(logged_in, six, smtp):
    """Nothing stays before the split: the series itself moves and keeps its UID (no empty series, no CANCEL)."""
    first = six.appointments[0]
    new_day = PLAIN_TUESDAY + timedelta(days=1)  # Wednesdays from the start
    form = {"date": new_day.isoformat(), "start_time": "11:00", "length": "50", "version": "0", "scope": "following"}
    response = logged_in.post(f"/sessions/{first.id}/reschedule", form, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    (only,) = db.session.scalars(select(Series)).all()
    assert only.uid == six.uid and only.sequence == 2 and len(only.appointments) == 6  # above the moved rows' 1
    (last,) = calendars(smtp, "jordan@example.com")[-1:]
    (event,) = last.walk("VEVENT")
    assert last["METHOD"] == "REQUEST" and str(event["UID"]) == six.uid and event["SEQUENCE"] == 2
    assert all(c["METHOD"] != "CANCEL" for c in calendars(smtp, "jordan@example.com"))
    events = recurring_ical_events.of(last).between(datetime(2000, 1, 1), datetime(2100, 1, 1))
    starts = sorted(e.decoded("DTSTART").astimezone(PRAGUE).replace(tzinfo=None) for e in events)
    assert starts == [datetime.combine(new_day + timedelta(weeks=k), time(11)) for k in range(6)]
    assert sorted(a.starts_at for a in only.appointments) == [
        datetime.combine(s.date(), s.time(), PRAGUE).astimezone(timezone.utc) for s in starts
    ]


def test_this_and_following_may_move_onto_where_its_own_later_sessions_were(logged_in, six, smtp):
    """A week later from the 3rd on: the 3rd lands where the 4th was, which moves too, so nothing overlaps."""
    third = six.appointments[2]
    later = PLAIN_TUESDAY + timedelta(weeks=3)
    form = {"date": later.isoformat(), "start_time": "09:00", "length": "50", "version": "0", "scope": "following"}
    response = logged_in.post(f"/sessions/{third.id}/reschedule", form, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    starts = sorted(a.starts_at for a in db.session.scalars(select(Appointment)))
    weeks = [0, 1, 3, 4, 5, 6]
    assert starts == [booking.local_to_utc(PLAIN_TUESDAY + timedelta(weeks=k), time(9), PRAGUE)[0] for k in weeks]


def test_reschedule_this_and_following_onto_another_session_is_refused(logged_in, therapist, six, smtp):
    other = clients.add(therapist, name="Sam Rivera", email="sam@example.com")
    sixth_day = PLAIN_TUESDAY + timedelta(weeks=5, days=1)
    booking.book(therapist, other, booking.slot(therapist, sixth_day, time(11), 50))
    fifth = six.appointments[4]
    form = {
        "date": (sixth_day - timedelta(weeks=1)).isoformat(),
        "start_time": "11:00",
        "length": "50",
        "version": "0",
        "scope": "following",
    }
    response = logged_in.post(f"/sessions/{fifth.id}/reschedule", form, htmx=True)
    assert response.status_code == 422 and "Sam R." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Series)) == 1
