"""Booking sessions: local times to UTC, conflicts, and creating the session. No request objects here."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

import formats
import reminder_state
from database import commit, write_lock
from extensions import db
from models import UTC, Appointment, Client, SessionStatus, Therapist, parse_zone, utcnow
from validation import Invalid

MIN_MINUTES = 10  # shorter is a typo, not a session
MAX_MINUTES = 480
LENGTH_CHOICES = (30, 45, 50, 60, 90)
DEFAULT_MINUTES = 50
MAX_YEARS_AHEAD = 5
BOOKING_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Conflict(Invalid):
    """The time overlaps another scheduled session of the same therapist."""

    def __init__(self, other: Appointment, zone: ZoneInfo):
        super().__init__(
            f"Overlaps {other.client.short_name}, {time_range(other.starts_at, other.ends_at, zone.key, '')}."
        )
        self.other = other


@dataclass(frozen=True)
class Slot:
    """A session time: UTC start and end, and whether the local time entered was ambiguous."""

    starts_at: datetime  # aware UTC
    ends_at: datetime
    ambiguous: bool = False


def to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment (aware) as the clock in `zone` shows it. A naive value is refused: `astimezone` would read it
    in the server's own zone."""
    if moment.tzinfo is None:
        raise ValueError(f"A moment needs its zone: {moment!r}")
    return moment.astimezone(zone)


def local_time(moment: datetime | None, zone: str, fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    """A stored moment, shown in the viewer's zone and locale (formats.FORMATS names the `fmt` choices):
    the one formatter screens and emails use."""
    if moment is None:
        return ""
    return formats.local_time(moment, parse_zone(zone) or UTC, fmt)


def _twice(local: datetime) -> bool:
    """Whether this wall-clock time happens twice (the clocks go back around it)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


@lru_cache(maxsize=4096)  # pure, and asked several times for every email and screen
def clock_changes(start: datetime, end: datetime, zone: str) -> bool:
    """Whether the offset changes inside the session, or either end is a time that happens twice."""
    tz = parse_zone(zone) or UTC
    first, last = to_local(start, tz), to_local(end, tz)
    return first.utcoffset() != last.utcoffset() or _twice(first) or _twice(last)


def time_range(start: datetime, end: datetime, zone: str, day: str = "%a %-d %b %Y, ") -> str:
    """ "Tue, 1 Dec 2026, 14:00–14:50" in the current locale's formats (`day` + "%H:%M" names one of
    formats.FORMATS, "" for the times alone), or with each end's abbreviation where the clocks change
    ("Sun, 25 Oct 2026, 02:30 CEST – 02:20 CET"), so a range never reads backwards or empty."""
    return _time_range(start, end, zone, day, formats.current_locale())


@lru_cache(maxsize=4096)
def _time_range(start: datetime, end: datetime, zone: str, day: str, locale: str) -> str:
    tz = parse_zone(zone) or UTC
    first, last = to_local(start, tz), to_local(end, tz)
    first_text = formats.local_time(first, tz, day + "%H:%M", locale)
    last_text = formats.local_time(last, tz, "%H:%M", locale)
    if clock_changes(start, end, zone):
        return f"{first_text} {first:%Z} – {last_text} {last:%Z}"
    return f"{first_text}–{last_text}"


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    aware = local.replace(tzinfo=zone)
    return aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == local


def _gap_around(local: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first missing minute and the first minute after the gap that `local` falls in."""
    start = local
    while not _exists(start - timedelta(minutes=1), zone):
        start -= timedelta(minutes=1)
    end = local
    while not _exists(end, zone):
        end += timedelta(minutes=1)
    return start, end


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> tuple[datetime, bool]:
    """Turn a wall-clock time in `zone` into the moment (aware UTC) it names.

    A time in the spring-forward gap does not exist and is refused, naming the gap; a time that
    occurs twice (clocks going back) takes the first occurrence, and says so.
    """
    local = datetime.combine(day, at)
    if not _exists(local, zone):
        gap_start, gap_end = _gap_around(local, zone)
        raise Invalid(
            f"{formats.clock(at)} does not exist on {formats.day(day, '%a %-d %b %Y')} in "
            f"{formats.zone_name(zone.key)}: the clocks go forward from {formats.clock(gap_start)} to "
            f"{formats.clock(gap_end)}. Choose a time outside that gap."
        )
    first = local.replace(tzinfo=zone, fold=0)
    ambiguous = first.utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset()
    return first.astimezone(timezone.utc), ambiguous


