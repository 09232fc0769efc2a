"""A weekly series on a real CalDAV server (Radicale): each party's calendar stores the series, then applies a
one-session reschedule, a one-session cancel and a this-and-following cancel, as RFC 5546 tells a calendar
user agent to (SEQUENCE per instance, a CANCEL kept as a cancelled instance); in order and shuffled."""

import random
from datetime import datetime, time, timedelta, timezone

import icalendar
import recurring_ical_events
from sqlalchemy import select
from test_caldav_roundtrip import invites_to, new_calendar, radicale  # noqa: F401 (the fixture)

import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, Series, SessionStatus, Therapist

ANY_TIME = (datetime(2000, 1, 1), datetime(2100, 1, 1))


def _key(event) -> str | None:
    """Which instance an event is: None for the master, else its RECURRENCE-ID in UTC."""
    if "RECURRENCE-ID" not in event:
        return None
    return event.decoded("RECURRENCE-ID").astimezone(timezone.utc).isoformat()


def apply(calendar, data: bytes, known: dict, pending: dict) -> None:
    """One iTIP message applied to a stored series. A master REQUEST with a SEQUENCE at least the stored
    master's replaces the object (master and the overrides it carries, keeping stored overrides it does not
    name when they are newer); an instance (RECURRENCE-ID) replaces the stored instance unless older; a
    CANCEL of an instance is kept as that instance cancelled; a CANCEL of the master cancels the series.
    Instances that arrive before their series wait in `pending` (Radicale stores no object without a master)."""
    message = icalendar.Calendar.from_ical(data)
    method = str(message["METHOD"])
    incoming = {_key(e): e for e in message.walk("VEVENT")}
    uid = str(next(iter(incoming.values()))["UID"])
    # Read back by its address (`known`: UID → URL), or from `pending`: instances that came before their series.
    stored = dict(pending.get(uid, {}))
    if uid in known:
        stored = {_key(e): e for e in icalendar.Calendar.from_ical(_read(calendar, known[uid])).walk("VEVENT")}
    merged = dict(stored)
    for key, event in incoming.items():
        event = icalendar.Event.from_ical(event.to_ical())
        if method == "CANCEL":
            event["STATUS"] = icalendar.vText("CANCELLED")
        current = stored.get(key)
        sequence = int(event.get("SEQUENCE", 0))
        if current is not None:
            current_sequence = int(current.get("SEQUENCE", 0))
            cancelled = str(current.get("STATUS", "")) == "CANCELLED"
            if sequence < current_sequence or (sequence == current_sequence and cancelled):
                continue
        merged[key] = event
    copy = icalendar.Calendar()
    copy.add("prodid", "-//Hearth tests//RFC 5546 agent//EN")
    copy.add("version", "2.0")
    for event in merged.values():
        copy.add_component(event)
    for zone in message.walk("VTIMEZONE"):
        copy.add_component(zone)
    if None not in merged:  # Radicale refuses an object of instances alone: they wait for their series
        pending[uid] = merged
        return
    pending.pop(uid, None)
    # A plain PUT: the library's save() treats an object holding only an instance as an edit of another one.
    address = known.setdefault(uid, str(calendar.url.join(f"{len(known)}.ics")))
    response = calendar.client.put(address, copy.to_ical().decode(), {"Content-Type": "text/calendar; charset=utf-8"})
    assert response.status in (201, 204), response.status


def _read(calendar, address: str) -> str:
    response = calendar.client.request(address)
    assert response.status == 200, response.status
    return response.raw if isinstance(response.raw, str) else response.raw.decode()


def expanded(url: str, user: str, messages: list[bytes]) -> list[datetime]:
    """The sessions a fresh calendar shows after the messages: expanded, cancelled ones left out, UTC starts."""
    calendar, known, pending = new_calendar(url, user), {}, {}
    for data in messages:
        apply(calendar, data, known, pending)
    assert not pending  # every instance found its series
    starts = []
    for address in known.values():
        cal = icalendar.Calendar.from_ical(_read(calendar, address))
        for event in recurring_ical_events.of(cal).between(*ANY_TIME):
            if str(event.get("STATUS", "")) != "CANCELLED":
                starts.append(event.decoded("DTSTART").astimezone(timezone.utc))
    return sorted(starts)


def scheduled() -> list[datetime]:
    db.session.expire_all()
    return sorted(
        a.starts_at for a in db.session.scalars(select(Appointment).filter_by(status=SessionStatus.SCHEDULED))
    )


def test_a_series_stays_true_on_a_caldav_server_in_order_and_shuffled(logged_in, radicale, smtp):  # noqa: F811
    dana = db.session.scalar(select(Therapist))
    jordan = clients.add(dana, name="Jordan Ellis", email="jordan@example.com", timezone="America/New_York")
    logged_in.post(
        "/sessions/book",
        {
            "client": str(jordan.id),
            "date": PLAIN_TUESDAY.isoformat(),
            "start_time": "09:00",
            "length": "50",
            "repeats": "weekly",
            "ends": "count",
            "count": "6",
            "booking_key": "series-1",
        },
    )
    (booked,) = db.session.scalars(select(Series)).all()
    rows = list(booked.appointments)
    assert len(rows) == 6
    # 1. The 2nd session moves to Thursday 16:00; 2. the 3rd is cancelled; 3. the 5th and later are cancelled.
    moved_day = PLAIN_TUESDAY + timedelta(weeks=1, days=2)
    logged_in.post(
        f"/sessions/{rows[1].id}/reschedule",
        {"date": moved_day.isoformat(), "start_time": "16:00", "length": "50", "version": "0", "scope": "this"},
    )
    logged_in.post(f"/sessions/{rows[2].id}/cancel", {"version": "0", "scope": "this"})
    logged_in.post(f"/sessions/{rows[4].id}/cancel", {"version": "0", "scope": "following"})
    expected = scheduled()
    assert len(expected) == 3  # the 1st, the moved 2nd, the 4th
    assert datetime.combine(moved_day, time(14), timezone.utc) in expected  # 16:00 in Prague, summer time
    shuffle = random.Random(16)
    for user, address in (("dana", "dana@example.com"), ("jordan", "jordan@example.com")):
        messages = invites_to(smtp, address)
        assert len(messages) == 4
        assert expanded(radicale, user, messages) == expected
        assert expanded(radicale, user, list(reversed(messages))) == expected
        for _ in range(2):
            assert expanded(radicale, user, shuffle.sample(messages, len(messages))) == expected
