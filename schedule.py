"""The therapist's day and week: sessions by local day, the week grid, attendance and the CSV export."""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache

from sqlalchemy import bindparam, func, select, union_all
from sqlalchemy.orm import selectinload

import booking
import formats
import rooms
from activity import safe_cell
from extensions import db
from models import Appointment, Client, ParticipantStatus, RoomParticipant, SessionStatus, Therapist, utcnow
from validation import Invalid

START_EARLY = timedelta(minutes=10)  # "Start session" becomes the prominent button this long before the start
WEEK_FIRST_HOUR, WEEK_LAST_HOUR = 7, 21
SLOT = timedelta(minutes=30)
CSV_MAX_DAYS = 366 * 2
# Sessions Today and each day of the week draw at most, the rest behind "Show all" / "+N more". A real practice has
# at most about 15 a day, so it never sees the limit; a day of back-to-back 10-minute sessions (the large bench
# practice's 137) would otherwise make both pages grow with the day.
DAY_LIMIT = 20
EARLIER_SHOWN = 3  # Today, over the limit: the last sessions that ended before the ones still to come


def local_midnight_utc(day: date, therapist: Therapist) -> datetime:
    """The moment (aware UTC) a local day starts in the therapist's zone."""
    return datetime.combine(day, time(0), tzinfo=therapist.zone).astimezone(timezone.utc)


def local_today(therapist: Therapist, at: datetime | None = None) -> date:
    return booking.to_local(at or utcnow(), therapist.zone).date()


def _local_clock(zone, day_starts: list[datetime]):
    """UTC -> local for the days starting at `day_starts` (UTC, one more than the days): a fixed offset
    per day, except on a day with a clock change, which converts each time through the zone."""
    offsets = [booking.to_local(moment, zone).utcoffset() for moment in day_starts]
    last = len(day_starts) - 1

    def local(moment: datetime) -> datetime:
        index = bisect_right(day_starts, moment) - 1
        if 0 <= index < last and offsets[index] == offsets[index + 1]:
            return (moment + offsets[index]).replace(tzinfo=None)
        return booking.to_local(moment, zone).replace(tzinfo=None)

    return local


def _sessions(therapist: Therapist, start: datetime, end: datetime, *, cancelled: bool = True) -> list[Appointment]:
    """The therapist's sessions starting in [start, end), with their clients, in one query each."""
    statement = (
        select(Appointment)
        .filter_by(therapist_id=therapist.id)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .options(selectinload(Appointment.client))
        .order_by(Appointment.starts_at)
    )
    if not cancelled:
        statement = statement.where(Appointment.status == SessionStatus.SCHEDULED)
    return list(db.session.scalars(statement))


@dataclass(slots=True)
class DaySession:
    """A session as Today lists it: only the columns shown, its local times worked out once."""

    id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    confirmed_at: datetime | None
    attendance: str | None
    client_id: int
    client_name: str
    client_archived: bool
    start: str = ""  # "09:00", local
    end: str = ""

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def attendance_label(self) -> str:
        return Appointment.ATTENDANCE.get(self.attendance or "", "")


_DAY_COLUMNS = (
    Appointment.id,
    Appointment.starts_at,
    Appointment.ends_at,
    Appointment.status,
    Appointment.confirmed_at,
    Appointment.attendance,
    Client.id,
    Client.name,
    Client.archived_at.is_not(None),
)


def _day_sessions(therapist: Therapist, *conditions, limit: int | None = None) -> list[DaySession]:
    statement = (
        select(*_DAY_COLUMNS)
        .join(Client, Client.id == Appointment.client_id)
        .where(Appointment.therapist_id == therapist.id, *conditions)
        .order_by(Appointment.starts_at)
        .limit(limit)
    )
    return [DaySession(*row) for row in db.session.execute(statement).tuples()]


@dataclass
class Today:
    sessions: list[DaySession]  # the ones shown: all of the day's, or DAY_LIMIT of them around now
    next_session: DaySession | None
    next_is_today: bool
    in_rooms: list[RoomParticipant]
    has_clients: bool
    has_sessions: bool
    total: int = 0  # the day's sessions, shown or not
    earlier: int = 0  # not shown, before the first shown

    @property
    def later(self) -> int:
        """Not shown, after the last shown."""
        return self.total - self.earlier - len(self.sessions)


