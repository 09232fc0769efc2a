"""Reminders: the schedule (due, re-arm, disarm, inside the window, clock changes), the email, retries,
Send now, Confirm I'll be there, and the settings. The real worker is in test_worker.py."""

import re
from datetime import time, timedelta

import pytest
from jinja2 import nodes
from sqlalchemy import func, select

import booking
import clients
import invites
import reminder_state
import reminders
from conftest import ROOT, make_therapist
from dates import EU_AUTUMN, PLAIN_TUESDAY
from extensions import db
from models import Appointment, Reminder, ReminderStatus


class Clock:
    """The reminders' clock, moved by hand."""

    def __init__(self, monkeypatch, at):
        self.at = at
        monkeypatch.setattr(reminder_state, "now", lambda: self.at)

    def set(self, at):
        self.at = at


@pytest.fixture
def dana(app):
    return make_therapist()


@pytest.fixture
def jane(dana):
    return clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


def book(therapist, client, day=PLAIN_TUESDAY, at=time(14, 0), minutes=50) -> Appointment:
    return booking.book(therapist, client, booking.slot(therapist, day, at, minutes))


def kinds_due(at) -> list[tuple[int, str]]:
    return [(appointment.id, kind) for appointment, kind in reminders.due(at)]


def count_reminders() -> int:
    return db.session.scalar(select(func.count()).select_from(Reminder))


@pytest.fixture
def clock(monkeypatch, app):
    return Clock(monkeypatch, None)


# The schedule


def test_24_hour_reminder_falls_due_a_day_before_and_not_after_the_start(dana, jane, clock):
    session = book(dana, jane)
    due = session.starts_at - timedelta(hours=24)
    assert kinds_due(due - timedelta(minutes=1)) == []
    assert kinds_due(due) == [(session.id, "24h")]
    assert kinds_due(session.starts_at - timedelta(minutes=5)) == [(session.id, "24h")]  # a late worker still sends
    assert kinds_due(session.starts_at) == []


def test_one_hour_reminder_only_when_turned_on_and_none_when_both_are_off(dana, jane, clock):
    session = book(dana, jane)
    one_hour_before = session.starts_at - timedelta(hours=1)
    assert kinds_due(one_hour_before) == [(session.id, "24h")]
    reminders.update_settings(dana, remind_24h=True, remind_1h=True)
    assert kinds_due(one_hour_before) == [(session.id, "24h"), (session.id, "1h")]
    reminders.update_settings(dana, remind_24h=False, remind_1h=False)
    assert kinds_due(one_hour_before) == []


def test_a_client_who_opted_out_gets_none(dana, jane, clock):
    session = book(dana, jane)
    reminders.set_client_opt_out(jane, True)
    assert kinds_due(session.starts_at - timedelta(hours=2)) == []


def test_a_session_booked_inside_the_window_gets_no_reminder_for_that_window(dana, jane, clock):
    reminders.update_settings(dana, remind_24h=True, remind_1h=True)
    soon = booking.to_local(booking.utcnow() + timedelta(hours=3), dana.zone)
    session = book(dana, jane, soon.date(), soon.time().replace(second=0, microsecond=0))
    # Booked 3 hours ahead: the 24-hour window had begun; the 1-hour one had not.
    assert kinds_due(session.starts_at - timedelta(minutes=30)) == [(session.id, "1h")]


def test_sending_claims_once_and_a_second_sweep_sends_nothing(dana, jane, clock, smtp):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    assert reminders.send_due() == 1
    assert reminders.send_due() == 0
    assert len(smtp.to("jane@example.com")) == 1
    row = db.session.scalar(select(Reminder))
    assert (row.status, row.kind, row.starts_at) == (ReminderStatus.SENT, "24h", session.starts_at)


def test_the_claim_is_a_unique_row(dana, jane, clock):
    session = book(dana, jane)
    at = session.starts_at - timedelta(hours=23)
    assert reminders.claim(session, "24h", at) is not None
    assert reminders.claim(session, "24h", at) is None  # another worker lost the race
    assert count_reminders() == 1


def test_reschedule_re_arms_for_the_new_time_and_drops_the_confirmation(dana, jane, clock, smtp):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    reminders.send_due()
    session.confirmed_at = clock.at
    db.session.commit()
    booking.reschedule(session, booking.slot(dana, PLAIN_TUESDAY + timedelta(days=7), time(10), 50))
    assert session.confirmed_at is None
    assert kinds_due(clock.at) == []  # the new time is a week away
    clock.set(session.starts_at - timedelta(hours=24))
    assert kinds_due(clock.at) == [(session.id, "24h")]
    reminders.send_due()
    assert len(smtp.to("jane@example.com")) == 2


def test_moving_a_session_into_its_own_window_sends_no_reminder_for_it(dana, jane, clock):
    session = book(dana, jane, PLAIN_TUESDAY + timedelta(days=7))
    clock.set(booking.local_to_utc(PLAIN_TUESDAY, time(8), dana.zone)[0])
    booking.reschedule(session, booking.slot(dana, PLAIN_TUESDAY, time(16), 50))  # moved to 8 hours from "now"
    assert kinds_due(session.starts_at - timedelta(hours=1)) == []