def slot(therapist: Therapist, day: date, at: time, minutes: int) -> Slot:
    """Validate a requested time (entered in the therapist's zone) and length."""
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise Invalid(f"Choose a length from {MIN_MINUTES} to {MAX_MINUTES} minutes.")
    today = utcnow().date()
    if day < today - timedelta(days=1):
        raise Invalid("This time has already passed. Choose a time in the future.")
    if day > today + timedelta(days=366 * MAX_YEARS_AHEAD):
        raise Invalid(f"Choose a date within the next {MAX_YEARS_AHEAD} years.")
    starts_at, ambiguous = local_to_utc(day, at, therapist.zone)
    if starts_at <= utcnow():
        raise Invalid("This time has already passed. Choose a time in the future.")
    return Slot(starts_at, starts_at + timedelta(minutes=minutes), ambiguous)


def find_conflict(therapist: Therapist, starts_at: datetime, ends_at: datetime, ignore: int | None = None):
    """Another scheduled session of this therapist overlapping the time (back-to-back is fine)."""
    statement = select(Appointment).where(
        Appointment.therapist_id == therapist.id,
        Appointment.status == SessionStatus.SCHEDULED,
        Appointment.starts_at < ends_at,
        Appointment.ends_at > starts_at,
        # No session is longer than MAX_MINUTES: this bound lets the (therapist, starts_at) index
        # read a few rows instead of every earlier session.
        Appointment.starts_at > starts_at - timedelta(minutes=MAX_MINUTES),
    )
    if ignore is not None:
        statement = statement.where(Appointment.id != ignore)
    # With its client: the conflict message names them, and no second statement should depend on a conflict.
    return db.session.scalar(statement.options(joinedload(Appointment.client)).order_by(Appointment.starts_at).limit(1))


def check_client(client: Client) -> Client:
    """A client who can be booked and invited."""
    if client.archived_at is not None:
        raise Invalid(f"{client.name} is archived. Restore them to book a session.")
    if not client.email:
        raise Invalid(f"{client.name} has no email address, so no calendar invite can be sent.")
    return client


def new_uid() -> str:
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "hearth.invalid"
    return f"{secrets.token_urlsafe(18)}@{host}"


def existing_booking(therapist: Therapist, booking_key: str) -> Appointment | None:
    """The session this form already booked, when the same form arrives again."""
    if not booking_key or not BOOKING_KEY.fullmatch(booking_key):
        return None  # not a key this app made: nothing was booked with it
    return db.session.scalar(select(Appointment).filter_by(therapist_id=therapist.id, booking_key=booking_key))


def _refuse_overlap(therapist: Therapist, when: Slot, ignore: int | None = None) -> None:
    """Raise Conflict, ending the transaction, if another scheduled session overlaps the time."""
    if other := find_conflict(therapist, when.starts_at, when.ends_at, ignore=ignore):
        db.session.rollback()
        raise Conflict(other, therapist.zone) from None


def new_appointment(
    therapist: Therapist,
    client: Client,
    starts_at: datetime,
    ends_at: datetime,
    *,
    organizer: str | None = None,
    **extra,
) -> Appointment:
    """A new scheduled session row, alone or in a series (`extra`: its series, recurrence id or booking key): its
    own UID, and the organizer address every later version of it keeps."""
    return Appointment(
        therapist_id=therapist.id,
        client_id=client.id,
        starts_at=starts_at,
        ends_at=ends_at,
        uid=new_uid(),
        organizer=organizer or current_app.config["MAIL_DEFAULT_SENDER"],
        **extra,
    )