@cache
def _today_statement():
    """The day's sessions (day_start to day_end) on both sides of `at`: the last `per_side` that ended by then and
    the first `per_side` that did not, each row with the day's count and how many of them ended. A day of a hundred
    sessions reads no more rows than a day of forty. Built once, with parameters (see _week_statement)."""
    on_day = (
        Appointment.therapist_id == bindparam("therapist"),
        Appointment.starts_at >= bindparam("day_start"),
        Appointment.starts_at < bindparam("day_end"),
    )
    ended = Appointment.ends_at <= bindparam("at")
    counts = (
        select(func.count()).select_from(Appointment).where(*on_day).scalar_subquery().label("day_count"),
        select(func.count()).select_from(Appointment).where(*on_day, ended).scalar_subquery().label("day_ended"),
    )
    sides = []
    for side, order in ((ended, Appointment.starts_at.desc()), (~ended, Appointment.starts_at)):
        rows = (
            select(*_DAY_COLUMNS, *counts)
            .join(Client, Client.id == Appointment.client_id)
            .where(*on_day, side)
            .order_by(order, Appointment.id)
            .limit(bindparam("per_side"))
            .subquery()
        )
        sides.append(select(*rows.c))
    return union_all(*sides).order_by("starts_at", "id")


def around(sessions: list, at: datetime, limit: int | None) -> tuple[list, int]:
    """At most `limit` of the day's sessions (in order): the last EARLIER_SHOWN that ended by `at` and the ones after,
    or the last `limit` late in the day. Returns them and how many come before them."""
    if limit is None or len(sessions) <= limit:
        return sessions, 0
    current = next((n for n, s in enumerate(sessions) if s.ends_at > at), len(sessions))
    first = max(0, min(current - EARLIER_SHOWN, len(sessions) - limit))
    return sessions[first : first + limit], first


def today(therapist: Therapist, at: datetime | None = None, limit: int | None = DAY_LIMIT) -> Today:
    """Today's sessions in the therapist's zone (at most `limit`, around `at`), the next one to come, and who is in
    a room now."""
    at = at or utcnow()
    day = local_today(therapist, at)
    day_starts = [local_midnight_utc(day, therapist), local_midnight_utc(day + timedelta(days=1), therapist)]
    values = {"day_start": day_starts[0], "day_end": day_starts[1], "at": at}
    rows = db.session.execute(
        _today_statement(), {"therapist": therapist.id, "per_side": limit or NO_LIMIT, **values}
    ).all()
    nearby = [DaySession(*row[:-2]) for row in rows]  # each row ends with the day's count and how many ended
    total, ended = rows[0][-2:] if rows else (0, 0)
    # At most `limit` either side of now: `around` takes the same ones from these as from the whole day.
    sessions, earlier = around(nearby, at, limit)
    earlier += ended - sum(1 for s in nearby if s.ends_at <= at)
    local, locale = _local_clock(therapist.zone, day_starts), formats.current_locale()
    for session in sessions:  # only the ones shown
        session.start = formats.clock(local(session.starts_at), locale)
        session.end = formats.clock(local(session.ends_at), locale)
    upcoming = next((s for s in nearby if not s.is_cancelled and s.starts_at > at), None)
    if upcoming is None:  # the next session may be later (after `limit` cancelled ones) or on another day
        upcoming = next(
            iter(
                _day_sessions(
                    therapist, Appointment.status == SessionStatus.SCHEDULED, Appointment.starts_at > at, limit=1
                )
            ),
            None,
        )
    next_is_today = upcoming is not None and upcoming.starts_at < day_starts[1]
    if next_is_today and not upcoming.start:  # not shown: its time for the countdown
        upcoming.start = formats.clock(local(upcoming.starts_at), locale)
    # Read only (no expiring of stale visits on a GET): visitors still polling within the last 30 s.
    in_rooms = list(
        db.session.scalars(
            select(RoomParticipant)
            .filter_by(therapist_id=therapist.id)
            .where(
                RoomParticipant.status.in_([ParticipantStatus.IN_ROOM, ParticipantStatus.WAITING]),
                RoomParticipant.role != rooms.THERAPIST,
                RoomParticipant.last_seen >= at - rooms.STALE_AFTER,
            )
            .order_by(RoomParticipant.joined_at)
        )
    )
    has_sessions = (
        bool(total)
        or upcoming is not None
        or db.session.scalar(select(Appointment.id).filter_by(therapist_id=therapist.id).limit(1)) is not None
    )
    has_clients = (
        has_sessions or db.session.scalar(select(Client.id).filter_by(therapist_id=therapist.id).limit(1)) is not None
    )
    return Today(sessions, upcoming, next_is_today, in_rooms, has_clients, has_sessions, total, earlier)


