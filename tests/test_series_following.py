"""Rescheduling "This and following" sessions of a series: the live preview lists every session that moves, at its
new time in both zones, with overlaps (skippable) and the clock warnings; a skipped session is cancelled in the
same commit as the move and is an EXDATE of the series that holds the moved sessions."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from test_series import expand

import booking
import clients
import series
from conftest import calendars, dump
from dates import EU_SPRING, PLAIN_TUESDAY, US_SPRING
from extensions import db
from models import Appointment, Reminder, ReminderStatus, Series, SessionStatus
from validation import Invalid

PRAGUE = ZoneInfo("Europe/Prague")
EVER = (datetime(2000, 1, 1), datetime(2100, 1, 1))


def wednesday(week: int):
    return PLAIN_TUESDAY + timedelta(weeks=week, days=1)


def utc(day, at: time) -> datetime:
    return booking.local_to_utc(day, at, PRAGUE)[0]


@pytest.fixture
def sam(therapist):
    return clients.add(therapist, name="Sam Rivera", email="sam@example.com")


def book_sam(therapist, sam, *weeks):
    """Sam on Wednesdays at 11:30 of these weeks: where sessions moved to Wednesdays at 11:00 would overlap."""
    return [booking.book(therapist, sam, booking.slot(therapist, wednesday(w), time(11, 30), 50)) for w in weeks]


def following(week: int, **changes):
    """The reschedule form: this and following, to Wednesdays at 11:00 from the Wednesday of `week`."""
    return {
        "date": wednesday(week).isoformat(),
        "start_time": "11:00",
        "length": "50",
        "version": "0",
        "scope": "following",
        **changes,
    }


def preview(logged_in, appointment, form) -> str:
    response = logged_in.get(f"/sessions/{appointment.id}/reschedule/preview", query_string=form, htmx=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_preview_lists_the_sessions_that_move_with_overlaps_to_skip(logged_in, therapist, six, sam):
    book_sam(therapist, sam, 4)
    third = six.appointments[2]
    text = preview(logged_in, third, following(2))
    assert text.count("<tr") == 1 + 4  # a header and the 3rd to 6th, at their new times
    assert "Weekly on Wednesdays at 11:00, 4 sessions" in text
    for week in range(2, 6):
        assert f"{wednesday(week):%a, %-d %b %Y}, 11:00" in text
    assert ">Jordan</th>" in text and text.count("05:00–05:50") == 1 + 4  # New York, in June (and the first, above)
    assert "Sam R." in text and "Skip those sessions below" in text
    assert text.count('name="skip"') == 1 and f'value="{wednesday(4).isoformat()}"' in text
    # Ticking it asks this screen's preview again, not the booking one.
    assert f'data-hx-get="/sessions/{third.id}/reschedule/preview"' in text

    skipped = preview(logged_in, third, following(2, skip=wednesday(4).isoformat()))
    assert "Weekly on Wednesdays at 11:00, 3 sessions" in skipped and " checked" in skipped
    assert "overlaps other sessions" not in skipped

    # A key that names no overlap skips nothing: a session that fits is never cancelled by a stale box.
    stale = preview(logged_in, third, following(2, skip=[wednesday(3).isoformat(), "nonsense"]))
    assert "4 sessions" in stale and "Skip those sessions below" in stale

    # This session only: one time, no list of sessions.
    assert "<table" not in preview(logged_in, third, following(2, scope="this"))


def test_the_series_own_moving_sessions_are_no_overlaps_in_the_preview(logged_in, six):
    """A week later from the 3rd: each lands where the next one is now, and that one moves too."""
    text = preview(
        logged_in,
        six.appointments[2],
        following(2, date=(PLAIN_TUESDAY + timedelta(weeks=3)).isoformat(), start_time="09:00"),
    )
    assert text.count("<tr") == 1 + 4 and "Skip this session" not in text
    assert 'class="error"' not in text and 'class="warning"' not in text


def test_the_preview_warns_of_clock_jumps_and_of_the_clients_time_moving(logged_in, therapist, jordan):
    """12 Tuesdays across both spring changes, moved from the 2nd to Sundays at 02:30: the night Prague skips 02:30
    is at 03:30, and New York's earlier change moves Jordan's time for the weeks between."""
    first = US_SPRING - timedelta(days=26)  # a Tuesday
    booked, _ = series.book(series.plan(therapist, jordan, first, time(10, 0), 50, 1, count=12))
    sunday = first + timedelta(weeks=1, days=5)
    form = following(0, date=sunday.isoformat(), start_time="02:30")
    text = preview(logged_in, booked.appointments[1], form)
    assert text.count("<tr") == 1 + 11
    assert f"Sun {EU_SPRING.day} Mar: 03:30 instead of 02:30 (the clocks go forward)" in text
    assert "for Jordan instead of" in text


@pytest.mark.parametrize("start", [2, 0], ids=["from-the-3rd", "from-the-1st"])
def test_skip_then_save_moves_the_rest_and_cancels_the_skipped_one(logged_in, therapist, six, sam, smtp, start):
    (sams,) = book_sam(therapist, sam, 4)
    fifth = six.appointments[4]
    retry = Reminder(appointment_id=fifth.id, kind="24h", starts_at=fifth.starts_at, status="retry", recipient="x@y.z")
    db.session.add(retry)
    db.session.commit()
    ids = [a.id for a in six.appointments]
    sent_before = len(smtp.to("jordan@example.com"))

    form = following(start, skip=wednesday(4).isoformat())
    response = logged_in.post(f"/sessions/{ids[start]}/reschedule", form, htmx=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text
    assert "Session moved." in text and "Skipped and cancelled:" in text
    assert f"Weekly on Wednesdays at 11:00, {5 - start} sessions" in text

    db.session.expire_all()
    rows = {a.id: a for a in db.session.scalars(select(Appointment))}
    holder = rows[ids[start]].series
    assert (holder.uid == six.uid) == (start == 0)  # from the 1st the whole series moves, keeping its UID
    skipped = rows[ids[4]]
    assert skipped.status == SessionStatus.CANCELLED and skipped.series_id == holder.id
    assert skipped.recurrence_id == utc(wednesday(4), time(11))
    assert db.session.get(Reminder, retry.id).status == ReminderStatus.DROPPED
    assert rows[sams.id].status == SessionStatus.SCHEDULED and rows[sams.id].starts_at == sams.starts_at
    moved = sorted(a.starts_at for a in holder.appointments if a.status == SessionStatus.SCHEDULED)
    assert moved == [utc(wednesday(w), time(11)) for w in range(start, 6) if w != 4]
    assert series.exdates(holder) == [skipped.recurrence_id]

    # The invite of the series that holds the moved sessions expands to exactly its scheduled rows.
    sent = calendars(smtp, "jordan@example.com")[sent_before:]
    assert len(sent) == (2 if start else 1)
    (event,) = sent[-1].walk("VEVENT")
    assert str(event["UID"]) == holder.uid and "EXDATE" in event
    data = sent[-1].to_ical()
    assert [e.decoded("DTSTART").astimezone(timezone.utc) for e in expand(data, *EVER)] == moved
    if start:  # the original, re-sent ending before the 3rd, expands to its first two
        kept = sorted(a.starts_at for a in rows.values() if a.series_id == six.id)
        assert [e.decoded("DTSTART").astimezone(timezone.utc) for e in expand(sent[0].to_ical(), *EVER)] == kept[:2]


def test_unresolved_overlaps_are_refused_and_change_nothing(logged_in, therapist, six, sam, smtp):
    book_sam(therapist, sam, 4, 5)
    fifth = six.appointments[4]
    sent_before = len(smtp.messages)
    before = dump()
    refused = logged_in.post(f"/sessions/{fifth.id}/reschedule", following(4), htmx=True)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "The new time overlaps other sessions" in text and "Sam R." in text and "Skip this session" in text
    assert dump() == before

    one = logged_in.post(f"/sessions/{fifth.id}/reschedule", following(4, skip=wednesday(4).isoformat()), htmx=True)
    assert one.status_code == 422 and "Skip those sessions below" in one.get_data(as_text=True)
    assert dump() == before

    both = following(4, skip=[wednesday(4).isoformat(), wednesday(5).isoformat()])
    everything = logged_in.post(f"/sessions/{fifth.id}/reschedule", both, htmx=True)
    assert everything.status_code == 422
    assert "Every session that would move is skipped" in everything.get_data(as_text=True)
    assert dump() == before
    assert len(smtp.messages) == sent_before


def test_the_move_checks_again_under_the_write_lock(therapist, six, sam):
    """What the form saw may be stale: series.reschedule_following plans again, with the same skips, when locked."""
    third, fourth_id = six.appointments[2], six.appointments[3].id
    when = booking.slot(therapist, wednesday(2), time(11), 50)
    assert series.following_problem(series.plan_following(third, when)) is None
    book_sam(therapist, sam, 3)  # booked in another tab after the preview
    with pytest.raises(Invalid, match="Sam R."):
        series.reschedule_following(third, when, 0)
    db.session.expire_all()
    assert len(db.session.scalars(select(Series)).all()) == 1
    successor, dropped = series.reschedule_following(third, when, 0, skip=[wednesday(3).isoformat()])
    assert [a.id for a in dropped] == [fourth_id] and dropped[0].series is successor
    assert [a.status for a in successor.appointments].count(SessionStatus.SCHEDULED) == 3


def test_a_session_cancelled_before_stays_out_of_the_move(logged_in, six):
    """The 4th was cancelled on its own: moving from the 3rd shows its week as not held, and it stays an EXDATE."""
    third, fourth = six.appointments[2], six.appointments[3]
    booking.cancel(fourth)
    text = preview(logged_in, third, following(2))
    assert text.count("<tr") == 1 + 4 and text.count("Not held (skipped or cancelled before)") == 1
    assert "Weekly on Wednesdays at 11:00, 3 sessions" in text
    response = logged_in.post(f"/sessions/{third.id}/reschedule", following(2, skip=wednesday(3).isoformat()))
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    holder = db.session.get(Appointment, third.id).series
    assert series.exdates(holder) == [utc(wednesday(3), time(11))]
    assert db.session.get(Appointment, fourth.id).series_id == six.id  # cancelled before: left where it was


def test_an_overlap_booked_after_the_check_is_listed_with_its_skip_box(logged_in, therapist, six, sam, monkeypatch):
    """Sam books the 4th's new time between the form's check and the write lock: 422, nothing moves, and the list
    shows that overlap to skip; skipping it then saves."""
    third = six.appointments[2]
    plan_following = series.plan_following
    calls = []

    def meanwhile(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the form has checked; reschedule_following plans again, under the lock
            book_sam(therapist, sam, 3)
        return plan_following(*args, **kwargs)

    monkeypatch.setattr(series, "plan_following", meanwhile)
    before = dump()
    response = logged_in.post(f"/sessions/{third.id}/reschedule", following(2), htmx=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "Sam R." in text
    assert f'name="skip" value="{wednesday(3).isoformat()}"' in text
    after = dump()
    assert {k: v for k, v in after.items() if k != "appointments"} == {
        k: v for k, v in before.items() if k != "appointments"
    }
    assert set(before["appointments"]) < set(after["appointments"])  # only Sam's session is new
    assert len(after["appointments"]) == len(before["appointments"]) + 1
    done = logged_in.post(f"/sessions/{third.id}/reschedule", following(2, skip=wednesday(3).isoformat()), htmx=True)
    assert done.status_code == 200 and "Skipped and cancelled:" in done.get_data(as_text=True)


def test_when_the_session_itself_is_skipped_the_rest_move_and_the_first_moved_is_shown(logged_in, therapist, six, sam):
    book_sam(therapist, sam, 2)
    third_id, fourth_id = six.appointments[2].id, six.appointments[3].id
    response = logged_in.post(
        f"/sessions/{third_id}/reschedule", following(2, skip=wednesday(2).isoformat()), htmx=True
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Session moved." in text
    assert f'href="/sessions/{fourth_id}"' in text  # Open session: the first that moved
    db.session.expire_all()
    assert db.session.get(Appointment, third_id).status == SessionStatus.CANCELLED
    assert db.session.get(Appointment, fourth_id).starts_at == utc(wednesday(3), time(11))