def test_cancel_disarms_even_a_retry_in_waiting(dana, jane, clock, smtp):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    smtp.fault = "busy"
    reminders.send_due()
    assert db.session.scalar(select(Reminder.status)) == ReminderStatus.RETRY
    booking.cancel(session)
    assert db.session.scalar(select(Reminder.status)) == ReminderStatus.DROPPED
    smtp.fault = None
    clock.set(clock.at + timedelta(hours=1))
    assert kinds_due(clock.at) == [] and reminders.send_due() == 0
    assert smtp.messages == []


def test_due_time_is_real_hours_across_a_clock_change_and_the_email_shows_local_time(dana, jane, clock, smtp):
    # Sunday 10:00 in Prague, hours after the clocks went back: 24 real hours earlier is Saturday 11:00 local.
    sunday = EU_AUTUMN
    session = book(dana, jane, sunday, time(10))
    due = session.starts_at - timedelta(hours=24)
    assert booking.local_time(due, "Europe/Prague", "%a %H:%M") == "Sat, 11:00"
    clock.set(due)
    reminders.send_due()
    (message,) = smtp.to("jane@example.com")
    # Jane is in New York, where the clocks go back a week later: 05:00 there.
    assert f"{sunday:%a, %-d %b %Y}, 05:00" in message["Subject"] and "(New York time)" in message["Subject"]


# The email


def test_the_email_goes_to_the_client_only_with_join_and_confirm_and_reply_to_the_therapist(dana, jane, clock, smtp):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=2))
    reminders.send_due()
    assert len(smtp.messages) == 1
    rcpts, message = smtp.messages[0]
    assert rcpts == ["jane@example.com"]
    assert message["Reply-To"] == "Dana Whitfield <dana@example.com>"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Join session" in html and clients.room_url(jane) in html
    assert "Confirm I’ll be there" in html and re.search(r"http://127\.0\.0\.1:5000/confirm/[\w-]{20,}", text)
    assert f"{PLAIN_TUESDAY:%a, %-d %b %Y}, 08:00–08:50, Eastern Time (New York)" in text
    assert "Eastern Time (New York)" in html and "America/New_York" not in text + html
    assert message["Subject"].endswith(", 08:00 (New York time)")


EMAIL_TEMPLATES = sorted((ROOT / "templates" / "email").glob("*.*"))


@pytest.mark.parametrize("path", [p for p in EMAIL_TEMPLATES if p.stem != "base"], ids=lambda p: p.name)
def test_every_email_extends_the_one_layout(app, path):
    tree = app.jinja_env.parse(path.read_text())
    assert [node.template.value for node in tree.find_all(nodes.Extends)] == [f"email/base{path.suffix}"]


def layout(app, suffix: str) -> re.Pattern:
    """What email/base<suffix> writes around its blocks, whatever fills them."""
    base = app.jinja_env.get_template(f"email/base{suffix}")
    names = "".join(f"{{% block {name} %}}\0{{% endblock %}}" for name in base.blocks)
    pieces = app.jinja_env.from_string(f'{{% extends "email/base{suffix}" %}}' + names).render().split("\0")
    return re.compile(".+?".join(map(re.escape, pieces)) + "\n?", re.DOTALL)  # MIME ends a body with a newline


def test_the_invite_and_the_reminder_are_drawn_in_the_one_layout(app, dana, jane):
    session = book(dana, jane)
    reminder = Reminder(appointment=session, kind="24h", starts_at=session.starts_at, status="sending")
    with app.test_request_context():
        sent = [invites.email(session, invites.CLIENT), reminders.email(reminder, "t" * 30)]
    for subtype, suffix in (("html", ".html"), ("plain", ".txt")):
        bodies = [message.get_body((subtype,)).get_content() for message in sent]
        assert all(layout(app, suffix).fullmatch(body.replace("\r\n", "\n")) for body in bodies), suffix
    html = [message.get_body(("html",)).get_content() for message in sent]
    # The same box for the session and the same Join session button, from the layout's macros.
    for piece in (
        '<div style="background:#ffffff;border:1px solid #e3ddd5;',
        "Join session</a>",
        "word-break:break-all",
    ):
        assert all(piece in body for body in html), piece


# Retries and Send now


