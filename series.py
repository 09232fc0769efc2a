"""Weekly sessions: a series booked once, one Appointment row per occurrence. No request objects here.

A series is one iCalendar event with an RRULE whose DTSTART is a wall-clock time in the therapist's zone,
so every session keeps its local time across clock changes. Each occurrence is also a row, so the
overlap checks (and PostgreSQL's exclusion constraint) cover every one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from flask import current_app
from icalendar import vRecur
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

import booking
import reminder_state
from database import commit, write_lock
from extensions import db
from models import Appointment, Client, Series, SessionStatus, Therapist, utcnow
from validation import Invalid

MAX_SESSIONS = 52
MAX_DAYS_AHEAD = 365 * 2  # an end date at most 2 years away
REPEATS = {"weekly": 1, "biweekly": 2}  # form value: weeks between sessions
REPEAT_WORDS = {1: "weekly", 2: "every 2 weeks"}
# Why a series goes out again after "This and following" (the first sentence of its email).
ENDS_EARLIER = "This series now ends earlier: the later sessions were moved or cancelled."
MOVED_AWAY = "These sessions have moved; a new invite for their new time follows."


@dataclass
class Occurrence:
    """One session of a planned series: its time, and what it overlaps (if anything)."""

    index: int  # 1-based
    local: datetime  # wall-clock start in the therapist's zone
    starts_at: datetime  # aware UTC
    ends_at: datetime
    conflict: Appointment | None = None
    skipped: bool = False
    shifted_from: datetime | None = None  # the rule's wall-clock time, when the clocks skip it (see wall_to_utc)
    # Moving "this and following" (plan_following): the session that moves to this time, or None where the
    # series holds no session now (skipped or cancelled before), which stays left out.
    row: Appointment | None = None

    @property
    def key(self) -> str:
        """How the form names this occurrence (its date in the rule): the skip checkboxes' value."""
        return (self.shifted_from or self.local).date().isoformat()


@dataclass
class Plan:
    """A series as entered, expanded: every occurrence, with overlaps found and skips applied."""

    therapist: Therapist
    client: Client
    first: datetime  # wall-clock start of the first session, therapist's zone
    minutes: int
    interval: int  # weeks
    count: int | None
    until: date | None
    occurrences: list[Occurrence] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return self.therapist.zone

    @property
    def booked(self) -> list[Occurrence]:
        return [o for o in self.occurrences if not o.skipped]

    @property
    def conflicts(self) -> list[Occurrence]:
        return [o for o in self.occurrences if o.conflict is not None]

    @property
    def unresolved(self) -> list[Occurrence]:
        """Overlapping occurrences the therapist has not chosen to skip."""
        return [o for o in self.conflicts if not o.skipped]

    def rule(self) -> str:
        """The RRULE: COUNT for "after N sessions", UNTIL (the last start, in UTC) for "on a date"."""
        parts = {"FREQ": "WEEKLY"}
        if self.interval != 1:
            parts["INTERVAL"] = self.interval
        if self.count is not None:
            parts["COUNT"] = self.count
        else:
            parts["UNTIL"] = self.occurrences[-1].starts_at
        return vRecur(parts).to_ical().decode()

    def describe(self) -> str:
        return describe_rule(
            self.interval, self.first, len(self.booked), self.booked[-1].local if self.booked else None
        )

    def clock_jumps(self) -> list[str]:
        """Sessions whose time the clocks skip, at the time calendars will show them (RFC 5545: the offset before
        the jump): "Sun 28 Mar: 03:30 instead of 02:30 (the clocks go forward)"."""
        return [
            f"{o.local:%a %-d %b}: {o.local:%H:%M} instead of {o.shifted_from:%H:%M} (the clocks go forward)"
            for o in self.booked
            if o.shifted_from is not None
        ]

    def client_time_moves(self) -> list[str]:
        """Where the client's local time differs from their usual one because the zones change clocks on
        different dates: "15–29 Mar: 09:00 for Jordan instead of 10:00"."""
        zone = self.client.zone
        if zone.key == self.zone.key:
            return []
        times = [(o, booking.to_local(o.starts_at, zone).strftime("%H:%M")) for o in self.booked]
        if not times:
            return []
        usual = Counter(t for _, t in times).most_common(1)[0][0]
        runs: list[list] = []
        for occurrence, at in times:
            if at == usual:
                continue
            if runs and runs[-1][2] == at and runs[-1][1].index == occurrence.index - 1:
                runs[-1][1] = occurrence
            else:
                runs.append([occurrence, occurrence, at])
        name = self.client.name.split()[0]
        lines = []
        for first, last, at in runs:
            if first is last:
                days = f"{first.local:%-d %b}"
            elif first.local.month == last.local.month:
                days = f"{first.local:%-d}–{last.local:%-d %b}"
            else:
                days = f"{first.local:%-d %b}–{last.local:%-d %b}"
            lines.append(f"{days}: {at} for {name} instead of {usual}")
        return lines


