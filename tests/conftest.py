"""Fixtures: a fresh app and database per test (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import os
import re
import sys
import threading
from datetime import time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")

import background  # noqa: E402
from app import create_app  # noqa: E402
from extensions import db  # noqa: E402

DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
PASSWORD = "correct horse battery"


def database_uri(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'hearth.db'}"
    from config import database_url

    return database_url(os.environ["TEST_DATABASE_URL"])


def reset_schema() -> None:
    """Start from empty tables; on PostgreSQL this also removes what a migration test left."""
    db.drop_all()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()


@pytest.fixture(params=DATABASES)
def database(request, tmp_path) -> str:
    return database_uri(request.param, tmp_path)


@pytest.fixture
def app(database, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "HUEY_SQLITE": str(tmp_path / "huey.db"),
            "REDIS_URL": None,
            "SQLALCHEMY_DATABASE_URI": database,
            "RATELIMIT_STORAGE_URI": "memory://",
            "PUBLIC_URL": "http://127.0.0.1:5000",
            "MAIL_SERVER": None,
        }
    )
    with app.app_context():
        reset_schema()
        yield app
        background.wait()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


class HearthClient:
    """The Flask test client plus the CSRF token a real page would carry.

    Each request runs in its own app context, as in production: otherwise Flask reuses the test's
    context, and `g` (the logged-in user) and the database session would leak between requests.
    """

    def __init__(self, client):
        self.client = client
        self._token = None

    def open(self, *args, **kwargs):
        with self.client.application.app_context():
            response = self.client.open(*args, **kwargs)
        background.wait(self.client.application)  # mail sent after the answer has gone out before the test looks
        db.session.expire_all()  # the test's own session must see what the request changed
        return response

    def __getattr__(self, name):
        return getattr(self.client, name)

    def csrf_token(self) -> str:
        if self._token is None:
            # Any page carries it in <body hx-headers>; a 404 page does for visitors and therapists alike.
            page = self.open("/no-such-page").get_data(as_text=True)
            self._token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        return self._token

    def post(self, url, data=None, *, csrf=True, htmx=False, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf_token())
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.open(url, method="POST", data=data, headers=headers, **kwargs)

    def get(self, url, *, htmx=False, **kwargs):
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.open(url, headers=headers, **kwargs)

    def forget_csrf(self):
        self._token = None


@pytest.fixture
def client(app):
    return HearthClient(app.test_client())


def make_therapist(name="Dana Whitfield", email="dana@example.com", timezone="Europe/Prague", confirmed=True):
    """A therapist; `confirmed` as if they had opened the link sent at signup, so Hearth may email for them."""
    import accounts
    from models import utcnow

    therapist = accounts.sign_up(name=name, email=email, password=PASSWORD, timezone=timezone)
    if confirmed:
        therapist.email_confirmed_at = utcnow()
        db.session.commit()
    return therapist


def add_session(therapist, client, starts_at, minutes: int = 50, **fields):
    """A session at any time, past ones included (booking refuses the past, so straight into the table)."""
    import booking
    from models import Appointment

    appointment = Appointment(
        therapist_id=therapist.id,
        client_id=client.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        uid=booking.new_uid(),
        **fields,
    )
    db.session.add(appointment)
    db.session.commit()
    return appointment


def at_midday(therapist):
    """Move the therapist to a fixed-offset zone where it is now about noon, so that a test about 'today'
    has hours to either midnight whenever it runs (CI once ran at 23:40 in Prague)."""
    from datetime import datetime, timezone

    offset = 12 - datetime.now(timezone.utc).hour  # -11 … +12 hours
    therapist.timezone = "Etc/GMT" if offset == 0 else f"Etc/GMT{'+' if offset < 0 else '-'}{abs(offset)}"
    db.session.commit()
    return therapist


@pytest.fixture
def therapist(app):
    return make_therapist()


@pytest.fixture
def jordan(therapist):
    """A client of Dana's in New York, where the clocks change on other dates than in Prague."""
    import clients

    return clients.add(therapist, name="Jordan Ellis", email="jordan@example.com", timezone="America/New_York")


@pytest.fixture
def six(therapist, jordan, smtp):
    """Jordan's weekly series: Tuesdays at 09:00, 6 sessions, invited."""
    import invites
    import series
    from dates import PLAIN_TUESDAY

    booked, _ = series.book(series.plan(therapist, jordan, PLAIN_TUESDAY, time(9, 0), 50, 1, count=6))
    invites.send_series(booked)
    return booked


def calendars(inbox, address) -> list:
    """Every calendar sent to `address`, parsed by both parsers (the strict one must accept each)."""
    import icalendar
    from ical.calendar_stream import IcsCalendarStream

    found = []
    for message in inbox.to(address):
        data = next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
        IcsCalendarStream.from_ics(data.decode())
        found.append(icalendar.Calendar.from_ical(data))
    return found