def book(therapist: Therapist, client: Client, when: Slot, booking_key: str | None = None) -> Appointment:
    """Store a new session (or find the one this booking key already made); see book_once."""
    return book_once(therapist, client, when, booking_key)[0]


def book_once(
    therapist: Therapist,
    client: Client,
    when: Slot,
    booking_key: str | None = None,
    *,
    before_commit: Callable[[Appointment], object] | None = None,
) -> tuple[Appointment, bool]:
    """Store a new session, refusing overlaps; committed before any invite is sent. Returns the
    session and whether this call made it (False: the same form had booked it already).

    `before_commit(appointment)` runs once the new row has its id, before the commit (the booking view
    builds the invites there): if it raises, nothing is stored.

    The check and the insert run under the write lock (SQLite: the database's; PostgreSQL: an
    advisory lock per therapist, with an exclusion constraint behind it). The same form arriving
    twice at once finds, under the lock, the session its twin booked, and answers with that one
    instead of calling it an overlap.
    """
    check_client(client)
    write_lock(therapist.id)
    if booked := existing_booking(therapist, booking_key or ""):
        db.session.commit()  # end the locked transaction
        return booked, False
    _refuse_overlap(therapist, when)
    appointment = new_appointment(therapist, client, when.starts_at, when.ends_at, booking_key=booking_key or None)
    db.session.add(appointment)
    try:
        commit(before_commit, appointment)
    except IntegrityError:
        if booked := existing_booking(therapist, booking_key or ""):
            return booked, False  # the same form was submitted twice at once; the first one booked
        _refuse_overlap(therapist, when)  # the database refused it: the same friendly message
        raise
    return appointment, True


def new_booking_key() -> str:
    return secrets.token_urlsafe(18)


def changeable(appointment: Appointment, version: int | None) -> None:
    """Refuse changes to a cancelled or past session, or from a form opened before the last change."""
    if appointment.is_cancelled:
        raise Invalid("This session is cancelled and can no longer be changed.")
    if appointment.ends_at <= utcnow():
        raise Invalid("This session has already taken place and can no longer be changed.")
    if version is not None and version != appointment.sequence:
        raise Invalid("This session was changed after you opened this form. Reload the page to see it as it is now.")


def reschedule(
    appointment: Appointment,
    when: Slot,
    version: int | None = None,
    *,
    before_commit: Callable[[datetime], object] | None = None,
) -> datetime:
    """Move a session (refusing overlaps with other sessions) and count a new invite version.

    Returns the old start time (aware UTC), for the "moved from" line of the update. `before_commit(old start)`
    runs with the session moved but not yet stored (the view builds the updates there): if it raises,
    nothing moves.
    """
    changeable(appointment, version)
    therapist, appointment_id = appointment.therapist, appointment.id
    write_lock(therapist.id)
    db.session.refresh(appointment)
    try:
        changeable(appointment, version)  # again, under the lock: another request may have moved it
    except Invalid:
        db.session.rollback()  # the lock goes now, not after the page is drawn
        raise
    _refuse_overlap(therapist, when, ignore=appointment_id)
    previous = appointment.starts_at
    appointment.starts_at, appointment.ends_at = when.starts_at, when.ends_at
    appointment.new_version()
    appointment.updated_at = utcnow()
    reminder_state.rearm(appointment)
    try:
        commit(before_commit, previous)
    except IntegrityError:
        _refuse_overlap(therapist, when, ignore=appointment_id)  # the database refused it
        raise
    return previous


