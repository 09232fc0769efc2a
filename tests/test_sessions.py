"""Booking through the app: the form, the preview, the confirmation, mail (real SMTP), and who may see what."""

import re

import icalendar
import pytest
from sqlalchemy import func, select

import clients
from conftest import make_therapist
from dates import EU_SPRING, PLAIN_TUESDAY
from extensions import db
from models import Appointment, InviteDelivery, OutboxMessage, Therapist

DAY = PLAIN_TUESDAY.isoformat()


@pytest.fixture
def jane(logged_in):
    dana = db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))
    return clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


def booking_form(client_id, **changes):
    return {
        "client": str(client_id),
        "date": DAY,
        "start_time": "14:00",
        "length": "50",
        "booking_key": "key-1",
        **changes,
    }


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_booking_form_preselects_the_client_from_client_details(logged_in, jane):
    page = logged_in.get(f"/sessions/book?client={jane.id}").get_data(as_text=True)
    assert f'<option selected value="{jane.id}">Jane Doe</option>' in page
    for label in ("Client", "Date", "Start time", "Session length"):
        assert f">{label}</label>" in page


def test_preview_shows_both_zones_and_warns_of_conflicts(logged_in, jane):
    preview = logged_in.get(f"/sessions/book/preview?client={jane.id}&date={DAY}&start_time=14:00&length=50", htmx=True)
    text = preview.get_data(as_text=True)
    assert f"{PLAIN_TUESDAY:%a %-d %b}, 14:00–14:50" in text and "your time, Central European Time (Prague)" in text
    assert "08:00–08:50 for Jane, Eastern Time (New York)" in text
    assert "Europe/Prague" not in text and "America/New_York" not in text  # zones by name, never their IDs
    logged_in.post("/sessions/book", booking_form(jane.id))
    clash = logged_in.get(f"/sessions/book/preview?client={jane.id}&date={DAY}&start_time=14:30&length=50", htmx=True)
    assert "Overlaps Jane D., 14:00–14:50." in clash.get_data(as_text=True)


def test_booking_without_mail_server_keeps_both_invites_in_the_outbox(logged_in, jane):
    response = logged_in.post("/sessions/book", booking_form(jane.id), htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Session booked." in page and "Outbox" in page
    assert count(Appointment) == 1 and count(OutboxMessage) == 2
    outbox = logged_in.get("/outbox/").get_data(as_text=True)
    assert "Email delivery is off" in outbox and "jane@example.com" in outbox
    message = db.session.scalars(select(OutboxMessage)).first()
    eml = logged_in.get(f"/outbox/{message.id}.eml")
    assert eml.mimetype == "message/rfc822" and b"text/calendar" in eml.data
    ics = logged_in.get(f"/outbox/{message.id}/invite.ics")
    assert icalendar.Calendar.from_ical(ics.data)["METHOD"] == "REQUEST"


def test_resubmitting_the_same_form_books_once_and_sends_nothing_more(logged_in, jane):
    logged_in.post("/sessions/book", booking_form(jane.id))
    again = logged_in.post("/sessions/book", booking_form(jane.id))
    assert "This session was already booked." in again.get_data(as_text=True)
    assert count(Appointment) == 1 and count(OutboxMessage) == 2


@pytest.mark.parametrize(
    "changes, field_message",
    [
        ({"date": ""}, "Enter a date."),
        ({"date": "31/02/2027"}, "Not a valid date value."),
        ({"start_time": ""}, "Enter a start time."),
        ({"start_time": "25:61"}, "Not a valid time value."),
        ({"length": ""}, "Enter the length in minutes."),
        ({"length": "abc"}, "Enter the length in minutes, from 10 to 480."),
        ({"length": "9"}, "Choose a length from 10 to 480 minutes."),
        ({"length": "481"}, "Choose a length from 10 to 480 minutes."),
        ({"date": "2001-01-01"}, "This time has already passed."),
        ({"date": "9999-12-31"}, "within the next 5 years"),
        ({"date": EU_SPRING.isoformat(), "start_time": "02:30"}, "clocks go forward from 02:00 to 03:00"),
        ({"client": ""}, "Choose a client."),
        ({"client": "x"}, "Choose a client."),
    ],
)
def test_bad_booking_input_gets_a_message_stores_nothing_sends_nothing(logged_in, jane, changes, field_message):
    response = logged_in.post("/sessions/book", booking_form(jane.id, **changes), htmx=True)
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert count(Appointment) == 0 and count(OutboxMessage) == 0


def test_a_client_id_that_does_not_exist_answers_404_like_another_therapists(logged_in, jane):
    response = logged_in.post("/sessions/book", booking_form(999999), htmx=True)
    assert response.status_code == 404
    assert count(Appointment) == 0 and count(OutboxMessage) == 0


def test_archived_client_and_client_without_email_are_refused(logged_in, jane):
    nomail = clients.add(jane.therapist, name="No Mail")
    response = logged_in.post("/sessions/book", booking_form(nomail.id), htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "has no email address" in page
    assert f"/clients/{nomail.id}/edit" in page  # a way to add one
    clients.archive(jane)
    response = logged_in.post("/sessions/book", booking_form(jane.id), htmx=True)
    assert response.status_code == 422 and "archived" in response.get_data(as_text=True)
    assert count(Appointment) == 0


def test_booking_needs_csrf(logged_in, jane):
    assert logged_in.post("/sessions/book", booking_form(jane.id), csrf=False).status_code == 400
    assert count(Appointment) == 0


# With a real SMTP server


def test_booking_sends_exactly_two_invites_one_to_each_person(logged_in, jane, smtp):
    response = logged_in.post("/sessions/book", booking_form(jane.id), htmx=True)
    assert "Calendar invites sent to you and Jane Doe." in response.get_data(as_text=True)
    assert len(smtp.messages) == 2
    for address in ("jane@example.com", "dana@example.com"):
        (message,) = smtp.to(address)
        assert message["To"].addresses[0].addr_spec == address and len(message["To"].addresses) == 1
        calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        assert calendar_part.get_param("method") == "REQUEST"
        attachment = next(p for p in message.walk() if p.get_filename() == "invite.ics")
        event = icalendar.Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
        assert str(event["UID"]) == db.session.scalar(select(Appointment.uid))
    deliveries = db.session.scalars(select(InviteDelivery)).all()
    assert sorted(d.status for d in deliveries) == ["sent", "sent"]
    listing = logged_in.get("/sessions/").get_data(as_text=True)
    assert "Jane Doe" in listing and "Invites sent" in listing


def test_refusing_server_keeps_the_booking_logs_the_failure_and_resend_works_later(logged_in, jane, smtp):
    smtp.fault = "refuse"
    response = logged_in.post("/sessions/book", booking_form(jane.id), htmx=True)
    page = response.get_data(as_text=True)
    assert "Session booked." in page and "could not be sent" in page and "550" in page
    assert "Resend invites" in page
    appointment = db.session.scalar(select(Appointment))
    assert [d.status for d in appointment.deliveries] == ["failed", "failed"]
    assert "Failed" in logged_in.get(f"/sessions/{appointment.id}").get_data(as_text=True)

    smtp.fault = None
    logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "both"})
    assert len(smtp.messages) == 2
    assert [d.status for d in appointment.deliveries] == ["failed", "failed", "sent", "sent"]