def describe_rule(interval: int, first: datetime, sessions: int, last: datetime | None) -> str:
    """ "Weekly on Tuesdays at 10:00, 12 sessions, until 16 Feb" (times in the therapist's zone)."""
    how = "Weekly" if interval == 1 else f"Every {interval} weeks"
    text = f"{how} on {first:%A}s at {first:%H:%M}, {sessions} session{'s' if sessions != 1 else ''}"
    if last is not None:
        text += f", until {last:%-d %b}" + (f" {last:%Y}" if last.year != first.year else "")
    return text


def wall_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time of a series' rule as every calendar reads it (RFC 5545, 3.3.5): of a time that happens
    twice, the first; a time the clocks skip, with the offset before the jump (02:30 becomes 03:30), as a moment (aware UTC)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def _occurrence(index: int, wall: datetime, zone: ZoneInfo, minutes: int) -> Occurrence:
    starts_at = wall_to_utc(wall, zone)
    local = booking.to_local(starts_at, zone).replace(tzinfo=None)
    return Occurrence(
        index, local, starts_at, starts_at + timedelta(minutes=minutes), shifted_from=wall if local != wall else None
    )


def _skip_keys(raw) -> frozenset[str]:
    return frozenset(str(value)[:10] for value in raw or ())


def plan(
    therapist: Therapist,
    client: Client,
    day: date,
    at: time,
    minutes: int,
    interval: int,
    *,
    count: int | None = None,
    until: date | None = None,
    skip=(),
) -> Plan:
    """Validate a series and expand it into its sessions, each checked for overlaps; raise Invalid with a
    message for the page when it cannot be booked as entered."""
    if interval not in REPEAT_WORDS:
        raise Invalid("Choose how often the session repeats.")
    booking.slot(therapist, day, at, minutes)  # the first session: length, not in the past, within reach
    step = timedelta(weeks=interval)
    if count is None and until is None:
        raise Invalid("Choose when the series ends: after a number of sessions, or on a date.")
    if count is not None:
        if count < 2:
            raise Invalid("A series has at least 2 sessions. Choose Does not repeat for one session.")
        if count > MAX_SESSIONS:
            raise Invalid(f"A series can have at most {MAX_SESSIONS} sessions.")
        days = [day + step * k for k in range(count)]
    else:
        if until < day:
            raise Invalid("The series ends before it starts. Choose an end date after the first session.")
        if until > utcnow().date() + timedelta(days=MAX_DAYS_AHEAD):
            raise Invalid("Choose an end date within the next 2 years.")
        weeks = (until - day).days // 7 // interval + 1
        if weeks > MAX_SESSIONS:
            raise Invalid(
                f"That end date makes {weeks} sessions; a series can have at most {MAX_SESSIONS}. "
                "Choose an earlier end date."
            )
        if weeks < 2:
            raise Invalid("This end date leaves only one session. Choose a later date, or Does not repeat.")
        days = [day + step * k for k in range(weeks)]
    zone = therapist.zone
    skipped = _skip_keys(skip)
    result = Plan(therapist, client, datetime.combine(day, at), minutes, interval, count, until)
    for index, each in enumerate(days, 1):  # the first was checked above: a time the clocks skip is refused there
        occurrence = _occurrence(index, datetime.combine(each, at), zone, minutes)
        occurrence.skipped = occurrence.key in skipped
        result.occurrences.append(occurrence)
    find_conflicts(result)
    return result


def find_conflicts(series_plan: Plan, ignore: set[int] = frozenset()) -> None:
    """Mark each occurrence that overlaps a scheduled session of the therapist (one query for all)."""
    occurrences = series_plan.occurrences
    if not occurrences:
        return
    others = db.session.scalars(
        select(Appointment)
        .where(
            Appointment.therapist_id == series_plan.therapist.id,
            Appointment.status == SessionStatus.SCHEDULED,
            Appointment.starts_at < occurrences[-1].ends_at,
            Appointment.ends_at > occurrences[0].starts_at,
        )
        .options(joinedload(Appointment.client))
        .order_by(Appointment.starts_at)
    ).all()
    others = [other for other in others if other.id not in ignore]
    for occurrence in occurrences:
        occurrence.conflict = next(
            (o for o in others if o.starts_at < occurrence.ends_at and o.ends_at > occurrence.starts_at), None
        )


