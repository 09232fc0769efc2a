"""A session's reminder state, kept as the session changes: the clock reminders run on, re-arming after a move
and disarming after a cancel.

Only models and the database: booking.py and series.py call it while they change a session, and reminders.py
(which sends, and stands above booking) runs on its clock, so the tests move one clock for both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from extensions import db
from models import Appointment, Reminder, ReminderStatus, utcnow


def now() -> datetime:
    """The clock reminders run on (aware UTC); tests move it."""
    return utcnow()


def rearm(appointment: Appointment) -> None:
    """After a reschedule (before its commit): reminders count from the new time; the old confirmation no longer holds."""
    appointment.time_set_at = now()
    appointment.confirmed_at = None


def disarm(appointment: Appointment) -> None:
    """After a cancel (before its commit): retries still waiting are dropped."""
    db.session.execute(
        update(Reminder)
        .where(
            Reminder.appointment_id == appointment.id,
            Reminder.status.in_([ReminderStatus.RETRY, ReminderStatus.FAILED]),
        )
        .values(status=ReminderStatus.DROPPED, next_attempt_at=None)
    )
