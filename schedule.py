"""The therapist's day and week: sessions by local day, the week grid, attendance and the CSV export."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import selectinload

import booking
import rooms
from activity import safe_cell
from extensions import db
from models import Appointment, Client, RoomParticipant, Therapist, utcnow
from validation import Invalid

START_EARLY = timedelta(minutes=10)  # "Start session" becomes the prominent button this long before the start
WEEK_FIRST_HOUR, WEEK_LAST_HOUR = 7, 21
SLOT = timedelta(minutes=30)
CSV_MAX_DAYS = 366 * 2


def local_midnight_utc(day: date, therapist: Therapist) -> datetime:
    """The start of a local day in the therapist's zone, as naive UTC."""
    aware = datetime.combine(day, time(0), tzinfo=therapist.zone)
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


def local_today(therapist: Therapist, at: datetime | None = None) -> date:
    return booking.to_local(at or utcnow(), therapist.zone).date()


def _sessions(therapist: Therapist, start: datetime, end: datetime, *, cancelled: bool = True) -> list[Appointment]:
    """The therapist's sessions starting in [start, end), with their clients, in one query each."""
    statement = (select(Appointment).filter_by(therapist_id=therapist.id)
                 .where(Appointment.starts_at >= start, Appointment.starts_at < end)
                 .options(selectinload(Appointment.client)).order_by(Appointment.starts_at))
    if not cancelled:
        statement = statement.where(Appointment.status == Appointment.SCHEDULED)
    return list(db.session.scalars(statement))


@dataclass
class Today:
    sessions: list[Appointment]
    next_session: Appointment | None
    in_rooms: list[RoomParticipant]
    has_clients: bool
    has_sessions: bool


def today(therapist: Therapist, at: datetime | None = None) -> Today:
    """Today's sessions in the therapist's zone, the next one to come, and who is in a room now."""
    at = at or utcnow()
    day = local_today(therapist, at)
    sessions = _sessions(therapist, local_midnight_utc(day, therapist),
                         local_midnight_utc(day + timedelta(days=1), therapist))
    upcoming = next((s for s in sessions if not s.is_cancelled and s.starts_at > at), None)
    if upcoming is None:  # the next session may be on another day
        upcoming = db.session.scalar(
            select(Appointment).filter_by(therapist_id=therapist.id, status=Appointment.SCHEDULED)
            .where(Appointment.starts_at > at).options(selectinload(Appointment.client))
            .order_by(Appointment.starts_at).limit(1))
    # Read only (no expiring of stale visits on a GET): visitors still polling within the last 30 s.
    in_rooms = list(db.session.scalars(
        select(RoomParticipant).filter_by(therapist_id=therapist.id)
        .where(RoomParticipant.status.in_([RoomParticipant.IN_ROOM, RoomParticipant.WAITING]),
               RoomParticipant.role != rooms.THERAPIST, RoomParticipant.last_seen >= at - rooms.STALE_AFTER)
        .order_by(RoomParticipant.joined_at)))
    has_sessions = bool(sessions) or upcoming is not None or db.session.scalar(
        select(Appointment.id).filter_by(therapist_id=therapist.id).limit(1)) is not None
    has_clients = has_sessions or db.session.scalar(
        select(Client.id).filter_by(therapist_id=therapist.id).limit(1)) is not None
    return Today(sessions, upcoming, in_rooms, has_clients, has_sessions)


