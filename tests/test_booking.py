"""Booking rules as plain functions: time zones, clock changes, past times, overlaps, idempotency."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import booking
import clients
from dates import EU_AUTUMN, EU_SPRING, PLAIN_TUESDAY, US_SPRING
from extensions import db
from models import Appointment, utcnow
from validation import Invalid

PRAGUE = ZoneInfo("Europe/Prague")


@pytest.fixture
def jane(therapist):
    return clients.add(therapist, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


def book_at(therapist, client, day, at, minutes=50):
    return booking.book(therapist, client, booking.slot(therapist, day, at, minutes))


def test_local_time_is_stored_in_utc(therapist, jane):
    appointment = book_at(therapist, jane, PLAIN_TUESDAY, time(14, 0))
    assert appointment.starts_at == datetime.combine(PLAIN_TUESDAY, time(12, 0), timezone.utc)  # CEST is UTC+2
    assert appointment.minutes == 50
    assert booking.to_local(appointment.starts_at, ZoneInfo("America/New_York")).hour == 8


def test_week_when_only_new_york_has_moved_its_clocks(therapist, jane):
    tuesday = US_SPRING + timedelta(days=2)
    assert tuesday < EU_SPRING
    appointment = book_at(therapist, jane, tuesday, time(14, 0))
    assert booking.to_local(appointment.starts_at, ZoneInfo("America/New_York")).hour == 9  # five hours apart, not six


def test_week_when_only_prague_has_moved_its_clocks(therapist, jane):
    tuesday = EU_AUTUMN + timedelta(days=2)
    appointment = book_at(therapist, jane, tuesday, time(14, 0))
    assert booking.to_local(appointment.starts_at, ZoneInfo("America/New_York")).hour == 9


def test_a_time_in_the_spring_gap_is_refused_naming_the_gap(therapist):
    with pytest.raises(Invalid, match="02:30 does not exist .* clocks go forward from 02:00 to 03:00"):
        booking.slot(therapist, EU_SPRING, time(2, 30), 50)


def test_an_ambiguous_time_takes_the_first_occurrence(therapist):
    when = booking.slot(therapist, EU_AUTUMN, time(2, 30), 50)
    assert when.ambiguous
    assert when.starts_at == datetime.combine(EU_AUTUMN, time(0, 30), timezone.utc)  # 02:30 CEST (UTC+2), the first one
    assert not booking.slot(therapist, EU_AUTUMN, time(4, 30), 50).ambiguous


def test_past_times_and_bad_lengths_are_refused(therapist):
    now = booking.to_local(utcnow(), PRAGUE)
    earlier = now - timedelta(minutes=5)
    with pytest.raises(Invalid, match="already passed"):
        booking.slot(therapist, earlier.date(), earlier.time().replace(second=0, microsecond=0), 50)
    with pytest.raises(Invalid, match="already passed"):
        booking.slot(therapist, PLAIN_TUESDAY.replace(year=2001), time(10, 0), 50)
    with pytest.raises(Invalid, match="within the next 5 years"):
        booking.slot(therapist, PLAIN_TUESDAY.replace(year=9999), time(10, 0), 50)
    for minutes in (4, 481, 0, -30):
        with pytest.raises(Invalid, match="from 10 to 480"):
            booking.slot(therapist, PLAIN_TUESDAY, time(10, 0), minutes)


def test_overlap_is_refused_naming_the_other_session_and_back_to_back_is_fine(therapist, jane):
    book_at(therapist, jane, PLAIN_TUESDAY, time(14, 0))
    with pytest.raises(booking.Conflict, match="Overlaps Jane D., 14:00–14:50"):
        book_at(therapist, jane, PLAIN_TUESDAY, time(14, 49))
    with pytest.raises(booking.Conflict):
        book_at(therapist, jane, PLAIN_TUESDAY, time(13, 30), 31)
    book_at(therapist, jane, PLAIN_TUESDAY, time(14, 50))  # starts as the other ends
    book_at(therapist, jane, PLAIN_TUESDAY, time(13, 10))  # ends as the first starts
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 3


def test_other_therapists_sessions_do_not_conflict(therapist, other_therapist, jane):
    book_at(therapist, jane, PLAIN_TUESDAY, time(14, 0))
    mark = clients.add(other_therapist, name="Mark Twain", email="mark@example.com")
    book_at(other_therapist, mark, PLAIN_TUESDAY, time(8, 0))  # 14:00 in Prague


def test_archived_client_or_client_without_email_cannot_be_booked(therapist, jane):
    nomail = clients.add(therapist, name="No Mail")
    when = booking.slot(therapist, PLAIN_TUESDAY, time(10, 0), 50)
    with pytest.raises(Invalid, match="no email address"):
        booking.book(therapist, nomail, when)
    clients.archive(jane)
    with pytest.raises(Invalid, match="archived"):
        booking.book(therapist, jane, when)


def test_the_same_booking_key_books_once(therapist, jane):
    """Two submissions of one form that both passed the view's check: the second returns the first booking."""
    first = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(10, 0), 50), "form-key")
    again = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(12, 0), 50), "form-key")
    assert again.id == first.id and again.starts_at == first.starts_at
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1
    assert booking.existing_booking(therapist, "form-key").id == first.id
    assert booking.existing_booking(therapist, "") is None


def test_uid_is_random_and_names_the_public_host(therapist, jane):
    first = book_at(therapist, jane, PLAIN_TUESDAY, time(10, 0))
    second = book_at(therapist, jane, PLAIN_TUESDAY, time(12, 0))
    assert first.uid != second.uid and first.uid.endswith("@127.0.0.1")
    assert first.sequence == 0
