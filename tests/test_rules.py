"""The rules the database itself keeps: each is broken through plain SQL and refused, on SQLite and PostgreSQL.

Every case runs the same statement twice: with an allowed value it succeeds (so the SQL is right),
with a forbidden one the database refuses it.
"""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, StatementError

import booking
import clients
import rooms
from conftest import make_therapist
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, InviteDelivery, Reminder, Series

# (what is tried, SQL with :value, allowed value, forbidden value); ids come from the `world` fixture.
CASES = [
    (
        "a session for another therapist's client",
        "UPDATE appointments SET therapist_id = :value WHERE id = :session",
        "dana",
        "olga",
    ),
    (
        "a new session mixing two practices",
        "INSERT INTO appointments (therapist_id, client_id, starts_at, ends_at, status, uid, sequence, created_at, "
        "updated_at, time_set_at) VALUES (:value, :jane, :later, :later_end, 'scheduled', 'sql-uid', 0, :later, :later, "
        ":later)",
        "dana",
        "olga",
    ),
    (
        "a room visit mixing two practices",
        "UPDATE room_participants SET therapist_id = :value WHERE id = :visit",
        "dana",
        "olga",
    ),
    (
        "a session status outside the list",
        "UPDATE appointments SET status = :value WHERE id = :session",
        "cancelled",
        "archived",
    ),
    (
        "a session that ends when it starts",
        "UPDATE appointments SET ends_at = starts_at + :value WHERE id = :session",
        "minute",
        "zero",
    ),
    (
        "an invite role outside the list",
        "UPDATE invite_deliveries SET role = :value WHERE id = :delivery",
        "therapist",
        "stranger",
    ),
    (
        "an invite method outside the list",
        "UPDATE invite_deliveries SET method = :value WHERE id = :delivery",
        "CANCEL",
        "PUBLISH",
    ),
    (
        "an invite status outside the list",
        "UPDATE invite_deliveries SET status = :value WHERE id = :delivery",
        "failed",
        "bounced",
    ),
    (
        "a visitor role outside the list",
        "UPDATE room_participants SET role = :value WHERE id = :visit",
        "client",
        "admin",
    ),
    (
        "a visit status outside the list",
        "UPDATE room_participants SET status = :value WHERE id = :visit",
        "left",
        "gone",
    ),
    (
        "an attendance mark outside the list",
        "UPDATE appointments SET attendance = :value WHERE id = :session",
        "no_show",
        "excused",
    ),
    (
        "a reminder kind outside the list",
        "UPDATE reminders SET kind = :value WHERE id = :reminder",
        "1h",
        "2h",
    ),
    (
        "a reminder status outside the list",
        "UPDATE reminders SET status = :value WHERE id = :reminder",
        "dropped",
        "lost",
    ),
    (
        "a calendar delivery outside the list",
        "UPDATE therapists SET calendar_delivery = :value WHERE id = :dana",
        "feed",
        "fax",
    ),
]


def make_world() -> dict:
    """Dana with a client, a session, an invite and a room visit; Olga, another therapist."""
    dana = make_therapist()
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    session = booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(9, 0), 50))
    delivery = InviteDelivery(
        appointment_id=session.id,
        role="client",
        recipient="jane@example.com",
        method="REQUEST",
        sequence=0,
        status="sent",
    )
    reminder = Reminder(
        appointment_id=session.id, kind="24h", starts_at=session.starts_at, status="sent", recipient=jane.email
    )
    db.session.add_all([delivery, reminder])
    db.session.commit()
    visit = rooms.join(rooms.client_room(jane), dana, rooms.THERAPIST, "Dana", jane)
    later = stored(session.starts_at + timedelta(days=1))
    return {
        "dana": dana.id,
        "olga": olga.id,
        "jane": jane.id,
        "session": session.id,
        "delivery": delivery.id,
        "reminder": reminder.id,
        "visit": visit.id,
        "later": later,
        "later_end": later + timedelta(minutes=50),
    }


