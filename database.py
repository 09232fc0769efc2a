"""Database helpers the ORM does not provide."""
from sqlalchemy import text

from extensions import db


def write_lock() -> None:
    """Start a transaction that holds SQLite's write lock from its first statement (elsewhere, a plain one).

    Checking for a free time and booking it then happen with no other writer in between. pysqlite
    starts transactions lazily at the first write; an explicit BEGIN IMMEDIATE takes the lock now, and
    the driver's commit ends it as usual.
    """
    db.session.commit()  # end whatever the request had open
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("BEGIN IMMEDIATE"))
