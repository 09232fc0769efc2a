"""Time zones by name and city; the picker offers canonical zones only."""

import re

import formats
from conftest import login, make_therapist


def test_zone_names_read_as_name_and_city():
    assert formats.zone_name("America/Chicago") == "Central Time (Chicago)"
    assert formats.zone_name("Europe/Prague") == "Central European Time (Prague)"
    assert formats.zone_name("America/Argentina/Buenos_Aires") == "Argentina Time (Buenos Aires)"
    assert formats.zone_name("UTC") == "Coordinated Universal Time (UTC)"


def test_the_picker_lists_canonical_zones_by_name(logged_in):
    page = logged_in.get("/account/profile").get_data(as_text=True)
    options = re.findall(r'<option (?:selected )?value="([^"]+)">([^<]+)</option>', page)
    options = [(value, label) for value, label in options if value not in formats.LOCALES]  # the zone picker's
    values = [value for value, _ in options]
    assert ("Asia/Kolkata", "India Time (Kolkata)") in options and "Asia/Calcutta" not in values
    assert "US/Eastern" not in values and "Europe/Oslo" in values and "UTC" in values
    assert len(values) < 430
    assert "data-zone-picker" in page


def test_a_deprecated_zone_already_chosen_stays_chosen(app, client):
    make_therapist(email="old@example.com", timezone="Asia/Calcutta")
    login(client, email="old@example.com")
    page = client.get("/account/profile").get_data(as_text=True)
    assert '<option selected value="Asia/Calcutta">' in page


# Zones by name on every screen and in every email; IANA IDs only inside the .ics files.

RAW_IDS = re.compile(r"\b(Europe/Prague|America/New_York)\b")


def readable_parts(raw: bytes) -> list[str]:
    """A kept message's subject and its text and HTML bodies: what a person reads (not the .ics)."""
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    parts = [str(message["Subject"])]
    parts += [body.get_content() for body in (message.get_body(("plain",)), message.get_body(("html",))) if body]
    return parts


def test_no_screen_or_email_shows_a_raw_zone_id(app, logged_in):
    from datetime import timedelta

    from sqlalchemy import select

    import clients
    from dates import PLAIN_TUESDAY
    from extensions import db
    from models import Appointment, OutboxMessage, Therapist

    dana = db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    form = {"client": str(jane.id), "date": PLAIN_TUESDAY.isoformat(), "start_time": "14:00", "length": "50"}
    screens = {
        "preview": logged_in.get("/sessions/book/preview", query_string=form, htmx=True),
        "confirmation": logged_in.post("/sessions/book", {**form, "booking_key": "key-1"}),
    }
    appointment = db.session.scalar(select(Appointment))
    moved = {"date": (PLAIN_TUESDAY + timedelta(days=2)).isoformat(), "start_time": "16:00", "length": "50"}
    screens["reschedule preview"] = logged_in.get(
        f"/sessions/{appointment.id}/reschedule/preview", query_string=moved, htmx=True
    )
    screens["moved"] = logged_in.post(f"/sessions/{appointment.id}/reschedule", {**moved, "version": "0"})
    for path in (f"/sessions/{appointment.id}", "/sessions/", "/sessions/week", "/account/activity"):
        screens[path] = logged_in.get(path, query_string={"date": PLAIN_TUESDAY.isoformat()})
    for name, response in screens.items():
        page = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert "Eastern Time (New York)" in page or name.startswith("/"), name
        found = RAW_IDS.findall(page.split('name="timezone"')[0])  # a zone picker's values are IDs, rightly
        assert not found, f"{name} shows {found}"
    add_form = logged_in.get("/clients/new").get_data(as_text=True)
    assert ">Same as mine: Central European Time (Prague)</option>" in add_form
    client_view = app.test_client().get(clients.room_url(jane).split("5000", 1)[1]).get_data(as_text=True)
    assert "Eastern Time (New York)" in client_view and not RAW_IDS.search(client_view)  # the client's room
    logged_in.post(f"/sessions/{appointment.id}/cancel", {"version": "1"})

    kept = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    subjects = [message.subject for message in kept]
    assert (
        len(kept) == 6 and any("(New York time)" in s for s in subjects) and any("(Prague time)" in s for s in subjects)
    )
    for message in kept:
        for part in readable_parts(message.raw):
            assert not RAW_IDS.search(part), (message.subject, RAW_IDS.findall(part))
    assert "Central European Time (Prague)" in "".join(readable_parts(kept[0].raw) + readable_parts(kept[1].raw))
