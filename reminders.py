"""Reminder emails to clients: which are due, claiming each exactly once, sending with retries, confirming.

Nothing here waits for anything: the worker (jobs.py) calls `send_due()` every minute, and any number
of workers may do so at once. Whether a reminder is due is worked out from the sessions themselves, so a
reschedule re-arms it (a new start time is a new reminder), a cancel disarms it, and a change of
settings counts from the next sweep. Re-arming, disarming and the clock are in reminder_state.py, below
booking, which calls them; this module needs booking (the time in the subject) and clients (the room link).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

import booking
import clients
import formats
import links
import mail
import reminder_state
from extensions import db
from models import (
    Appointment,
    Client,
    DeliveryStatus,
    Reminder,
    ReminderKind,
    ReminderStatus,
    SessionStatus,
    Therapist,
)

KINDS = {ReminderKind.DAY_BEFORE: timedelta(hours=24), ReminderKind.HOUR_BEFORE: timedelta(hours=1)}
LABELS = {ReminderKind.DAY_BEFORE: "24 hours before", ReminderKind.HOUR_BEFORE: "1 hour before"}
MAX_ATTEMPTS = 4
BACKOFF = timedelta(minutes=1)  # doubled after each failed attempt: 1, 2, then 4 minutes
LEASE = timedelta(minutes=10)  # a send claimed this long ago by a worker that died is taken over

log = logging.getLogger("hearth.reminders")


def kinds_for(therapist: Therapist) -> list[str]:
    """The reminders this therapist has turned on."""
    return [
        kind
        for kind, on in (
            (ReminderKind.DAY_BEFORE, therapist.remind_24h),
            (ReminderKind.HOUR_BEFORE, therapist.remind_1h),
        )
        if on
    ]


def due_at(appointment: Appointment, kind: str) -> datetime:
    """When a reminder falls due: a fixed span before the start, in real time (clock changes do not move it)."""
    return appointment.starts_at - KINDS[kind]


def is_due(appointment: Appointment, kind: str, at: datetime) -> bool:
    """Due from its time until the session starts, for a scheduled session whose time was set before the
    window opened (booked or moved inside the window: no reminder for that window)."""
    client = appointment.client
    if appointment.status != SessionStatus.SCHEDULED or kind not in kinds_for(appointment.therapist):
        return False
    if client.reminders_off or client.archived_at is not None or not client.email:
        return False
    due = due_at(appointment, kind)
    return appointment.time_set_at <= due <= at < appointment.starts_at


# Finding and claiming


def due(at: datetime) -> list[tuple[Appointment, str]]:
    """Every (session, kind) due at `at` and not yet claimed by any worker."""
    window = max(KINDS.values())
    candidates = list(
        db.session.scalars(
            select(Appointment)
            .join(Appointment.client)
            .join(Appointment.therapist)
            .where(
                Appointment.status == SessionStatus.SCHEDULED,
                Appointment.starts_at > at,
                Appointment.starts_at <= at + window,
                Client.reminders_off.is_(False),
                Client.archived_at.is_(None),
            )
            .options(contains_eager(Appointment.client), contains_eager(Appointment.therapist))
            .order_by(Appointment.starts_at)
        )
    )
    if not candidates:
        return []
    claimed = set(
        db.session.execute(
            select(Reminder.appointment_id, Reminder.kind, Reminder.starts_at).where(
                Reminder.appointment_id.in_([a.id for a in candidates])
            )
        ).tuples()
    )
    return [
        (appointment, kind)
        for appointment in candidates
        for kind in KINDS
        if is_due(appointment, kind, at) and (appointment.id, kind, appointment.starts_at) not in claimed
    ]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def claim(appointment: Appointment, kind: str, at: datetime) -> tuple[Reminder, str] | None:
    """Insert the reminder's row: the unique (session, kind, start) key lets exactly one worker win."""
    token = links.new_token()
    reminder = Reminder(
        appointment_id=appointment.id,
        kind=kind,
        starts_at=appointment.starts_at,
        status=ReminderStatus.SENDING,
        attempts=1,
        claimed_at=at,
        recipient=appointment.client.email,
        confirm_token_hash=_hash(token),
    )
    db.session.add(reminder)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return reminder, token


def reclaim(reminder_id: int, at: datetime, *, from_failed: bool = False) -> tuple[Reminder, str] | None:
    """Take over a retry that has come due, a send whose worker died, or (Send now) a failed one.

    A conditional UPDATE: of several workers trying, exactly one changes the row.
    """
    if from_failed:
        takeable = Reminder.status == ReminderStatus.FAILED
    else:
        takeable = or_(
            and_(Reminder.status == ReminderStatus.RETRY, Reminder.next_attempt_at <= at),
            and_(Reminder.status == ReminderStatus.SENDING, Reminder.claimed_at < at - LEASE),
        )
    token = links.new_token()  # links from an earlier attempt never arrived
    result = db.session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, takeable)
        .values(
            status=ReminderStatus.SENDING,
            claimed_at=at,
            attempts=Reminder.attempts + 1,
            next_attempt_at=None,
            confirm_token_hash=_hash(token),
        )
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    reminder = db.session.get(Reminder, reminder_id)
    db.session.refresh(reminder)
    return reminder, token


def retry_ids(at: datetime) -> list[int]:
    return list(
        db.session.scalars(
            select(Reminder.id).where(
                or_(
                    and_(Reminder.status == ReminderStatus.RETRY, Reminder.next_attempt_at <= at),
                    and_(Reminder.status == ReminderStatus.SENDING, Reminder.claimed_at < at - LEASE),
                )
            )
        )
    )