@pytest.fixture
def other_therapist(app):
    return make_therapist(name="Olga Novak", email="olga@example.com", timezone="America/New_York")


def login(client, email="dana@example.com", password=PASSWORD):
    client.forget_csrf()
    return client.post("/login", {"email": email, "password": password})


@pytest.fixture
def logged_in(client, therapist):
    response = login(client)
    assert response.status_code == 303
    client.forget_csrf()  # login starts a new session with a new token
    return client


@pytest.fixture
def post_at_once(app, logged_in, monkeypatch):
    """Race requests: a function that posts each (url, form) as the logged-in therapist, from its own thread and
    test client, all released together by a barrier, and returns the responses in the order given.

    Booking's conflict check is slowed, widening the gap between checking a time and writing it, so that a race
    the write lock did not prevent would surely be lost (tests/test_concurrency.py, test_series_concurrency.py).
    """
    import time

    import booking

    check = booking.find_conflict

    def find_conflict_slowly(*args, **kwargs):
        found = check(*args, **kwargs)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(booking, "find_conflict", find_conflict_slowly)
    token = logged_in.csrf_token()  # first: fetching it stores the CSRF secret in the session cookie
    cookie = logged_in.client.get_cookie("session")

    def post(requests: list[tuple[str, dict]]) -> list:
        barrier = threading.Barrier(len(requests))
        responses = [None] * len(requests)

        def send(index, url, form):
            browser = app.test_client()
            browser.set_cookie(cookie.key, cookie.value)
            barrier.wait()
            with app.app_context():
                responses[index] = browser.post(url, data={**form, "csrf_token": token}, headers={"HX-Request": "true"})

        threads = [threading.Thread(target=send, args=(i, url, form)) for i, (url, form) in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return responses

    return post


# Browser fixtures: a live server in a thread, Debian's Chromium through Playwright.

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Rooms: fake cameras (two, to switch between) and microphones, no permission prompt, host candidates not
    # hidden behind mDNS.
    "--use-fake-device-for-media-stream=device-count=2",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["PUBLIC_URL"]
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Chromium logs every non-2xx answer as an error. 409 and 422 are Hearth's planned answers to a refused form or a
# stale action (their message is in the page), and a test that stops its server leaves polls unanswered, or
# aborts a request on purpose (route.abort() is net::ERR_FAILED).
EXPECTED_LOAD_FAILURES = re.compile(r"status of (409|422) |net::ERR_CONNECTION_(REFUSED|RESET)|net::ERR_FAILED")
# htmx logs a poll that got no answer at all (the same unanswered polls) as these two events, and a preview
# it dropped on purpose for a newer one (hx-sync "replace": ticking Skip in a series preview) as sendAbort.
NETWORK_EVENTS = {"htmx:sendError", "htmx:afterRequest", "htmx:sendAbort"}


def console_fault(message, page) -> bool:
    """A CSP violation, or any console error except the ones above and the status of the page itself (a test
    opening a dead link checks the 404 it expects)."""
    if "Content Security Policy" in message.text:
        return True
    if message.type != "error":
        return False
    if message.text in NETWORK_EVENTS:
        return False
    if message.text.startswith("Failed to load resource"):
        return not (message.location.get("url") == page.url or EXPECTED_LOAD_FAILURES.search(message.text))
    return True


@pytest.fixture
def new_page(browser, live_server):
    """Pages in separate browser contexts: separate people, each with their own cookies."""
    contexts = []
    violations = []

    def make(base_url: str | None = None):
        url = base_url or live_server
        context = browser.new_context(base_url=url, timezone_id="Europe/Prague", locale="en-GB")
        context.grant_permissions(["clipboard-read", "clipboard-write", "camera", "microphone"], origin=url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        # The Content-Security-Policy forbids inline script, eval and inline style: nothing may trip it; and no
        # screen may log an error (a missing favicon, an htmx complaint, a script exception).
        page.on(
            "console",
            lambda m: violations.append(f"{m.location} {page.url}: {m.text}") if console_fault(m, page) else None,
        )
        page.on("pageerror", lambda error: violations.append(f"{page.url}: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == [], violations


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot(page, tmp_path):
    """Save what the page shows under the test's tmp dir, to be looked at after the run."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# Mail: a real SMTP server (aiosmtpd) on a free port of 127.0.0.1.


class Inbox:
    """What an aiosmtpd server received, parsed. `fault` makes it misbehave:
    "refuse" answers 550 to every recipient, "busy" 450, "drop" closes the connection during DATA."""

    def __init__(self):
        self.messages = []
        self.fault = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.fault == "refuse":
            return "550 5.1.1 Mailbox unavailable"
        if self.fault == "busy":
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        if self.fault == "drop":
            server.transport.close()
            return "421 4.3.0 Closing"
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str):
        return [message for rcpts, message in self.messages if address in rcpts]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_mail_server(app, port: int, timeout: float = 10) -> None:
    from extensions import mail

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=timeout)
    mail.init_app(app)  # Flask-Mail reads its settings when initialised


@pytest.fixture
def smtp_server(app):
    """Start an aiosmtpd server on a given port (or a free one); stopped after the test."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(port: int | None = None) -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port())
        controller.start()
        controllers.append(controller)
        use_mail_server(app, controller.port)
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(smtp_server):
    return smtp_server()


@pytest.fixture
def hanging_smtp(app):
    """A server that accepts connections and never says a word."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    use_mail_server(app, listener.getsockname()[1], timeout=1)
    yield listener
    listener.close()


def start_gunicorn(env: dict, log: Path, port: int | None = None, app: str = "app:create_app()"):
    """Start `gunicorn --workers 2` on a free port of 127.0.0.1 with `env` added; return (url, process)."""
    import subprocess

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PUBLIC_URL": url, **env}
    env.pop("MAIL_SERVER", None)
    with log.open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", app],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    return url, process


def wait_until_serving(url: str, process, log: Path) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + 30
    while True:
        try:
            # As if through a proxy: an instance with TRUSTED_PROXIES would warn of a request past it.
            urllib.request.urlopen(
                urllib.request.Request(url + "/", headers={"X-Forwarded-For": "127.0.0.1"}), timeout=1
            )
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("gunicorn did not start: " + log.read_text()[-2000:]) from None
            time.sleep(0.2)


def stop(process) -> None:
    """Ask gunicorn to stop; under load, with pages still polling, it may take longer than a test waits."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def gunicorn_server(app, tmp_path):
    """The app as production serves it: gunicorn with two workers, on the test's database."""
    log = tmp_path / "gunicorn.log"
    url, process = start_gunicorn(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "IDLE_TIMEOUT": str(app.config["IDLE_TIMEOUT"]),
            "SESSION_LIFETIME": str(app.config["SESSION_LIFETIME"]),
        },
        log,
    )
    wait_until_serving(url, process, log)
    yield url
    stop(process)


# One practice on two machines: instances that share PostgreSQL and Redis (tests/test_instances.py,
# tests/test_deploy.py, tests/e2e/test_instances_browser.py).


@pytest.fixture
def shared_app(tmp_path):
    """The app on PostgreSQL with its rate limits in Redis, as every instance of a practice sees them."""
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") or not redis_url:
        pytest.skip("instances share PostgreSQL and Redis: set TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL")
    import redis

    # Only the limiter's keys: the Redis database may hold other things.
    storage = redis.Redis.from_url(redis_url)
    for key in storage.scan_iter("LIMITS*"):
        storage.delete(key)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_uri("postgresql", tmp_path),
            "RATELIMIT_STORAGE_URI": redis_url,
            "MAIL_SERVER": None,
        }
    )
    with app.app_context():
        reset_schema()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


class Instances:
    """Hearth instances (gunicorn, 2 workers each) on one database, one Redis and one SECRET_KEY."""

    APP = "tests.widened:create_app()"  # booking's check-then-write gap widened, to make races show

    def __init__(self, app, tmp_path, env: dict | None = None):
        self.env = {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"],
            **(env or {}),
        }
        self.tmp_path = tmp_path
        self.urls, self.processes, self.logs = [], [], []

    def start(self, count: int = 2) -> list[str]:
        for _ in range(count):
            log = self.tmp_path / f"instance-{len(self.urls)}.log"
            url, process = start_gunicorn(self.env, log, app=self.APP)
            self.urls.append(url)
            self.processes.append(process)
            self.logs.append(log)
        for url, process, log in zip(self.urls, self.processes, self.logs, strict=True):
            wait_until_serving(url, process, log)
        return self.urls

    def kill(self, index: int) -> None:
        """SIGKILL the instance's gunicorn master and its workers, as a machine that dies."""
        import signal
        import subprocess

        process = self.processes[index]
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid)], check=False, capture_output=True, text=True
        ).stdout.split()
        process.send_signal(signal.SIGKILL)
        for pid in workers:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            stop(process)


@pytest.fixture
def instances(shared_app, tmp_path):
    """Two instances, A and B, started; their URLs in `.urls`."""
    running = Instances(shared_app, tmp_path)
    try:
        running.start(2)
        yield running
    finally:
        running.stop()


TOUCHED_BY_ANY_REQUEST = {("login_sessions", "last_seen_at")}


def dump() -> dict:
    """Every row of every table, to show that a refused request changed nothing."""
    from sqlalchemy import select as select_

    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        # "Last active" moves on any request more than TOUCH_EVERY after the last (a slow machine gets there).
        columns = [column for column in table.columns if (table.name, column.name) not in TOUCHED_BY_ANY_REQUEST]
        rows = db.session.execute(select_(*columns)).all()
        tables[table.name] = sorted(tuple(str(value) for value in row) for row in rows)
    return tables