def countdown(until: datetime, at: datetime) -> str:
    """ "in 1 h 05 min", "in 12 min", "in 3 days" """
    minutes = max(0, int((until - at).total_seconds() // 60))
    if minutes >= 48 * 60:
        return f"in {minutes // (24 * 60)} days"
    if minutes >= 60:
        return f"in {minutes // 60} h {minutes % 60:02d} min"
    return "in less than a minute" if minutes == 0 else f"in {minutes} min"


# The week grid


@dataclass(slots=True)
class Block:
    """A session as the week shows it, its local times worked out once (the grid and the day list share it)."""

    id: int
    client_name: str
    day: date
    times: str  # "09:00–09:50", local
    confirmed: bool
    first: int  # half-hour index from local midnight where it starts
    after: int  # half-hour index after its end
    url: str = ""  # the session page, filled in by the view (one link per block, in the grid and the day list)
    more: int = 0  # not a session: stands for this many of the day's sessions not drawn (over DAY_LIMIT)


@dataclass
class Cell:
    """One half-hour of one day: empty (a slot to book) or the first of the rows a group of sessions covers."""

    day: date
    start: time
    sessions: list[Block] = field(default_factory=list)
    rows: int = 1
    covered: bool = False  # under a session that started in an earlier row
    past: bool = False  # over already: nothing to book


@dataclass
class Week:
    first_day: date  # the locale's first day of the week: Monday (en_GB, cs) or Sunday (en_US)
    days: list[date]
    hours: list[time]  # the half-hours shown, local time
    rows: list[list[Cell]]  # rows[half-hour][day]
    by_day: dict[date, list[Block]]
    today: date
    locale: str  # what names the days and times

    @property
    def labels(self) -> list[str]:
        """ "Tue 1 Jun" ("Tue, Jun 1") for each day in the locale, as the grid's head and its slots name them."""
        return [formats.day(day, locale=self.locale) for day in self.days]

    @property
    def clocks(self) -> list[str]:
        """ "09:30" ("9:30 AM") for each half-hour row in the locale, as the time column and the slots name them."""
        return [formats.clock(hour, self.locale) for hour in self.hours]

    @property
    def slot_times(self) -> list[str]:
        """ "09:30" for each half-hour row, as the booking form's time field takes it."""
        return [hour.strftime("%H:%M") for hour in self.hours]

    @property
    def previous(self) -> date:
        return self.first_day - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.first_day + timedelta(days=7)


# Dates a week or an export may ask for: far enough from date.min/date.max that a week either side exists.
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


def week_start(day: date, locale: str | None = None) -> date:
    """The first day of the week holding `day`, as the locale counts weeks (formats.first_weekday)."""
    return day - timedelta(days=(day.weekday() - formats.first_weekday(locale)) % 7)


NO_LIMIT = 2**31 - 1  # rows a day, as a LIMIT both databases take


@cache
def _week_statement():
    """The week's sessions: only the columns it shows, as plain rows, and of each day (start0 to start7) only the first
    `per_day`, each with its day's count and last end. A day of a hundred sessions costs the page no more than a day
    of twenty: one statement, a union of seven days, where the index on (therapist, starts_at) finds each day's first
    rows and stops. Built once, with parameters: building and keying a statement of seven parts costs more than
    running it."""
    mine = (
        Appointment.therapist_id == bindparam("therapist"),
        Appointment.status == SessionStatus.SCHEDULED,
    )
    days = []
    for n in range(7):
        on_day = (
            *mine,
            Appointment.starts_at >= bindparam(f"start{n}"),
            Appointment.starts_at < bindparam(f"start{n + 1}"),
        )
        day = (
            select(
                Appointment.id,
                Appointment.starts_at,
                Appointment.ends_at,
                Appointment.confirmed_at,
                Client.name,
                select(func.count()).select_from(Appointment).where(*on_day).scalar_subquery().label("day_count"),
                select(func.max(Appointment.ends_at)).where(*on_day).scalar_subquery().label("day_end"),
            )
            .join(Client, Client.id == Appointment.client_id)
            .where(*on_day)
            .order_by(Appointment.starts_at, Appointment.id)
            .limit(bindparam("per_day"))
            .subquery()
        )
        days.append(select(*day.c))
    return union_all(*days).order_by("starts_at", "id")


def _span(start: datetime, end: datetime) -> tuple[int, int]:
    """The half-hour rows from local `start` to local `end`: its first and the one after, at most midnight."""
    first = start.hour * 2 + start.minute // 30
    end_minutes = (end.date() - start.date()).days * 24 * 60 + end.hour * 60 + end.minute
    return first, min(48, max(first + 1, -(-end_minutes // 30)))


def week(
    therapist: Therapist,
    any_day: date,
    at: datetime | None = None,
    locale: str | None = None,
    limit: int | None = DAY_LIMIT,
) -> Week:
    """The week holding `any_day`, starting on the locale's first day (default: the current locale, which is the
    therapist's): scheduled sessions on a 07:00–21:00 grid, widened for earlier or later ones. A day with more than
    `limit` sessions draws its first `limit` and one block for the rest ("+N more", Block.more)."""
    at = at or utcnow()
    first_day = week_start(min(max(any_day, EARLIEST), LATEST), locale)
    days = [first_day + timedelta(days=n) for n in range(7)]
    day_starts = [local_midnight_utc(first_day + timedelta(days=n), therapist) for n in range(8)]
    values = {f"start{n}": moment for n, moment in enumerate(day_starts)}
    rows_ = db.session.execute(
        _week_statement(), {"therapist": therapist.id, "per_day": NO_LIMIT if limit is None else limit + 1, **values}
    ).tuples()
    local, locale = _local_clock(therapist.zone, day_starts), locale or formats.current_locale()  # once a page
    blocks = []
    drawn = 0  # of the day, so far
    for id_, starts_at, ends_at, confirmed_at, name, count, last_end in rows_:
        start = local(starts_at)
        drawn = 1 if not blocks or blocks[-1].day != start.date() else drawn + 1
        if limit is not None and drawn > limit:  # the first not drawn: one block from its start to the day's last end
            blocks.append(Block(0, "", start.date(), "", False, *_span(start, local(last_end)), more=count - limit))
            continue
        end = local(ends_at)
        times = f"{formats.clock(start, locale)}–{formats.clock(end, locale)}"
        blocks.append(Block(id_, name, start.date(), times, confirmed_at is not None, *_span(start, end)))
    low = min([WEEK_FIRST_HOUR * 2, *(b.first for b in blocks)])
    high = max([WEEK_LAST_HOUR * 2, *(b.after for b in blocks)])
    hours = [time(index // 2, (index % 2) * 30) for index in range(low, high)]
    now_local = local(at)
    rows = [[Cell(day, hour, past=datetime.combine(day, hour) + SLOT <= now_local) for day in days] for hour in hours]
    by_day: dict[date, list[Block]] = {day: [] for day in days}
    for block in blocks:
        by_day[block.day].append(block)
    for column, day in enumerate(days):
        todays = sorted(by_day[day], key=lambda b: b.first)
        index = 0
        while index < len(todays):
            first, after = todays[index].first, todays[index].after
            group = [todays[index]]
            index += 1
            while index < len(todays) and todays[index].first < after:  # starts under this block: same cell
                group.append(todays[index])
                after = max(after, todays[index].after)
                index += 1
            cell = rows[first - low][column]
            cell.sessions, cell.rows = group, after - first
            for below in range(first + 1, after):
                rows[below - low][column].covered = True
    return Week(first_day, days, hours, rows, by_day, now_local.date(), locale)


# Client details


def client_sessions(
    client: Client, at: datetime | None = None, count: int = 5
) -> tuple[list[Appointment], list[Appointment]]:
    """The client's next `count` sessions (soonest first) and last `count` (latest first), cancelled ones included:
    one statement for both."""
    at = at or utcnow()
    rows = db.session.scalars(_client_sessions_statement(), {"client": client.id, "at": at, "count": count}).all()
    return [a for a in rows if a.ends_at > at], [a for a in reversed(rows) if a.ends_at <= at]


@cache
def _client_sessions_statement():
    """The next `count` and the last `count` sessions of one client, soonest first. Built once, with parameters (see
    _week_statement): Client details runs it on every visit."""
    mine, at = Appointment.client_id == bindparam("client"), bindparam("at")
    sides = []  # the next ones, soonest first, and the last ones, latest first (as in _today_statement)
    for side, order in (
        (Appointment.ends_at > at, Appointment.starts_at),
        (Appointment.ends_at <= at, Appointment.starts_at.desc()),
    ):
        rows = select(Appointment.id).where(mine, side).order_by(order).limit(bindparam("count")).subquery()
        sides.append(select(rows.c.id))
    chosen = union_all(*sides)
    return select(Appointment).where(Appointment.id.in_(chosen)).order_by(Appointment.starts_at, Appointment.id)


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
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        raise Invalid(f"Choose dates between {EARLIEST.year} and {LATEST.year}.")
    if last < first:
        raise Invalid("The end date is before the start date.")
    if (last - first).days > CSV_MAX_DAYS:
        raise Invalid("Choose at most two years at a time.")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "date",
            "start",
            "end",
            "minutes",
            "time_zone",
            "client",
            "client_email",
            "status",
            "attendance",
            "confirmed_by_client",
        ]
    )
    zone = therapist.zone
    for appointment in _sessions(
        therapist, local_midnight_utc(first, therapist), local_midnight_utc(last + timedelta(days=1), therapist)
    ):
        start, end = booking.to_local(appointment.starts_at, zone), booking.to_local(appointment.ends_at, zone)
        client = appointment.client
        writer.writerow(
            [
                start.date().isoformat(),
                f"{start:%H:%M}",
                f"{end:%H:%M}",
                appointment.minutes,
                zone.key,
                safe_cell(client.name),
                safe_cell(client.email or ""),
                appointment.status,
                appointment.attendance_label,
                "yes" if appointment.confirmed_at else "",
            ]
        )
    return out.getvalue()