def test_hanging_server_times_out_and_keeps_the_booking(app, logged_in, jane, hanging_smtp):
    response = logged_in.post("/sessions/book", booking_form(jane.id), htmx=True)
    assert "did not answer in time" in response.get_data(as_text=True)
    assert count(Appointment) == 1
    assert {d.status for d in db.session.scalars(select(InviteDelivery))} == {"failed"}


def test_resend_to_one_side_only(logged_in, jane, smtp):
    logged_in.post("/sessions/book", booking_form(jane.id))
    appointment = db.session.scalar(select(Appointment))
    response = logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "client"}, htmx=True)
    assert "Invites sent." in response.get_data(as_text=True)
    assert len(smtp.to("jane@example.com")) == 2 and len(smtp.to("dana@example.com")) == 1
    first, again = smtp.to("jane@example.com")
    ics = [
        icalendar.Calendar.from_ical(next(p for p in m.walk() if p.get_filename() == "invite.ics").get_content()).walk(
            "VEVENT"
        )[0]
        for m in (first, again)
    ]
    assert ics[0]["UID"] == ics[1]["UID"] and ics[0]["SEQUENCE"] == ics[1]["SEQUENCE"]


def test_session_page_shows_details_room_link_invite_log_and_ics(logged_in, jane):
    logged_in.post("/sessions/book", booking_form(jane.id))
    appointment = db.session.scalar(select(Appointment))
    page = logged_in.get(f"/sessions/{appointment.id}").get_data(as_text=True)
    assert "Session with Jane Doe" in page and clients.room_url(jane) in page
    assert page.count("In Outbox") == 2
    ics = logged_in.get(f"/sessions/{appointment.id}/invite.ics")
    assert "METHOD" not in ics.get_data(as_text=True)
    assert str(icalendar.Calendar.from_ical(ics.data).walk("VEVENT")[0]["UID"]) == appointment.uid


def test_room_page_shows_the_next_session_in_the_clients_zone(logged_in, jane, client):
    logged_in.post("/sessions/book", booking_form(jane.id))
    visitor = client.__class__(client.client.application.test_client())
    page = visitor.get(re.sub(r"^https?://[^/]+", "", clients.room_url(jane))).get_data(as_text=True)
    assert (
        f"{PLAIN_TUESDAY:%a, %-d %b %Y}, 08:00" in page
        and "Eastern Time (New York)" in page
        and "America/New_York" not in page
    )


def test_client_options_follow_find_client_and_keep_the_chosen_one(logged_in, jane):
    mark = clients.add(jane.therapist, name="Mark Twain", email="mark@example.com")
    options = logged_in.get(f"/sessions/book/client-options?client_filter=twa&client={jane.id}", htmx=True)
    text = options.get_data(as_text=True)
    assert "Mark Twain" in text and f'<option value="{jane.id}" selected>Jane Doe</option>' in text
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = clients.add(olga, name="Private Person", email="private@example.com")
    hidden = logged_in.get(f"/sessions/book/client-options?client_filter=Private&client={theirs.id}", htmx=True)
    assert "Private Person" not in hidden.get_data(as_text=True) and mark.name not in hidden.get_data(as_text=True)
