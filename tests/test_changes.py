"""Rescheduling and cancelling update both calendars; the calendar feed."""

import re
from datetime import time, timedelta

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import select

import booking
import clients
import invites
from conftest import make_therapist
from dates import PLAIN_TUESDAY
from extensions import db
from models import InviteDelivery, Therapist, utcnow
from validation import Invalid


@pytest.fixture
def dana(app):
    return make_therapist()


@pytest.fixture
def session_(dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    return booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(14, 0), 50))


def parse(data: bytes):
    IcsCalendarStream.from_ics(data.decode())  # the strict parser must accept every version
    cal = icalendar.Calendar.from_ical(data)
    return cal, cal.walk("VEVENT")[0]


def versions(appointment, dana):
    """Book, move twice, cancel: the four versions each side is sent."""
    sent = [invites.calendar(appointment, invites.CLIENT)]
    for day in (1, 2):
        booking.reschedule(appointment, booking.slot(dana, PLAIN_TUESDAY + timedelta(days=day), time(16, 0), 50))
        sent.append(invites.calendar(appointment, invites.CLIENT))
    booking.cancel(appointment)
    sent.append(invites.calendar(appointment, invites.CLIENT, invites.CANCEL))
    return sent


def test_versions_share_one_uid_and_count_sequence(dana, session_):
    parsed = [parse(data) for data in versions(session_, dana)]
    assert {str(event["UID"]) for _, event in parsed} == {session_.uid}
    assert [event["SEQUENCE"] for _, event in parsed] == [0, 1, 2, 3]
    assert [str(cal["METHOD"]) for cal, _ in parsed] == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    cancel = parsed[-1][1]
    assert str(cancel["STATUS"]) == "CANCELLED"
    assert str(cancel["ORGANIZER"]) == str(parsed[0][1]["ORGANIZER"])
    assert {str(a) for a in cancel["ATTENDEE"]} == {"mailto:dana@example.com", "mailto:jane@example.com"}


class CalendarStore:
    """A calendar as iTIP describes it: one event per UID, replaced only by a higher SEQUENCE."""

    def __init__(self):
        self.events = {}

    def apply(self, data: bytes) -> None:
        cal = icalendar.Calendar.from_ical(data)
        event = cal.walk("VEVENT")[0]
        uid, sequence = str(event["UID"]), int(event.get("SEQUENCE", 0))
        current = self.events.get(uid)
        if current is not None and sequence <= current["sequence"]:
            return  # an old or repeated version changes nothing
        self.events[uid] = {
            "sequence": sequence,
            "start": event.decoded("DTSTART"),
            "status": "CANCELLED" if cal.get("METHOD") == "CANCEL" else str(event["STATUS"]),
        }


def test_applying_the_versions_in_order_ends_cancelled_and_out_of_order_changes_nothing(dana, session_):
    sent = versions(session_, dana)
    in_order, shuffled = CalendarStore(), CalendarStore()
    for data in sent:
        in_order.apply(data)
    for data in (sent[2], sent[0], sent[3], sent[1]):
        shuffled.apply(data)
    for store in (in_order, shuffled):
        (event,) = store.events.values()
        assert event["status"] == "CANCELLED" and event["sequence"] == 3

    moved = CalendarStore()
    for data in sent[:3]:
        moved.apply(data)
    assert next(iter(moved.events.values()))["start"].date() == PLAIN_TUESDAY + timedelta(days=2)


def test_reschedule_refuses_overlap_but_not_with_itself(dana, session_):
    booking.reschedule(session_, booking.slot(dana, PLAIN_TUESDAY, time(14, 30), 50))  # overlaps only itself
    other = booking.book(dana, session_.client, booking.slot(dana, PLAIN_TUESDAY, time(16, 0), 50))
    with pytest.raises(booking.Conflict):
        booking.reschedule(other, booking.slot(dana, PLAIN_TUESDAY, time(15, 0), 50))


