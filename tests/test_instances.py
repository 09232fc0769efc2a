"""One practice on two machines: two gunicorn instances (2 workers each) share PostgreSQL, Redis and SECRET_KEY.

Requests alternate between instance A and instance B; together they must behave as one Hearth.
Skipped unless TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL are set.
"""

import os
import re
import signal
import subprocess
import threading
import time as clock
from datetime import time, timedelta

import pytest
import requests
from sqlalchemy import func, select

import booking
import clients
import jobs
from conftest import PASSWORD, ROOT
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, Client, Reminder, ReminderStatus, utcnow

REQUESTS = 20


@pytest.fixture
def app(shared_app):
    return shared_app


def csrf_token(page: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def log_in(url: str) -> requests.Session:
    """A therapist's browser logged in on the instance at `url`."""
    browser = requests.Session()
    token = csrf_token(browser.get(url + "/login").text)
    response = browser.post(
        url + "/login",
        data={"email": "dana@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status_code == 303
    return browser


def at_once(browser: requests.Session, requests_: list[tuple[str, dict]]) -> list[int]:
    """POST each (url, form) from its own thread with the browser's cookies, released together; the statuses."""
    barrier = threading.Barrier(len(requests_))
    statuses = [None] * len(requests_)

    def send(index, url, form):
        own = requests.Session()
        own.cookies.update(browser.cookies)
        barrier.wait()
        statuses[index] = own.post(
            url, data=form, headers={"HX-Request": "true"}, allow_redirects=False, timeout=60
        ).status_code

    threads = [threading.Thread(target=send, args=(i, url, form)) for i, (url, form) in enumerate(requests_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return statuses


def test_twenty_bookings_of_one_slot_across_two_instances_book_exactly_one(instances, therapist):
    a, b = instances.urls
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    browser = log_in(a)
    token = csrf_token(browser.get(b + "/sessions/book").text)
    requests_ = [
        (
            (a, b)[i % 2] + "/sessions/book",
            {
                "client": str(jane.id),
                "date": PLAIN_TUESDAY.isoformat(),
                "start_time": "14:00",
                "length": "50",
                "booking_key": f"key-{i}",
                "csrf_token": token,
            },
        )
        for i in range(REQUESTS)
    ]
    statuses = at_once(browser, requests_)
    assert sorted(statuses) == [200] + [422] * (REQUESTS - 1)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def test_twenty_reschedules_into_one_slot_across_two_instances_move_exactly_one(instances, therapist):
    a, b = instances.urls
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    sessions = [
        booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(8 + i // 2, 30 * (i % 2)), 25))
        for i in range(REQUESTS)
    ]
    browser = log_in(b)
    token = csrf_token(browser.get(a + "/sessions/").text)
    target = PLAIN_TUESDAY.replace(day=PLAIN_TUESDAY.day + 1).isoformat()
    requests_ = [
        (
            (a, b)[i % 2] + f"/sessions/{s.id}/reschedule",
            {"date": target, "start_time": "16:00", "length": "50", "version": "0", "csrf_token": token},
        )
        for i, s in enumerate(sessions)
    ]
    statuses = at_once(browser, requests_)
    assert sorted(statuses) == [200] + [422] * (REQUESTS - 1)
    db.session.expire_all()
    assert len(db.session.scalars(select(Appointment).filter_by(sequence=1)).all()) == 1


def test_a_login_on_a_is_valid_on_b_and_a_form_from_a_posts_to_b(instances, therapist):
    a, b = instances.urls
    browser = log_in(a)
    assert browser.get(b + "/sessions/", allow_redirects=False).status_code == 200
    form = browser.get(a + "/clients/new").text
    hidden = dict(re.findall(r'<input id="[^"]*" name="([^"]*csrf_token)" type="hidden" value="([^"]+)"', form))
    assert hidden, "the Add client form carries its CSRF token"
    response = browser.post(
        b + "/clients/", data={"add-name": "Jane Doe", "add-email": "jane@example.com", **hidden}, allow_redirects=False
    )
    assert response.status_code == 303, re.findall(r'class="error"[^<]*<[^<]*', response.text)
    db.session.expire_all()
    assert db.session.scalar(select(Client.name)) == "Jane Doe"


def test_the_login_limit_counts_failures_on_both_instances(instances, therapist):
    a, b = instances.urls
    visitor = requests.Session()
    token = csrf_token(visitor.get(a + "/login").text)
    wrong = {"email": "dana@example.com", "password": "not the password", "csrf_token": token}
    statuses = [visitor.post((a, b)[i % 2] + "/login", data=wrong).status_code for i in range(10)]
    assert statuses == [422] * 10
    assert visitor.post(b + "/login", data=wrong).status_code == 429
    assert visitor.post(a + "/login", data=wrong).status_code == 429


def test_the_unknown_link_limit_counts_misses_on_both_instances(instances):
    a, b = instances.urls
    statuses = [requests.get((a, b)[i % 2] + f"/r/no-such-room-{i}").status_code for i in range(10)]
    assert statuses == [404] * 10
    assert requests.get(a + "/r/no-such-room-again").status_code == 429
    assert requests.get(b + "/r/no-such-room-again").status_code == 429


def test_a_reminder_is_sent_once_when_each_instance_runs_its_own_worker(app, therapist, smtp, tmp_path):
    """Instance A's worker and instance B's (`huey_consumer`, 2 threads each) on the shared PostgreSQL and
    Redis queue sweep at the same moments; the reminder reaches the SMTP server once.

    Separate processes cannot share a moved clock, so the session is due by the real one: booked two days
    ago (time_set_at) for 23 hours from now. The workers find due reminders slowly (tests/widened_worker.py),
    so that both surely see this one as unclaimed.
    """
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    start = utcnow().replace(second=0, microsecond=0) + timedelta(hours=23)
    local = booking.to_local(start, therapist.zone)
    session = booking.book(therapist, jane, booking.slot(therapist, local.date(), local.time(), 50))
    session.time_set_at = utcnow() - timedelta(days=2)
    db.session.commit()
    queue = {"REDIS_URL": os.environ["TEST_REDIS_URL"]}
    huey = jobs.make_huey(queue)
    huey.flush()
    env = {
        **os.environ,
        **queue,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(app.config["MAIL_PORT"]),
    }
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [
        subprocess.Popen(
            [str(ROOT / ".venv/bin/huey_consumer"), "tests.widened_worker.huey", "-w", "2", "-n", "-l", str(log)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for log in logs
    ]
    tasks = jobs.register(huey, app)

    def wait_for(condition, timeout=60.0):
        deadline = clock.monotonic() + timeout
        while not condition():
            assert clock.monotonic() < deadline, [log.read_text() for log in logs if log.exists()]
            assert all(worker.poll() is None for worker in workers), "a worker stopped"
            clock.sleep(0.1)

    def reminders_():
        db.session.expire_all()
        return list(db.session.scalars(select(Reminder)))

    try:
        wait_for(lambda: all(log.exists() and "consumer started" in log.read_text() for log in logs))
        for _ in range(8):  # both workers' threads take sweeps at the same moment
            tasks["send_due_reminders"]()
        wait_for(lambda: huey.pending_count() == 0 and any(r.status == ReminderStatus.SENT for r in reminders_()))
        clock.sleep(1)  # a second send still under way would arrive now
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        huey.flush()
    assert all("Executing" in log.read_text() for log in logs), "each instance's worker swept"
    assert len(smtp.to("jane@example.com")) == 1
    assert [r.status for r in reminders_()] == [ReminderStatus.SENT]
