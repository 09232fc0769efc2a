"""The real worker: Huey consumers against real storage (SQLite, and Redis when TEST_REDIS_URL is set),
sending to a real SMTP server (aiosmtpd). However many consumers sweep, and however they are stopped
and restarted, a reminder reaches the server exactly once."""

import os
import signal
import subprocess
import time as clock
from datetime import time, timedelta

import pytest
from sqlalchemy import select

import booking
import clients
import jobs
import reminder_state
import reminders
from conftest import ROOT, make_therapist
from dates import PLAIN_TUESDAY
from extensions import db
from models import Reminder, ReminderStatus, utcnow

STORAGES = ["sqlite"] + (["redis"] if os.environ.get("TEST_REDIS_URL") else [])


@pytest.fixture(params=STORAGES)
def storage(request, app, tmp_path):
    """Settings for the queue both consumers share; a Redis queue is emptied before and after."""
    if request.param == "redis":
        config = {"REDIS_URL": os.environ["TEST_REDIS_URL"]}
    else:
        config = {"HUEY_SQLITE": str(tmp_path / "queue.db")}
    jobs.make_huey(config).flush()
    yield config
    jobs.make_huey(config).flush()


def wait_for(condition, timeout=20.0):
    deadline = clock.monotonic() + timeout
    while not condition():
        assert clock.monotonic() < deadline, "timed out"
        clock.sleep(0.05)


class Consumers:
    """Huey consumers in threads of this process, each with its own Huey instance on the shared storage."""

    def __init__(self, app, config):
        self.app, self.config, self.running = app, config, []

    def start(self, workers=2):
        huey = jobs.make_huey(self.config)
        tasks = jobs.register(huey, self.app)
        consumer = huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=False,
            check_worker_health=False,
            initial_delay=0.01,
            max_delay=0.1,
        )
        consumer._set_signal_handlers = lambda: None  # pytest keeps its own
        consumer.start()
        self.running.append(consumer)
        return consumer, huey, tasks

    def stop(self, consumer, graceful=True):
        consumer.stop(graceful=graceful)
        self.running.remove(consumer)

    def stop_all(self):
        for consumer in list(self.running):
            self.stop(consumer)


@pytest.fixture
def consumers(app, storage):
    running = Consumers(app, storage)
    yield running
    running.stop_all()


@pytest.fixture
def due_session(app, monkeypatch):
    """A session booked well ahead, and the reminders' clock moved to just after its 24-hour reminder fell due."""
    dana = make_therapist()
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    session = booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(14), 50))
    monkeypatch.setattr(reminder_state, "now", lambda: session.starts_at - timedelta(hours=23))
    return session


def sent_rows():
    db.session.expire_all()
    return list(db.session.scalars(select(Reminder)))


def test_two_consumers_sweeping_at_once_send_exactly_one_reminder(app, smtp, due_session, consumers):
    _, huey, tasks = consumers.start()
    consumers.start()
    for _ in range(12):  # every worker of both consumers gets sweeps to run, at the same moment
        tasks["send_due_reminders"]()
    wait_for(lambda: huey.pending_count() == 0 and any(r.status == ReminderStatus.SENT for r in sent_rows()))
    consumers.stop_all()
    assert len(smtp.to("jane@example.com")) == 1
    assert [r.status for r in sent_rows()] == [ReminderStatus.SENT]


def test_stopping_a_consumer_mid_run_and_restarting_still_sends_one(app, smtp, due_session, consumers, monkeypatch):
    slow_deliver = reminders.deliver

    def deliver(reminder, token):  # a slow mail server: the stop lands while a send is under way
        clock.sleep(0.5)
        return slow_deliver(reminder, token)

    monkeypatch.setattr(reminders, "deliver", deliver)
    first, huey, tasks = consumers.start()
    second, _, _ = consumers.start()
    for _ in range(8):
        tasks["send_due_reminders"]()
    wait_for(lambda: sent_rows())  # claimed: one worker is inside the send now
    consumers.stop(first, graceful=False)
    consumers.stop(second, graceful=False)
    _, huey, tasks = consumers.start()
    for _ in range(8):
        tasks["send_due_reminders"]()
    wait_for(lambda: huey.pending_count() == 0 and any(r.status == ReminderStatus.SENT for r in sent_rows()))
    consumers.stop_all()
    assert len(smtp.to("jane@example.com")) == 1


def test_mail_after_an_answer_is_queued_by_the_request_and_sent_by_the_worker(
    app, client, smtp, consumers, monkeypatch
):
    """Forgot password answers at once with the job on the queue; a consumer, not the request, sends the link."""
    make_therapist()
    huey = jobs.make_huey(consumers.config)
    monkeypatch.setitem(app.extensions, "huey", huey)
    monkeypatch.setitem(app.extensions, "huey_tasks", jobs.register(huey, app))
    token = client.csrf_token()
    for email in ("dana@example.com", "nobody@example.com"):  # the unknown address queues the same job
        response = client.client.post("/forgot-password", data={"email": email, "csrf_token": token})
        assert response.status_code == 200
    assert huey.pending_count() == 2 and smtp.messages == []
    consumers.start()
    wait_for(lambda: huey.pending_count() == 0 and len(smtp.messages) == 1)
    consumers.stop_all()
    assert len(smtp.messages) == 1
    [message] = smtp.to("dana@example.com")
    assert "/reset-password/" in message.as_string()


@pytest.mark.skipif("sqlite" not in STORAGES, reason="needs the SQLite queue")
def test_worker_processes_killed_and_restarted_send_one(app, smtp, tmp_path):
    """`huey_consumer worker.huey` as production runs it, two at once, one killed with SIGKILL and restarted.

    A separate process cannot share a moved clock, so the session is due by the real one: booked two days
    ago (time_set_at) for 23 hours from now.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("processes share the SQLite file here; PostgreSQL is covered by the thread consumers")
    dana = make_therapist()
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    start = utcnow().replace(second=0, microsecond=0) + timedelta(hours=23)
    local = booking.to_local(start, dana.zone)
    session = booking.book(dana, jane, booking.slot(dana, local.date(), local.time(), 50))
    session.time_set_at = utcnow() - timedelta(days=2)
    db.session.commit()
    queue = str(tmp_path / "queue.db")
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "HUEY_SQLITE": queue,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(app.config["MAIL_PORT"]),
        "SECRET_KEY": "x" * 32,
    }
    env.pop("REDIS_URL", None)

    def worker():
        return subprocess.Popen(
            [str(ROOT / ".venv/bin/huey_consumer"), "worker.huey", "-w", "2", "-n"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    huey = jobs.make_huey({"HUEY_SQLITE": queue})
    tasks = jobs.register(huey, app)
    processes = [worker(), worker()]
    try:
        for _ in range(6):
            tasks["send_due_reminders"]()
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        processes[0] = worker()
        for _ in range(6):
            tasks["send_due_reminders"]()
        wait_for(lambda: huey.pending_count() == 0 and any(r.status == ReminderStatus.SENT for r in sent_rows()), 60)
        clock.sleep(1)  # anything still in flight would arrive now
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    assert len(smtp.to("jane@example.com")) == 1
    assert [r.status for r in sent_rows()] == [ReminderStatus.SENT]