def test_cancelled_time_frees_up(dana, session_):
    booking.cancel(session_)
    booking.book(dana, session_.client, booking.slot(dana, PLAIN_TUESDAY, time(14, 0), 50))


def test_cancelled_past_and_stale_sessions_cannot_change(dana, session_):
    with pytest.raises(Invalid, match="changed after you opened"):
        booking.cancel(session_, version=7)
    booking.cancel(session_)
    with pytest.raises(Invalid, match="cancelled"):
        booking.cancel(session_)
    past = booking.book(dana, session_.client, booking.slot(dana, PLAIN_TUESDAY, time(18, 0), 50))
    past.starts_at, past.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    with pytest.raises(Invalid, match="already taken place"):
        booking.reschedule(past, booking.slot(dana, PLAIN_TUESDAY, time(19, 0), 50))


# Through the app, with a real SMTP server


@pytest.fixture
def booked(logged_in, app):
    dana = db.session.scalar(select(Therapist))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    return booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(14, 0), 50))


def calendar_part(message):
    return next(p for p in message.walk() if p.get_content_type() == "text/calendar")


def move_form(**changes):
    new_day = PLAIN_TUESDAY + timedelta(days=2)
    return {"date": new_day.isoformat(), "start_time": "16:00", "length": "50", "version": "0", **changes}


def test_reschedule_sends_one_update_to_each_side(logged_in, booked, smtp):
    form = logged_in.get(f"/sessions/{booked.id}/reschedule").get_data(as_text=True)
    assert f'value="{PLAIN_TUESDAY.isoformat()}"' in form and 'value="14:00"' in form and 'value="50"' in form
    response = logged_in.post(f"/sessions/{booked.id}/reschedule", move_form(), htmx=True)
    assert response.status_code == 200 and "Session moved." in response.get_data(as_text=True)
    assert booked.sequence == 1
    new_day = PLAIN_TUESDAY + timedelta(days=2)
    for address, old, new in [("jane@example.com", "08:00", "10:00"), ("dana@example.com", "14:00", "16:00")]:
        (message,) = smtp.to(address)
        assert calendar_part(message).get_param("method") == "REQUEST"
        assert message["Subject"].startswith("Updated: Session with ")
        text = message.get_body(("plain",)).get_content()
        assert f"moved from {PLAIN_TUESDAY:%a %-d %b}, {old} to {new_day:%a %-d %b}, {new}" in text
        _, event = parse(calendar_part(message).get_payload(decode=True))
        assert event["SEQUENCE"] == 1 and str(event["UID"]) == booked.uid


def test_cancel_sends_one_cancellation_to_each_side_with_the_message_for_the_client(logged_in, booked, smtp):
    response = logged_in.post(
        f"/sessions/{booked.id}/cancel", {"message": "I am unwell, sorry.", "version": "0"}, htmx=True
    )
    assert "Session cancelled." in response.get_data(as_text=True)
    assert booked.is_cancelled and booked.sequence == 1
    for address in ("jane@example.com", "dana@example.com"):
        (message,) = smtp.to(address)
        part = calendar_part(message)
        assert part.get_param("method") == "CANCEL"
        cal, event = parse(part.get_payload(decode=True))
        assert cal["METHOD"] == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 1
        assert message["Subject"].startswith("Cancelled: ")
    assert "I am unwell" in smtp.to("jane@example.com")[0].get_body(("plain",)).get_content()
    assert "I am unwell" not in smtp.to("dana@example.com")[0].get_body(("plain",)).get_content()
    listing = logged_in.get("/sessions/").get_data(as_text=True)
    assert "Cancelled" in listing