def test_failures_retry_with_growing_delays_then_show_on_the_session_page_with_send_now(
    dana, jane, clock, smtp, client
):
    from conftest import login

    session = book(dana, jane)
    start = session.starts_at - timedelta(hours=23)
    clock.set(start)
    smtp.fault = "refuse"
    reminders.send_due()
    delays = []
    for _ in range(reminders.MAX_ATTEMPTS - 1):
        row = db.session.scalar(select(Reminder))
        assert row.status == ReminderStatus.RETRY
        delays.append(row.next_attempt_at - clock.at)
        clock.set(row.next_attempt_at - timedelta(seconds=1))
        assert reminders.send_due() == 0  # not yet
        clock.set(row.next_attempt_at)
        assert reminders.send_due() == 1
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    row = db.session.scalar(select(Reminder))
    assert row.status == ReminderStatus.FAILED and row.attempts == reminders.MAX_ATTEMPTS
    clock.set(clock.at + timedelta(hours=1))
    assert reminders.send_due() == 0  # given up: the therapist decides

    login(client)
    client.forget_csrf()
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Reminder not delivered: The mail server refused the address: 550" in page
    smtp.fault = None
    sent = client.post(f"/sessions/{session.id}/reminder/send", htmx=True).get_data(as_text=True)
    assert "Reminder sent to jane@example.com." in sent and "Reminder not delivered" not in sent
    assert len(smtp.to("jane@example.com")) == 1


def test_a_send_left_by_a_dead_worker_is_taken_over_after_the_lease(dana, jane, clock, smtp):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    assert reminders.claim(session, "24h", clock.at)  # claimed, then the worker died before sending
    assert reminders.send_due() == 0
    clock.set(clock.at + reminders.LEASE + timedelta(seconds=1))
    assert reminders.send_due() == 1
    assert len(smtp.to("jane@example.com")) == 1


# Confirm I'll be there


def confirm_link(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:5000(/confirm/[\w-]+)", text).group(1)


def test_confirm_link_shows_the_time_confirms_once_and_shows_on_today_and_the_session(dana, jane, clock, smtp, client):
    from conftest import login

    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    reminders.send_due()
    link = confirm_link(smtp.messages[0][1])
    page = client.get(link)
    assert page.status_code == 200 and "08:00–08:50" in page.get_data(as_text=True)
    assert db.session.get(Appointment, session.id).confirmed_at is None  # looking does not confirm
    done = client.post(link, csrf=False)
    assert done.status_code == 200 and "can see that you will be there" in done.get_data(as_text=True)
    assert db.session.get(Appointment, session.id).confirmed_at is not None
    assert client.post(link, csrf=False).status_code == 404  # single use
    assert client.get(link).status_code == 404
    login(client)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Confirmed by client" in page
    assert re.search(r"24 hours before to jane@example.com:\s+sent", page)


def test_confirm_link_dies_when_the_session_is_moved_or_cancelled(dana, jane, clock, smtp, client):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    reminders.send_due()
    link = confirm_link(smtp.messages[0][1])
    booking.cancel(session)
    assert client.get(link).status_code == 404
    assert client.post(link, csrf=False).status_code == 404
    assert client.get("/confirm/not-a-token").status_code == 404


def test_confirm_link_is_unguessable_uncached_shows_only_the_time_and_guessing_is_limited(
    dana, jane, clock, smtp, client
):
    session = book(dana, jane)
    clock.set(session.starts_at - timedelta(hours=23))
    reminders.send_due()
    link = confirm_link(smtp.messages[0][1])
    token = link.rsplit("/", 1)[1]
    assert len(token) * 6 >= 128  # URL-safe base64 from secrets: 6 bits a character
    page = client.get(link)
    text = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page.headers["X-Robots-Tag"]
    assert "08:00–08:50" in text
    for private in ("Jane", "jane@example.com", "dana@example.com", "/r/", "Private"):
        assert private not in text, private
    done = client.post(link, csrf=False)
    assert done.headers["Cache-Control"] == "no-store" and "Jane" not in done.get_data(as_text=True)
    misses = [client.get(f"/confirm/guess-{n:02d}-{'x' * 30}").status_code for n in range(11)]
    assert misses[:10] == [404] * 10 and misses[10] == 429
    assert client.post(f"/confirm/guess-{'y' * 30}", csrf=False).status_code == 429


# Settings


def test_reminder_settings_default_24h_on_1h_off_and_say_where_they_go(logged_in):
    page = logged_in.get("/account/reminders").get_data(as_text=True)
    assert re.search(r'id="remind_24h"[^>]*checked', page) or re.search(r'checked[^>]*id="remind_24h"', page)
    assert not re.search(r'id="remind_1h"[^>]*checked', page)
    assert "each client’s own email address" in page and "dana@example.com" in page
    saved = logged_in.post("/account/reminders", {"remind_1h": "y"}, htmx=True)
    assert "Reminder settings saved." in saved.get_data(as_text=True)
    from models import Therapist

    dana = db.session.scalar(select(Therapist))
    assert (dana.remind_24h, dana.remind_1h) == (False, True)


def test_client_opt_out_from_client_details(logged_in):
    from models import Therapist

    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    page = logged_in.post(f"/clients/{jane.id}/reminders", {"reminders": "off"}, htmx=True).get_data(as_text=True)
    assert "No reminders for Jane Doe." in page and "Send reminders to Jane Doe" in page
    assert db.session.get(type(jane), jane.id).reminders_off is True
    logged_in.post(f"/clients/{jane.id}/reminders", {"reminders": "on"}, htmx=True)
    assert db.session.get(type(jane), jane.id).reminders_off is False
