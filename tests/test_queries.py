"""Query discipline: each page and fragment runs the same number of SQL statements at 10 rows as at 1,000."""

from contextlib import contextmanager
from datetime import time, timedelta

from sqlalchemy import event, select

import booking
import clients
import schedule
import seed
import series
from conftest import add_session, at_midday, login, make_therapist
from extensions import db
from models import Appointment, Client, SessionStatus, utcnow


@contextmanager
def counting():
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def pages(therapist_id: int) -> dict:
    client = db.session.scalar(select(Client).filter_by(therapist_id=therapist_id).order_by(Client.id))
    appointment = db.session.scalar(select(Appointment).filter_by(therapist_id=therapist_id).order_by(Appointment.id))
    # Past the seeded two years, so that whether the slot is free never depends on the hour the test runs.
    free_day = (utcnow() + timedelta(days=400)).date()
    preview = f"/sessions/book/preview?client={client.id}&date={free_day.isoformat()}&start_time=14:00&length=50"
    return {
        "Clients list": ("/clients/", False),
        "client search": ("/clients/?q=client", True),
        "Client details": (f"/clients/{client.id}", True),
        "Sessions": ("/sessions/", False),
        "Today": ("/sessions/today", False),
        "Week": (f"/sessions/week?date={appointment.starts_at.date().isoformat()}", False),
        "Week (htmx)": (f"/sessions/week?date={(appointment.starts_at.date()).isoformat()}", True),
        "Cancelled": ("/sessions/?show=cancelled", False),
        "session page": (f"/sessions/{appointment.id}", False),
        "booking preview": (preview, True),
        "presence": (f"/room/client/{client.id}/presence", True),
        "activity": ("/account/activity", False),
    }


def statement_counts(browser, therapist) -> dict:
    login(browser, email=therapist.email)
    counts = {}
    for name, (path, htmx) in pages(therapist.id).items():
        browser.get(path, htmx=htmx)  # warm up: first visits may load what later ones reuse
        with counting() as statements:
            response = browser.get(path, htmx=htmx)
        assert response.status_code == 200, name
        counts[name] = len(statements)
    return counts


def test_statement_counts_do_not_grow_with_rows(app, client, monkeypatch):
    import security

    # "Last active" is written at most every 15 s: on a slow machine that write could land in one measured request.
    monkeypatch.setattr(security, "TOUCH_EVERY", timedelta(days=1))
    small = make_therapist(name="Small Practice", email="small@example.com")
    large = make_therapist(name="Large Practice", email="large@example.com")
    seed.add_practice(small, 10, 10)
    seed.add_practice(large, 1000, 1000)  # a hundred times larger, in the same database
    for practice in (small, large):  # so that both Cancelled lists have rows (10 sessions may have none)
        db.session.scalar(
            select(Appointment).filter_by(therapist_id=practice.id).order_by(Appointment.id.desc()).limit(1)
        ).status = SessionStatus.CANCELLED
    for practice in (small, large):  # a session later today for both: Today never looks further for the next one
        at_midday(practice)
        first = db.session.scalar(select(Client).filter_by(therapist_id=practice.id).order_by(Client.id))
        add_session(practice, first, utcnow() + timedelta(hours=2))
    # Client details names each series of the client with its next session: 1 series, or 4, in as many statements.
    add_series(small, 1)
    add_series(large, 4)
    small_counts = statement_counts(client, small)
    large_counts = statement_counts(client.__class__(app.test_client()), large)
    assert large_counts == small_counts
    assert all(count <= 12 for count in small_counts.values()), small_counts
    # Client details, on every visit: the login session with its therapist, the client with its room link, the next
    # and last sessions together, the ongoing series, the booked sessions with their invite log, and (this client
    # has a series) the positions of its sessions in their series with the series' rules.
    assert small_counts["Client details"] <= 6, small_counts