@pytest.mark.parametrize(
    "setup, path, data, message",
    [
        ("cancel", "reschedule", move_form(version="1"), "cancelled and can no longer be changed"),
        ("cancel", "cancel", {"version": "1"}, "cancelled and can no longer be changed"),
        ("move", "reschedule", move_form(version="0"), "changed after you opened this form"),
        ("move", "cancel", {"version": "0"}, "changed after you opened this form"),
        ("past", "reschedule", move_form(version="0"), "already taken place"),
        ("none", "reschedule", move_form(date="2001-01-01"), "already passed"),
        ("none", "cancel", {"version": "0", "message": "x" * 1001}, "at most 1000"),
    ],
)
def test_changes_that_cannot_be_made_say_why_and_send_nothing(logged_in, booked, smtp, setup, path, data, message):
    if setup == "cancel":
        booking.cancel(booked)
    elif setup == "move":
        booking.reschedule(booked, booking.slot(booked.therapist, PLAIN_TUESDAY, time(9, 0), 50))
    elif setup == "past":
        booked.starts_at, booked.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
        db.session.commit()
    before = (booked.starts_at, booked.status, booked.sequence)
    response = logged_in.post(f"/sessions/{booked.id}/{path}", data, htmx=True)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(booked)
    assert (booked.starts_at, booked.status, booked.sequence) == before
    assert smtp.messages == []


def test_resend_after_cancel_sends_the_cancellation_again(logged_in, booked, smtp):
    logged_in.post(f"/sessions/{booked.id}/cancel", {"version": "0"})
    logged_in.post(f"/sessions/{booked.id}/resend", {"send_to": "therapist"})
    first, again = smtp.to("dana@example.com")
    assert calendar_part(again).get_param("method") == "CANCEL"
    assert parse(calendar_part(again).get_payload(decode=True))[1]["SEQUENCE"] == 1
    log = db.session.scalars(select(InviteDelivery).order_by(InviteDelivery.id)).all()
    assert [(d.method, d.sequence) for d in log] == [("CANCEL", 1)] * 3


# The calendar feed


def feed_path(page: str) -> str:
    return re.search(r'value="https?://[^/"]+(/feed/[\w-]+\.ics)"', page).group(1)


def test_feed_holds_exactly_the_therapists_sessions(logged_in, booked, client, app):
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = clients.add(olga, name="Private Person", email="private@example.com")
    booking.book(olga, theirs, booking.slot(olga, PLAIN_TUESDAY, time(9, 0), 50))
    old = booking.book(booked.therapist, booked.client, booking.slot(booked.therapist, PLAIN_TUESDAY, time(18, 0), 50))
    old.starts_at, old.ends_at = utcnow() - timedelta(days=120), utcnow() - timedelta(days=120) + timedelta(minutes=50)
    cancelled = booking.book(
        booked.therapist, booked.client, booking.slot(booked.therapist, PLAIN_TUESDAY, time(20, 0), 50)
    )
    booking.cancel(cancelled)

    tab = logged_in.get("/account/calendar").get_data(as_text=True)
    path = feed_path(tab)
    assert "webcal://" in tab
    visitor = client.__class__(app.test_client())
    response = visitor.get(path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    text = response.get_data(as_text=True)
    IcsCalendarStream.from_ics(text)
    cal = icalendar.Calendar.from_ical(response.data)
    assert "METHOD" not in cal
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {booked.uid, cancelled.uid}
    assert str(events[cancelled.uid]["STATUS"]) == "CANCELLED"
    assert str(events[booked.uid]["SUMMARY"]) == "Session with Jane D."
    assert "Private" not in text and "jane@example.com" not in text and "Jane Doe" not in text

    again = visitor.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    booking.reschedule(booked, booking.slot(booked.therapist, PLAIN_TUESDAY, time(10, 0), 50))
    assert visitor.get(path, headers={"If-None-Match": response.headers["ETag"]}).status_code == 200


def test_replacing_the_feed_link_ends_the_old_one(logged_in, booked, client, app):
    old = feed_path(logged_in.get("/account/calendar").get_data(as_text=True))
    response = logged_in.post("/account/calendar/replace", {}, htmx=True)
    assert "The old one no longer works." in response.get_data(as_text=True)
    new = feed_path(response.get_data(as_text=True))
    visitor = client.__class__(app.test_client())
    assert visitor.get(old).status_code == 404
    assert visitor.get(new).status_code == 200