def cancel(
    appointment: Appointment, version: int | None = None, *, before_commit: Callable[[], object] | None = None
) -> None:
    """Cancel a session: its time frees up, and the next invite version is a cancellation.

    Under the same lock and version check as reschedule, so a concurrent reschedule and cancel can
    never both go out with the same SEQUENCE. `before_commit` runs with the session cancelled but not
    yet stored (the view builds the cancellations there): if it raises, nothing changes.
    """
    changeable(appointment, version)
    write_lock(appointment.therapist_id)
    db.session.refresh(appointment)
    try:
        changeable(appointment, version)  # again, under the lock
    except Invalid:
        db.session.rollback()
        raise
    appointment.status = SessionStatus.CANCELLED
    appointment.new_version()
    appointment.updated_at = utcnow()
    reminder_state.disarm(appointment)
    commit(before_commit)


def upcoming(
    client: Client | None = None, therapist: Therapist | None = None, *, deliveries: bool = False
) -> list[Appointment]:
    """Scheduled sessions that have not ended yet, of one client or one therapist, soonest first.

    With `deliveries`, each session's invite log comes in the same query (a screen that shows
    which sends failed makes one query however many sessions there are).
    """
    values = {"now": utcnow()}
    if client is not None:
        values["client"] = client.id
    if therapist is not None:
        values["therapist"] = therapist.id
    statement = _upcoming_statement(client is not None, therapist is not None, deliveries)
    return list(db.session.scalars(statement, values).unique())


@lru_cache(maxsize=8)
def _upcoming_statement(of_client: bool, of_therapist: bool, deliveries: bool):
    """upcoming()'s statement, built once for each of its few shapes, with parameters: Client details runs it on
    every visit, and building and keying a statement costs more than running this one."""
    statement = select(Appointment).where(
        Appointment.status == SessionStatus.SCHEDULED, Appointment.ends_at > bindparam("now")
    )
    if of_client:
        statement = statement.where(Appointment.client_id == bindparam("client"))
    if of_therapist:
        statement = statement.where(Appointment.therapist_id == bindparam("therapist"))
    if deliveries:
        statement = statement.options(joinedload(Appointment.deliveries))
    return statement.order_by(Appointment.starts_at)


def new_version(appointments: list[Appointment], *, cancel: bool = False) -> None:
    """Count a new invite version of each session (cancelled, with `cancel`), and of each series they belong
    to (the series goes out as one invite); the caller commits."""
    now = utcnow()
    for appointment in appointments:
        if cancel:
            appointment.status = SessionStatus.CANCELLED
            reminder_state.disarm(appointment)
        appointment.new_version()
        appointment.updated_at = now
    for series in {a.series_id: a.series for a in appointments if a.series_id is not None}.values():
        series.new_version()


@dataclass(frozen=True)
class AddressChange:
    """Someone's email changed while sessions were booked: the old address must get a CANCEL."""

    role: str  # "client" or "therapist"
    old: str
    sessions: list[Appointment]


FEED_DAYS_BACK = 90
FEED_CANCELLED_DAYS = 7


def feed_sessions(therapist: Therapist) -> list[Appointment]:
    """What the calendar feed holds: the last 90 days and everything ahead; a cancelled session stays
    (marked cancelled) for 7 days after its cancellation, long enough for every subscriber to see it.
    Each session's series comes loaded with all its sessions, which the feed writes as one event."""
    from sqlalchemy.orm import selectinload

    from models import Series

    now = utcnow()
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.therapist_id == therapist.id,
                Appointment.ends_at > now - timedelta(days=FEED_DAYS_BACK),
                or_(
                    Appointment.status == SessionStatus.SCHEDULED,
                    Appointment.updated_at > now - timedelta(days=FEED_CANCELLED_DAYS),
                ),
            )
            .order_by(Appointment.starts_at)
            # A series is one event there, written from all its sessions (those before the window too).
            .options(selectinload(Appointment.series).selectinload(Series.appointments))
        )
    )
