"""A real calendar server: each party's invites, updates and cancels, applied to Radicale over CalDAV the
way RFC 5546 tells a calendar user agent to, in order and with the later messages arriving first."""

import socket
import subprocess
import sys
import time as time_module
from datetime import datetime, timedelta, timezone
from itertools import count

import caldav
import icalendar
import pytest
from caldav.lib.error import NotFoundError
from sqlalchemy import select

import clients
from conftest import free_port
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, Client, Therapist


@pytest.fixture
def radicale(tmp_path):
    """Radicale on a free port of 127.0.0.1, storing under the test's tmp dir; stopped after the test."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(tmp_path / "collections"),
            "--auth-type",
            "none",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time_module.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time_module.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("Radicale did not start: " + process.stderr.read().decode()[-2000:]) from None
            time_module.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


_names = count()


def new_calendar(url: str, user: str) -> caldav.Calendar:
    """A fresh calendar in `user`'s home on the server."""
    principal = caldav.DAVClient(url=f"{url}/", username=user, password="any").principal()
    return principal.make_calendar(name=f"{user}-{next(_names)}")


def apply(calendar: caldav.Calendar, data: bytes) -> None:
    """Process one iTIP message as a calendar user agent must (RFC 5546 §2.1.4, §3.2): an older
    SEQUENCE changes nothing; a CANCEL leaves the event cancelled (kept, so an older REQUEST arriving
    later cannot bring it back); the stored copy has no METHOD (RFC 4791 §4.1)."""
    message = icalendar.Calendar.from_ical(data)
    method = str(message["METHOD"])
    incoming = message.walk("VEVENT")[0]
    uid, sequence = str(incoming["UID"]), int(incoming.get("SEQUENCE", 0))
    try:
        stored = calendar.event_by_uid(uid)
    except NotFoundError:
        stored = None
    if stored is not None:
        current = stored.icalendar_component
        current_sequence = int(current.get("SEQUENCE", 0))
        cancelled = str(current.get("STATUS", "")) == "CANCELLED"
        if sequence < current_sequence or (sequence == current_sequence and cancelled):
            return
    copy = icalendar.Calendar()
    copy.add("prodid", "-//Hearth tests//RFC 5546 agent//EN")
    copy.add("version", "2.0")
    event = icalendar.Event.from_ical(incoming.to_ical())
    if method == "CANCEL":
        event["STATUS"] = icalendar.vText("CANCELLED")
    copy.add_component(event)
    if stored is None:
        calendar.add_event(copy.to_ical().decode(), increase_seqno=False)
    else:
        stored.data = copy.to_ical().decode()
        stored.save(increase_seqno=False)  # the organizer's SEQUENCE, not one the library makes up


def invites_to(smtp, address: str) -> list[bytes]:
    """The iCalendar parts that reached one address, in the order they were sent."""
    return [
        next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
        for message in smtp.to(address)
    ]


def stored_state(url: str, user: str, messages: list[bytes]) -> dict | None:
    """Apply the messages to a fresh calendar of `user` and read back the one event, or None."""
    calendar = new_calendar(url, user)
    for data in messages:
        apply(calendar, data)
    events = calendar.events()
    assert len(events) <= 1
    if not events:
        return None
    event = events[0].icalendar_component
    return {
        "start": event.decoded("DTSTART"),
        "status": str(event.get("STATUS")),
        "location": str(event.get("LOCATION")),
        "url": str(event.get("URL")),
        "sequence": int(event.get("SEQUENCE", 0)),
    }


def both_orders(url: str, user: str, messages: list[bytes]) -> dict | None:
    """The stored state after the messages in order, checked equal to the state after them newest first."""
    in_order = stored_state(url, user, messages)
    newest_first = stored_state(url, user, list(reversed(messages)))
    assert newest_first == in_order
    return in_order


def active(state: dict | None) -> bool:
    return state is not None and state["status"] != "CANCELLED"


def test_both_calendars_end_true_through_move_new_link_email_change_and_cancel(logged_in, radicale, smtp):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    logged_in.post(
        "/sessions/book",
        {
            "client": str(jane.id),
            "date": PLAIN_TUESDAY.isoformat(),
            "start_time": "14:00",
            "length": "50",
            "booking_key": "k-1",
        },
    )
    appointment = db.session.scalar(select(Appointment))
    new_day = PLAIN_TUESDAY + timedelta(days=2)
    logged_in.post(
        f"/sessions/{appointment.id}/reschedule",
        {"date": new_day.isoformat(), "start_time": "16:00", "length": "50", "version": "0"},
    )
    old_link = clients.room_url(jane)
    logged_in.post(f"/clients/{jane.id}/room-link")
    jane = db.session.get(Client, jane.id)
    new_link = clients.room_url(jane)
    new_start = datetime.combine(new_day, datetime.min.time()).replace(hour=14, tzinfo=timezone.utc)  # 16:00 CEST

    # After the move and the new link: the new time and the new link in both calendars.
    for user, address in (("dana", "dana@example.com"), ("jane", "jane@example.com")):
        state = both_orders(radicale, user, invites_to(smtp, address))
        assert state == {
            "start": new_start,
            "status": "CONFIRMED",
            "location": new_link,
            "url": new_link,
            "sequence": 2,
        }
        assert old_link != new_link

    # The client's email changes: nothing left at the old address, the session at the new one.
    logged_in.post(
        f"/clients/{jane.id}/edit",
        {"edit-name": "Jane Doe", "edit-email": "jane.new@example.com", "edit-timezone": "America/New_York"},
    )
    assert not active(both_orders(radicale, "jane", invites_to(smtp, "jane@example.com")))
    state = both_orders(radicale, "janenew", invites_to(smtp, "jane.new@example.com"))
    assert active(state) and state["start"] == new_start and state["location"] == new_link

    # Cancelled: cancelled in every calendar, whichever order the messages arrive in.
    logged_in.post(f"/sessions/{appointment.id}/cancel", {"version": "3"})
    for user, address in (
        ("dana", "dana@example.com"),
        ("jane", "jane@example.com"),
        ("janenew", "jane.new@example.com"),
    ):
        state = both_orders(radicale, user, invites_to(smtp, address))
        assert state is not None and state["status"] == "CANCELLED"
    assert not active(both_orders(radicale, "jane", invites_to(smtp, "jane@example.com")))
