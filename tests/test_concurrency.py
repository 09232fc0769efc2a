"""Double booking is impossible: twenty requests at once for overlapping times book exactly one session."""

import sys
import time as time_module
from datetime import time

import pytest
from sqlalchemy import func, select

import booking
import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, Therapist

REQUESTS = 20


def test_twenty_overlapping_bookings_at_once_book_exactly_one(app, post_at_once):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    requests = [
        (
            "/sessions/book",
            {
                "client": str(jane.id),
                "date": PLAIN_TUESDAY.isoformat(),
                "start_time": f"14:{minute:02d}",
                "length": "50",
                "booking_key": f"key-{minute}",
            },
        )
        for minute in range(REQUESTS)
    ]
    responses = post_at_once(requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * (REQUESTS - 1)
    refused = [r.get_data(as_text=True) for r in responses if r.status_code == 422]
    assert all("Overlaps Jane D., 14:" in page for page in refused)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def test_twenty_reschedules_into_one_free_slot_at_once_move_exactly_one(app, post_at_once):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    sessions = [
        booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(8 + hour // 2, 30 * (hour % 2)), 25))
        for hour in range(REQUESTS)
    ]
    target = PLAIN_TUESDAY.replace(day=PLAIN_TUESDAY.day + 1).isoformat()
    requests = [
        (f"/sessions/{s.id}/reschedule", {"date": target, "start_time": "16:00", "length": "50", "version": "0"})
        for s in sessions
    ]
    responses = post_at_once(requests)
    assert sorted(r.status_code for r in responses) == [200] + [422] * (REQUESTS - 1)
    db.session.expire_all()
    moved = db.session.scalars(select(Appointment).filter_by(sequence=1)).all()
    assert len(moved) == 1


def test_postgresql_refuses_an_overlap_written_past_the_app(app, therapist):
    """The database constraint itself, for a write that skips the app's check."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the exclusion constraint exists on PostgreSQL; SQLite relies on the write lock")
    from sqlalchemy.exc import IntegrityError

    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    first = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    db.session.add(
        Appointment(
            therapist_id=therapist.id,
            client_id=jane.id,
            starts_at=first.starts_at,
            ends_at=first.ends_at,
            uid="manual@example.com",
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_same_form_submitted_ten_times_at_once_books_once_and_never_says_overlap(app, post_at_once):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    form = {
        "client": str(jane.id),
        "date": PLAIN_TUESDAY.isoformat(),
        "start_time": "14:00",
        "length": "50",
        "booking_key": "same-form-key",
    }
    responses = post_at_once([("/sessions/book", form)] * 10)
    pages = [r.get_data(as_text=True) for r in responses]
    assert [r.status_code for r in responses] == [200] * 10
    assert not any("Overlaps" in page for page in pages)
    assert sum("Session booked." in page for page in pages) == 1
    assert sum("This session was already booked." in page for page in pages) == 9
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1
    from models import OutboxMessage

    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # one invite each, once


def test_reschedule_and_cancel_at_once_never_share_a_sequence(app, post_at_once, monkeypatch):
    original = booking.changeable
    cancel_checks = []

    def cancel_checks_slowly(appointment, version):
        """Widen the cancel's gap between checking the version and writing, so the reschedule lands inside it."""
        original(appointment, version)
        if sys._getframe(1).f_code.co_name == "cancel" and not cancel_checks:
            cancel_checks.append(1)
            time_module.sleep(0.4)

    monkeypatch.setattr(booking, "changeable", cancel_checks_slowly)
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    appointment = booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(14, 0), 50))
    target = PLAIN_TUESDAY.replace(day=PLAIN_TUESDAY.day + 1).isoformat()
    requests = [
        (
            f"/sessions/{appointment.id}/reschedule",
            {"date": target, "start_time": "16:00", "length": "50", "version": "0"},
        ),
        (f"/sessions/{appointment.id}/cancel", {"version": "0"}),
    ]
    responses = post_at_once(requests)
    assert sorted(r.status_code for r in responses) == [200, 422]
    db.session.expire_all()
    from models import InviteDelivery

    sequences = db.session.scalars(select(InviteDelivery.sequence)).all()
    assert sequences == [1, 1]  # one change went out, to both people, once
    assert db.session.get(Appointment, appointment.id).sequence == 1