def stored(moment: datetime) -> datetime:
    """A moment as the columns hold it (naive UTC): what raw SQL, which bypasses UTCDateTime, must bind."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def interval(word: str):
    return {"minute": timedelta(minutes=1), "zero": timedelta(0)}[word]


def attempt(world: dict, statement: str, value: str) -> None:
    params = {**world, "value": world.get(value, value)}
    sql = statement
    if ":value" in statement and value in ("minute", "zero"):
        # Date arithmetic differs between the databases: compute the new end in Python instead.
        starts_at = db.session.get(Appointment, world["session"]).starts_at
        sql, params["value"] = (
            "UPDATE appointments SET ends_at = :value WHERE id = :session",
            stored(starts_at + interval(value)),
        )
    try:
        db.session.execute(text(sql), params)
        db.session.flush()
    finally:
        db.session.rollback()


def check_rule(world: dict, case) -> None:
    what, statement, allowed, forbidden = case
    attempt(world, statement, allowed)  # the statement itself is fine
    with pytest.raises(IntegrityError):
        attempt(world, statement, forbidden)
        pytest.fail(f"the database accepted {what}")


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_the_database_refuses(app, case):
    check_rule(make_world(), case)


def test_updated_at_moves_whenever_a_session_changes(app):
    """Set by the column's onupdate, not by each domain function remembering to."""
    world = make_world()
    long_ago = datetime(2000, 1, 1)
    db.session.execute(text("UPDATE appointments SET updated_at = :t WHERE id = :session"), {**world, "t": long_ago})
    db.session.commit()
    session = db.session.get(Appointment, world["session"])
    booking.cancel(session)
    assert session.updated_at > datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_a_naive_datetime_is_refused_and_every_moment_reads_back_aware_utc(app):
    """A local `datetime.now()` stored as if it were UTC would shift every session by the server's offset:
    UTCDateTime refuses a naive value through the ORM and through Core, stores an aware one as its UTC moment,
    and reads each back aware."""
    world = make_world()
    session = db.session.get(Appointment, world["session"])
    naive = datetime(2031, 1, 7, 9, 0)
    session.confirmed_at = naive
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.execute(update(Appointment).where(Appointment.id == world["session"]).values(confirmed_at=naive))
    db.session.rollback()

    prague = datetime(2031, 1, 7, 10, 0, tzinfo=ZoneInfo("Europe/Prague"))  # 09:00 UTC in winter
    session = db.session.get(Appointment, world["session"])
    session.confirmed_at = prague
    db.session.commit()
    db.session.expire_all()
    raw = db.session.execute(text("SELECT confirmed_at FROM appointments WHERE id = :id"), {"id": session.id}).scalar()
    assert str(raw).startswith("2031-01-07 09:00:00")  # stored as the UTC moment, without an offset
    read = db.session.get(Appointment, world["session"])
    assert read.confirmed_at == prague and read.confirmed_at.utcoffset() == timedelta(0)
    assert all(moment.tzinfo is not None for moment in (read.starts_at, read.ends_at, read.created_at, read.updated_at))
    with pytest.raises(ValueError, match="needs its zone"):
        booking.to_local(naive, ZoneInfo("Europe/Prague"))  # would read it in the server's zone


def test_a_wall_clock_time_refuses_a_zone_and_sql_may_add_an_interval_to_a_moment(app):
    """A series' local start is a time on the clock: an aware value would lose its offset on SQLite and shift on
    PostgreSQL, so it is refused. An interval added in SQL is no moment and binds as the database's own type."""
    world = make_world()
    with pytest.raises(StatementError, match="without a zone"):
        db.session.execute(update(Series).values(starts_local=datetime(2031, 1, 7, 9, 0, tzinfo=timezone.utc)))
    db.session.rollback()
    longer = select(Appointment.id).where(Appointment.ends_at > Appointment.starts_at + timedelta(minutes=5))
    found = db.session.scalars(longer).all()
    if db.engine.dialect.name == "postgresql":  # SQLite has no interval arithmetic to check
        assert found == [world["session"]]
