"""Database helpers the ORM does not provide."""

import sqlite3
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from extensions import db

BOOKING_LOCKS = 1001  # advisory-lock namespace for "one therapist's calendar"


def write_lock(therapist_id: int) -> None:
    """Start a transaction in which no one else can change this therapist's calendar until it ends.

    Checking for a free time and writing it then happen with no other booking in between. SQLite:
    BEGIN IMMEDIATE takes the database's write lock now (pysqlite would begin only at the first
    write, and its commit ends the transaction as usual). PostgreSQL: a transaction-level advisory
    lock per therapist; without it, concurrent writes checked by the exclusion constraint can
    deadlock each other instead of one simply waiting.
    """
    db.session.commit()  # end whatever the request had open
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        db.session.execute(text("BEGIN IMMEDIATE"))
    elif dialect == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": BOOKING_LOCKS, "key": therapist_id}
        )


def commit(before_commit: Callable[..., object] | None = None, *args) -> None:
    """Store the session's changes, running `before_commit(*args)` between the flush and the commit: the last
    step that may still refuse the change (building the emails that announce it). If anything raises, the
    transaction rolls back and nothing is stored, so nothing can fail after the commit."""
    try:
        db.session.flush()
        if before_commit is not None:
            before_commit(*args)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Per SQLite connection: foreign keys checked (only when asked; PostgreSQL always does), and the database in
    WAL mode, synchronous=FULL kept.

    In the default rollback-journal mode every commit syncs the journal and the database file several times,
    which was a third of a booking (four commits); in WAL a commit appends to the log and syncs it once, and
    readers no longer wait for a writer. FULL keeps a commit durable through a power loss, as before: invites
    have gone out for it. (NORMAL measured no faster here.) WAL is stored in the file, so this is a no-op after
    the first connection; where it cannot be set (an in-memory database, a file system without shared memory,
    the file busy being converted) the journal stays as it was.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:  # locked by another connection converting it at the same moment
            pass
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()