def add_series(therapist, how_many: int) -> None:
    """Weekly series for the therapist's first client, from tomorrow, each on its own weekday (seeded sessions
    in the way are skipped)."""
    first = db.session.scalar(select(Client).filter_by(therapist_id=therapist.id).order_by(Client.id))
    tomorrow = (utcnow() + timedelta(days=1)).date()
    for n in range(how_many):
        day = tomorrow + timedelta(days=n)
        plan = series.plan(therapist, first, day, time(7, 5), 20, 1, count=4)
        plan = series.plan(therapist, first, day, time(7, 5), 20, 1, count=4, skip=[o.key for o in plan.conflicts])
        series.book(plan)


def a_day_of(therapist, sessions: int) -> None:
    """`sessions` sessions today, spread over the local day, and as many tomorrow, among 5 clients:
    past ones (with attendance forms on Today), coming ones, cancelled, confirmed, marked, an archived client."""
    at_midday(therapist)
    people = [clients.add(therapist, name=f"Client {n}", email=f"client{n}@example.com") for n in range(5)]
    people[-1].archived_at = utcnow()
    midnight = schedule.local_midnight_utc(schedule.local_today(therapist), therapist)
    for day in (0, 1):
        for n in range(sessions):
            starts_at = midnight + timedelta(days=day) + (n + 0.5) * timedelta(days=1) / sessions
            db.session.add(
                Appointment(
                    therapist_id=therapist.id,
                    client_id=people[n % 5].id,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=9),
                    uid=booking.new_uid(),
                    status=SessionStatus.CANCELLED if n % 7 == 3 else SessionStatus.SCHEDULED,
                    confirmed_at=utcnow() if n % 3 == 1 else None,
                    attendance="attended" if n % 4 == 2 and starts_at < utcnow() else None,
                )
            )
    db.session.commit()


def test_today_and_week_statement_counts_do_not_grow_with_the_sessions_of_the_day(app, client, monkeypatch):
    """Two sessions a day against 140 (the large bench practice's day): Today and the week run the same statements."""
    import security

    monkeypatch.setattr(security, "TOUCH_EVERY", timedelta(days=1))
    quiet = make_therapist(name="Quiet Practice", email="quiet@example.com")
    busy = make_therapist(name="Busy Practice", email="busy@example.com")
    a_day_of(quiet, 2)
    a_day_of(busy, 140)
    screens = {
        "Today": ("/sessions/today", False),
        "Today (htmx)": ("/sessions/today", True),
        "Week": ("/sessions/week", False),
        "Week (htmx)": ("/sessions/week", True),
    }
    counts = {}
    for therapist, browser in ((quiet, client), (busy, client.__class__(app.test_client()))):
        login(browser, email=therapist.email)
        for name, (path, htmx) in screens.items():
            browser.get(path, htmx=htmx)
            with counting() as statements:
                response = browser.get(path, htmx=htmx)
            assert response.status_code == 200, name
            counts.setdefault(name, []).append(len(statements))
        page = browser.get("/sessions/today").get_data(as_text=True)
        assert page.count("Start session</a>") >= 1 and page.count('name="attendance" value="attended"') >= 1
    assert all(quiet_count == busy_count for quiet_count, busy_count in counts.values()), counts


def test_client_search_reads_only_the_matches_on_sqlite(app, therapist):
    """The FTS5 matches are fetched by id; walking all the therapist's clients would grow with the practice."""
    import clients

    if db.engine.dialect.name != "sqlite":
        return  # PostgreSQL's planner chooses by table statistics; bench/RESULTS.md shows it flat
    seed.add_practice(therapist, 200, 0)  # no ANALYZE: SQLite apps seldom have statistics
    statement = select(Client.id).where(clients._substring(therapist, "jane")).order_by(Client.name, Client.id)
    compiled = statement.compile(db.engine)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup)
    plan = " ".join(
        row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), parameters)
    )
    assert "ix_clients_therapist" not in plan and "SCAN clients " not in plan, plan