# Sending


def email(reminder: Reminder, token: str):
    """The reminder to the client only: time in the client's zone, Join session, Confirm I'll be there."""
    appointment = reminder.appointment
    client, therapist = appointment.client, appointment.therapist
    zone = client.zone.key
    context = {
        "appointment": appointment,
        "name": client.greeting_name,
        "zone": zone,
        "therapist": therapist,
        "title": f"Session with {therapist.name}",
        "room_link": clients.room_url(client),
        "confirm_link": links.external_url("public.confirm", token=token),
    }
    # In the client's formats (else the therapist's), as their invites are.
    with formats.writing_for(formats.supported(client.locale) or formats.supported(therapist.locale)):
        return mail.compose(
            sender_name=f"{therapist.name} via Hearth",
            to=(client.name, client.email),
            reply_to=(therapist.name, therapist.email),
            subject=f"Reminder: session with {therapist.name} on {booking.local_time(appointment.starts_at, zone)} ({formats.zone_city(zone)})",
            template="reminder",
            context=context,
        )


def deliver(reminder: Reminder, token: str) -> Reminder:
    """Send one claimed reminder, unless its session was cancelled or moved since; failures wait and retry."""
    appointment = reminder.appointment
    at = reminder_state.now()
    if (
        appointment.status != SessionStatus.SCHEDULED
        or appointment.starts_at != reminder.starts_at
        or appointment.starts_at <= at
    ):
        reminder.status = ReminderStatus.DROPPED
        db.session.commit()
        return reminder
    reminder.recipient = appointment.client.email or reminder.recipient
    status, error = mail.deliver(email(reminder, token), appointment.therapist)
    if status == DeliveryStatus.FAILED:
        reminder.error = error
        if reminder.attempts >= MAX_ATTEMPTS:
            reminder.status = ReminderStatus.FAILED
            log.error(
                "Reminder %s (%s) for session %s not delivered after %s attempts: %s",
                reminder.id,
                reminder.kind,
                appointment.id,
                reminder.attempts,
                error,
            )
        else:
            reminder.status = ReminderStatus.RETRY
            reminder.next_attempt_at = at + BACKOFF * 2 ** (reminder.attempts - 1)
            log.warning(
                "Reminder %s (%s) for session %s failed (attempt %s), retrying at %s: %s",
                reminder.id,
                reminder.kind,
                appointment.id,
                reminder.attempts,
                reminder.next_attempt_at,
                error,
            )
    else:
        reminder.status = ReminderStatus.SENT if status == DeliveryStatus.SENT else ReminderStatus.OUTBOX
        reminder.sent_at, reminder.error = at, None
        log.info(
            "Reminder %s (%s) for session %s sent to %s", reminder.id, reminder.kind, appointment.id, reminder.recipient
        )
    db.session.commit()
    return reminder


def send_due(at: datetime | None = None) -> int:
    """The periodic job: claim and send every reminder that is due, then the retries. Returns how many were tried."""
    at = at or reminder_state.now()
    tried = 0
    for appointment, kind in due(at):
        if claimed := claim(appointment, kind, at):
            deliver(*claimed)
            tried += 1
    for reminder_id in retry_ids(at):
        if claimed := reclaim(reminder_id, at):
            deliver(*claimed)
            tried += 1
    return tried


def for_session(appointment: Appointment) -> list[Reminder]:
    """The reminders for the session's current time, for its page."""
    return list(
        db.session.scalars(
            select(Reminder)
            .filter_by(appointment_id=appointment.id, starts_at=appointment.starts_at)
            .order_by(Reminder.id)
        )
    )


def undelivered(appointment: Appointment) -> Reminder | None:
    """The reminder for the current time that failed for good: the session page offers Send now."""
    return next((r for r in reversed(for_session(appointment)) if r.status == ReminderStatus.FAILED), None)


def send_now(reminder: Reminder) -> Reminder | None:
    """The therapist's Send now after the last retry failed: one more attempt, at once."""
    if claimed := reclaim(reminder.id, reminder_state.now(), from_failed=True):
        return deliver(*claimed)
    return None


# Confirm I'll be there


def find_confirmation(token: str) -> Reminder | None:
    """The reminder a confirm link came in, while the link is unused and its session still stands as sent."""
    if not token or len(token) > 100:
        return None
    reminder = db.session.scalar(select(Reminder).filter_by(confirm_token_hash=_hash(token)))
    if reminder is None or reminder.confirmed_at is not None:
        return None
    appointment = reminder.appointment
    if (
        appointment.status != SessionStatus.SCHEDULED
        or appointment.starts_at != reminder.starts_at
        or appointment.ends_at <= reminder_state.now()
    ):
        return None
    return reminder


def confirm(reminder: Reminder) -> bool:
    """Use the link once: the session shows as confirmed. False when it was used already (e.g. two clicks)."""
    at = reminder_state.now()
    result = db.session.execute(
        update(Reminder).where(Reminder.id == reminder.id, Reminder.confirmed_at.is_(None)).values(confirmed_at=at)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    reminder.appointment.confirmed_at = at
    db.session.commit()
    return True


# Settings


def update_settings(therapist: Therapist, *, remind_24h: bool, remind_1h: bool) -> None:
    """Account Settings → Reminders. The next sweep uses them: nothing is stored per session."""
    therapist.remind_24h, therapist.remind_1h = remind_24h, remind_1h
    db.session.commit()


def set_client_opt_out(client: Client, off: bool) -> None:
    client.reminders_off = off
    db.session.commit()