def conflict_message(series_plan: Plan) -> str | None:
    """Why this plan cannot be booked as it stands (overlaps not skipped, or nothing left), else None."""
    zone = series_plan.zone.key
    if series_plan.conflicts and len(series_plan.conflicts) == len(series_plan.occurrences):
        names = "; ".join(_overlap(o, zone) for o in series_plan.conflicts[:5])
        return f"Every session of this series overlaps another session ({names}). Choose another time."
    if not series_plan.booked:
        return "Every session is skipped. Keep at least one, or choose another time."
    if unresolved := series_plan.unresolved:
        names = "; ".join(_overlap(o, zone) for o in unresolved[:5])
        more = f" and {len(unresolved) - 5} more" if len(unresolved) > 5 else ""
        return (
            f"{len(unresolved)} of these sessions overlap other sessions ({names}{more}). "
            "Skip them below, or choose another time."
        )
    return None


def _overlap(occurrence: Occurrence, zone: str) -> str:
    other = occurrence.conflict
    return f"{occurrence.local:%a %-d %b} with {other.client.short_name}, " + booking.time_range(
        other.starts_at, other.ends_at, zone, ""
    )


def existing(therapist: Therapist, booking_key: str) -> Series | None:
    """The series this form already booked, when the same form arrives again."""
    if not booking_key or not booking.BOOKING_KEY.fullmatch(booking_key):
        return None
    return db.session.scalar(select(Series).filter_by(therapist_id=therapist.id, booking_key=booking_key))


def book(
    series_plan: Plan, booking_key: str | None = None, *, before_commit: Callable[[Series], object] | None = None
) -> tuple[Series, bool]:
    """Store the series and a row for every session not skipped, all in one commit or none.

    Overlaps are checked again under the therapist's write lock (and, on PostgreSQL, by the exclusion
    constraint for each row). Returns the series and whether this call made it. `before_commit(series)`
    runs with every row written but not committed (the view builds the invite there): if it raises,
    nothing is booked.
    """
    therapist, client = series_plan.therapist, series_plan.client
    booking.check_client(client)
    write_lock(therapist.id)
    if booked := existing(therapist, booking_key or ""):
        db.session.commit()
        return booked, False
    find_conflicts(series_plan)
    if problem := conflict_message(series_plan):
        db.session.rollback()
        raise Invalid(problem)
    organizer = current_app.config["MAIL_DEFAULT_SENDER"]
    series = Series(
        therapist_id=therapist.id,
        client_id=client.id,
        uid=booking.new_uid(),
        rule=series_plan.rule(),
        starts_local=series_plan.first,
        timezone=series_plan.zone.key,
        minutes=series_plan.minutes,
        organizer=organizer,
        booking_key=booking_key or None,
    )
    db.session.add(series)
    for occurrence in series_plan.booked:
        db.session.add(
            booking.new_appointment(
                therapist,
                client,
                occurrence.starts_at,
                occurrence.ends_at,
                recurrence_id=occurrence.starts_at,
                series=series,
                organizer=organizer,
            )
        )
    try:
        commit(before_commit, series)
    except IntegrityError:
        if booked := existing(therapist, booking_key or ""):
            return booked, False
        find_conflicts(series_plan)
        raise Invalid(conflict_message(series_plan) or "Another session was booked at one of these times.") from None
    return series, True


# A series as stored


def interval(series: Series) -> int:
    return int(vRecur.from_ical(series.rule).get("INTERVAL", [1])[0])


def starts(series: Series) -> list[datetime]:
    """Every start the series' rule gives (aware UTC), including those skipped or cancelled."""
    zone = series.zone
    rule = rrulestr(series.rule, dtstart=series.starts_local.replace(tzinfo=zone))
    return [moment.astimezone(timezone.utc) for moment in rule]


def exdates(series: Series) -> list[datetime]:
    """Starts of the rule that are not a scheduled session of this series (skipped or cancelled): EXDATEs."""
    kept = {a.recurrence_id for a in series.appointments if a.status == SessionStatus.SCHEDULED}
    return [moment for moment in starts(series) if moment not in kept]