def countdown(until: datetime, at: datetime) -> str:
    """ "in 1 h 05 min", "in 12 min", "in 3 days" """
    minutes = max(0, int((until - at).total_seconds() // 60))
    if minutes >= 48 * 60:
        return f"in {minutes // (24 * 60)} days"
    if minutes >= 60:
        return f"in {minutes // 60} h {minutes % 60:02d} min"
    return "in less than a minute" if minutes == 0 else f"in {minutes} min"


# The week grid

@dataclass
class Cell:
    """One half-hour of one day: empty (a slot to book) or the first of the rows a group of sessions covers."""

    day: date
    start: time
    sessions: list[Appointment] = field(default_factory=list)
    rows: int = 1
    covered: bool = False  # under a session that started in an earlier row


@dataclass
class Week:
    monday: date
    days: list[date]
    hours: list[time]  # the half-hours shown, local time
    rows: list[list[Cell]]  # rows[half-hour][day]
    by_day: dict[date, list[Appointment]]

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week(therapist: Therapist, any_day: date) -> Week:
    """The week holding `any_day`: scheduled sessions on a 07:00–21:00 grid, widened for earlier or later ones."""
    monday = monday_of(any_day)
    days = [monday + timedelta(days=n) for n in range(7)]
    sessions = _sessions(therapist, local_midnight_utc(monday, therapist),
                         local_midnight_utc(monday + timedelta(days=7), therapist), cancelled=False)
    zone = therapist.zone
    spans = []  # (appointment, local day, first slot index, slot index after the end) in half-hours from midnight
    for appointment in sessions:
        start, end = booking.to_local(appointment.starts_at, zone), booking.to_local(appointment.ends_at, zone)
        first = start.hour * 2 + start.minute // 30
        end_minutes = (end.date() - start.date()).days * 24 * 60 + end.hour * 60 + end.minute
        after = min(48, max(first + 1, -(-end_minutes // 30)))
        spans.append((appointment, start.date(), first, after))
    low = min([WEEK_FIRST_HOUR * 2, *(s[2] for s in spans)])
    high = max([WEEK_LAST_HOUR * 2, *(s[3] for s in spans)])
    hours = [time(index // 2, (index % 2) * 30) for index in range(low, high)]
    rows = [[Cell(day, hour) for day in days] for hour in hours]
    for column, day in enumerate(days):
        todays = sorted((s for s in spans if s[1] == day), key=lambda s: s[2])
        index = 0
        while index < len(todays):
            appointment, _, first, after = todays[index]
            group = [appointment]
            index += 1
            while index < len(todays) and todays[index][2] < after:  # starts under this block: same cell
                group.append(todays[index][0])
                after = max(after, todays[index][3])
                index += 1
            cell = rows[first - low][column]
            cell.sessions, cell.rows = group, after - first
            for below in range(first + 1, after):
                rows[below - low][column].covered = True
    by_day = {day: [s[0] for s in spans if s[1] == day] for day in days}
    return Week(monday, days, hours, rows, by_day)


# Client details

def client_sessions(client: Client, at: datetime | None = None, count: int = 5) -> tuple[list[Appointment], list[Appointment]]:
    """The client's next `count` sessions (soonest first) and last `count` (latest first), cancelled ones included."""
    at = at or utcnow()
    mine = select(Appointment).filter_by(client_id=client.id)
    upcoming = db.session.scalars(mine.where(Appointment.ends_at > at).order_by(Appointment.starts_at).limit(count))
    past = db.session.scalars(mine.where(Appointment.ends_at <= at).order_by(Appointment.starts_at.desc()).limit(count))
    return list(upcoming), list(past)


# Attendance

def mark_attendance(appointment: Appointment, mark: str) -> None:
    """Attended, No-show or Late cancellation, once the session's time is over; marking again corrects it."""
    if mark not in Appointment.ATTENDANCE:
        raise Invalid("Choose Attended, No-show or Late cancellation.")
    if appointment.is_cancelled:
        raise Invalid("This session was cancelled; there is no attendance to mark.")
    if appointment.ends_at > utcnow():
        raise Invalid("Attendance can be marked once the session has ended.")
    appointment.attendance = mark
    db.session.commit()


def sessions_csv(therapist: Therapist, first: date, last: date) -> str:
    """Sessions from `first` to `last` (local days, inclusive), for billing elsewhere; times in the therapist's zone."""
    if last < first:
        raise Invalid("The end date is before the start date.")
    if (last - first).days > CSV_MAX_DAYS:
        raise Invalid("Choose at most two years at a time.")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "start", "end", "minutes", "time_zone", "client", "client_email", "status", "attendance",
                     "confirmed_by_client"])
    zone = therapist.zone
    for appointment in _sessions(therapist, local_midnight_utc(first, therapist),
                                 local_midnight_utc(last + timedelta(days=1), therapist)):
        start, end = booking.to_local(appointment.starts_at, zone), booking.to_local(appointment.ends_at, zone)
        client = appointment.client
        writer.writerow([start.date().isoformat(), f"{start:%H:%M}", f"{end:%H:%M}", appointment.minutes, zone.key,
                         safe_cell(client.name), safe_cell(client.email or ""), appointment.status,
                         appointment.attendance_label, "yes" if appointment.confirmed_at else ""])
    return out.getvalue()