def label(appointment: Appointment) -> str:
    """ "3 of 12, weekly": where this session stands in its series."""
    series = appointment.series
    if series is None:
        return ""
    rows = series.appointments
    position = next((i for i, a in enumerate(rows, 1) if a.id == appointment.id), 0)
    return f"{position} of {len(rows)}, {REPEAT_WORDS.get(interval(series), 'weekly')}"


def labels(appointments: list[Appointment]) -> dict[int, str]:
    """label() for many sessions of a list at once (one query for all their series, with their rules)."""
    ids = {a.series_id for a in appointments if a.series_id}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Appointment.id, Appointment.series_id, Series.rule)
        .join(Series, Series.id == Appointment.series_id)
        .where(Appointment.series_id.in_(ids))
        .order_by(Appointment.series_id, Appointment.recurrence_id)
    ).all()
    rules: dict[int, str] = {}
    by_series: dict[int, list[int]] = {}
    for row_id, series_id, rule in rows:
        by_series.setdefault(series_id, []).append(row_id)
        rules[series_id] = rule
    result = {}
    for series_id, row_ids in by_series.items():
        words = REPEAT_WORDS.get(int(vRecur.from_ical(rules[series_id]).get("INTERVAL", [1])[0]), "weekly")
        for position, row_id in enumerate(row_ids, 1):
            result[row_id] = f"{position} of {len(row_ids)}, {words}"
    return result


def describe(series: Series) -> str:
    """The series in words, as booked: "Weekly on Tuesdays at 10:00, 12 sessions, until 16 Feb"."""
    rows = [a for a in series.appointments if a.status == SessionStatus.SCHEDULED] or series.appointments
    last = booking.to_local(rows[-1].recurrence_id, series.zone).replace(tzinfo=None) if rows else None
    return describe_rule(interval(series), series.starts_local, len(rows), last)


def cancel_series(
    series: Series,
    version: int | None = None,
    appointment: Appointment | None = None,
    *,
    before_commit: Callable[[Series], object] | None = None,
) -> Series:
    """Cancel every session of the series still ahead; the next series version is a cancellation.
    `appointment` is the session whose page asked (its version guards against a stale form);
    `before_commit(series)` runs before the change is stored, and if it raises nothing changes."""
    if appointment is not None:
        _locked(appointment, version)
    else:
        write_lock(series.therapist_id)
    db.session.refresh(series)
    now = utcnow()
    ahead = [a for a in series.appointments if a.status == SessionStatus.SCHEDULED and a.ends_at > now]
    if not ahead:
        db.session.rollback()
        raise Invalid("No session of this series is still ahead to cancel.")
    for each in ahead:
        each.status = SessionStatus.CANCELLED
        each.new_version()
        reminder_state.disarm(each)
    keep_past(series, ahead)
    series.new_version()
    commit(before_commit, series)
    return series


def keep_past(series: Series, cancelled: list[Appointment]) -> None:
    """After cancelling sessions of a series (those still ahead), end its rule before the first of them when
    sessions before it remain: re-sent ending there, it keeps those in calendars, where a CANCEL of the UID
    would remove every session, past ones too (see invites.prepare_series_end)."""
    first = min(a.recurrence_id for a in cancelled)
    if any(a.status == SessionStatus.SCHEDULED and a.recurrence_id < first for a in series.appointments):
        _split_rule(series, first)


def _split_rule(series: Series, before: datetime) -> None:
    """End the series' rule just before `before`: UNTIL one second earlier, in UTC."""
    parts = vRecur.from_ical(series.rule)
    parts.pop("COUNT", None)
    parts["UNTIL"] = [(before - timedelta(seconds=1)).astimezone(timezone.utc)]
    series.rule = vRecur(parts).to_ical().decode()


def _following(appointment: Appointment) -> list[Appointment]:
    """This session and the later ones of its series that are still scheduled."""
    return [
        a
        for a in appointment.series.appointments
        if a.recurrence_id >= appointment.recurrence_id and a.status == SessionStatus.SCHEDULED
    ]


def _locked(appointment: Appointment, version: int | None) -> Series:
    """Take the therapist's write lock and check, again under it, that the session can still change."""
    booking.changeable(appointment, version)
    write_lock(appointment.therapist_id)
    db.session.refresh(appointment)
    try:
        booking.changeable(appointment, version)
    except Invalid:
        db.session.rollback()
        raise
    return appointment.series


def cancel_following(
    appointment: Appointment, version: int | None = None, *, before_commit: Callable[[Series], object] | None = None
) -> tuple[Series, list[Appointment]]:
    """Cancel this session and the rest of its series: the series now ends before it (UNTIL). Returns the
    series and the sessions cancelled. From the first session still ahead, that is the whole series.
    `before_commit(series)` runs before the change is stored, and if it raises nothing changes."""
    series = _locked(appointment, version)
    ending = _following(appointment)
    for each in ending:
        each.status = SessionStatus.CANCELLED
        each.new_version()
        reminder_state.disarm(each)
    _split_rule(series, appointment.recurrence_id)
    series.new_version()
    commit(before_commit, series)
    return series, ending


def plan_following(appointment: Appointment, when: booking.Slot, skip=()) -> Plan:
    """This session and the rest of its series moved to the weekday, time and length of `when`: one occurrence for
    each start of the series' rule from this session on, each with the session that moves there (`row`), checked
    for overlaps with every other session (the moving sessions never count: they all leave their times).

    An overlapping occurrence whose key is in `skip` is skipped: that session is cancelled instead of moved (an
    EXDATE of the series that holds the moved ones). A start no session holds now (skipped or cancelled before)
    stays left out. The preview and reschedule_following (under the write lock) both plan with this."""
    original = appointment.series
    zone = original.zone
    moving = _following(appointment)
    by_start = {a.recurrence_id: a for a in moving}
    old_starts = [moment for moment in starts(original) if moment >= appointment.recurrence_id]
    first_local = booking.to_local(when.starts_at, zone).replace(tzinfo=None)
    minutes = int((when.ends_at - when.starts_at).total_seconds() // 60)
    weeks = interval(original)
    result = Plan(original.therapist, original.client, first_local, minutes, weeks, len(old_starts), None)
    for index, old in enumerate(old_starts):  # a later time the clocks skip moves on as calendars move it
        occurrence = _occurrence(index + 1, first_local + timedelta(weeks=weeks) * index, zone, minutes)
        occurrence.row = by_start.get(old)
        result.occurrences.append(occurrence)
    find_conflicts(result, ignore={a.id for a in moving})
    skipped = _skip_keys(skip)
    for occurrence in result.occurrences:
        if occurrence.row is None:
            occurrence.skipped, occurrence.conflict = True, None
        else:  # only an overlap can be skipped: a stale key never cancels a session that fits
            occurrence.skipped = occurrence.conflict is not None and occurrence.key in skipped
    return result


def following_problem(moved: Plan) -> str | None:
    """Why a plan_following() cannot be carried out as it stands (overlaps not skipped, or nothing left to move)."""
    if not [o for o in moved.booked if o.row is not None]:
        return (
            "Every session that would move is skipped, so nothing would be left to move. Keep at least one, "
            "choose another time, or cancel them instead (Cancel session…, This and following)."
        )
    if unresolved := moved.unresolved:
        names = "; ".join(_overlap(o, moved.zone.key) for o in unresolved[:5])
        more = f" and {len(unresolved) - 5} more" if len(unresolved) > 5 else ""
        return (
            f"The new time overlaps other sessions ({names}{more}). "
            "Skip those sessions below (they are cancelled), or choose another time."
        )
    return None


def reschedule_following(
    appointment: Appointment,
    when: booking.Slot,
    version: int | None = None,
    *,
    skip=(),
    before_commit: Callable[[Series, Series, list[Appointment]], object] | None = None,
) -> tuple[Series, list[Appointment]]:
    """Move this session and the rest of its series to the new weekday, time and length: they become a new
    series (a new UID) and the original one ends just before (UNTIL). From the series' first session, the
    whole series moves instead and keeps its UID. Every moved session is checked for overlaps, again under the
    write lock; all move or none. A session skipped (see plan_following) is cancelled in the same commit: it
    stays in the series that holds the moved sessions, at its new time, as an EXDATE.

    Returns the series that now holds the moved sessions and the sessions cancelled as skipped.
    `before_commit(original, successor, skipped)` runs before the change is stored (the two are the same series
    when the whole series moved); if it raises, nothing changes."""
    original = _locked(appointment, version)
    moved = plan_following(appointment, when, skip)
    if problem := following_problem(moved):
        db.session.rollback()
        raise Invalid(problem)
    first_local, minutes = moved.first, moved.minutes
    if any(a.recurrence_id < appointment.recurrence_id for a in original.appointments):
        successor = Series(
            therapist_id=original.therapist_id,
            client_id=original.client_id,
            uid=booking.new_uid(),
            rule=moved.rule(),
            starts_local=first_local,
            timezone=original.timezone,
            minutes=minutes,
            organizer=original.organizer,
        )
        db.session.add(successor)
    else:  # nothing of the series comes before it: the whole series moves, under its own UID (a new version)
        successor = original
        original.rule, original.starts_local, original.minutes = moved.rule(), first_local, minutes
    dropped = [o for o in moved.occurrences if o.row is not None and o.skipped]
    for occurrence in dropped:  # first: a cancelled session no longer holds its old time
        row = occurrence.row
        row.series = successor
        row.starts_at, row.ends_at, row.recurrence_id = occurrence.starts_at, occurrence.ends_at, occurrence.starts_at
        row.status = SessionStatus.CANCELLED
        row.new_version()
        reminder_state.disarm(row)
    db.session.flush()
    moves = [(o, o.row) for o in moved.booked if o.row is not None]
    if moves and moves[0][0].starts_at > moves[0][1].starts_at:
        moves.reverse()  # moving later: the last one first, so no session lands on one not yet moved
    try:
        for occurrence, row in moves:
            row.series = successor
            row.starts_at, row.ends_at = occurrence.starts_at, occurrence.ends_at
            row.recurrence_id = occurrence.starts_at
            row.new_version()
            reminder_state.rearm(row)
            db.session.flush()  # one at a time, in this order: PostgreSQL checks the exclusion constraint per row
        if successor is not original:
            _split_rule(original, appointment.recurrence_id)
        original.new_version(also=[row for _, row in moves] + [o.row for o in dropped])
        commit(before_commit, original, successor, [o.row for o in dropped])
    except IntegrityError:
        db.session.rollback()  # the database refused a moved time: nothing moves, the lock goes
        raise Invalid("Another session was booked at one of the new times. Choose another time.") from None
    return successor, [o.row for o in dropped]


def covering(series: Series) -> tuple[str, list[datetime]]:
    """A rule that gives every session the series holds, whatever their state, and the starts it gives that are
    none of them (aware UTC): how a series cancelled whole can still show each session. Its own rule may end
    before them (cancelled "this and following" from its first session)."""
    held = {a.recurrence_id for a in series.appointments}
    parts = vRecur.from_ical(series.rule)
    parts.pop("COUNT", None)
    parts["UNTIL"] = [max(held)]
    rule = vRecur(parts).to_ical().decode()
    moments = rrulestr(rule, dtstart=series.starts_local.replace(tzinfo=series.zone))
    return rule, [m for m in (m.astimezone(timezone.utc) for m in moments) if m not in held]


def cadence(interval_weeks: int, usual: datetime) -> str:
    """ "Weekly on Tuesdays at 10:00": how often, and the weekday and time of `usual` (a wall-clock start)."""
    how = "Weekly" if interval_weeks == 1 else f"Every {interval_weeks} weeks"
    return f"{how} on {usual:%A}s at {usual:%H:%M}"


@cache
def _ongoing_statement():
    """Built once (Client details runs it on every visit): only the client and the time are bound each time."""
    ahead = (
        Appointment.client_id == bindparam("client_id"),
        Appointment.status == SessionStatus.SCHEDULED,
        Appointment.ends_at > bindparam("now"),
    )
    nearest = (
        select(Appointment.series_id, func.min(Appointment.starts_at).label("starts_at"))
        .where(*ahead, Appointment.series_id.is_not(None))
        .group_by(Appointment.series_id)
        .subquery()
    )
    return (
        select(Appointment)
        .join(nearest, and_(Appointment.series_id == nearest.c.series_id, Appointment.starts_at == nearest.c.starts_at))
        .join(Appointment.series)
        .where(*ahead)
        .options(contains_eager(Appointment.series))
        .order_by(Appointment.starts_at)
    )


def ongoing(client: Client, zone: ZoneInfo) -> list[tuple[str, Appointment]]:
    """Each series of the client with a session still ahead, soonest first: its cadence in `zone` (the rule's
    time, which a one-session move leaves as it was) and its next session. One query, however many series."""
    rows = db.session.scalars(_ongoing_statement(), {"client_id": client.id, "now": utcnow()}).all()
    return [(cadence(interval(a.series), booking.to_local(a.recurrence_id, zone)), a) for a in rows]
