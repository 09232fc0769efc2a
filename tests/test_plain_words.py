"""What therapists and clients read, in plain words: the invite log, the activity log, the emails, the personal
link page."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Client, Therapist

LONG_NAME = "María-José Núñez-Žáková de la Fuente Østergård-Šimková"
DAY = PLAIN_TUESDAY.isoformat()


@pytest.fixture
def dana(logged_in):
    return db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))


def book(client, client_id) -> int:
    form = {"client": str(client_id), "date": DAY, "start_time": "14:00", "length": "50", "booking_key": "k1"}
    page = client.post("/sessions/book", form, htmx=True).get_data(as_text=True)
    return int(re.search(r'/sessions/(\d+)"', page).group(1))


def log_entries(client, appointment_id) -> list[str]:
    page = client.get(f"/sessions/{appointment_id}").get_data(as_text=True)
    return re.findall(r'<td data-label="What">([^<]*)</td>', page)


def test_the_invite_log_names_each_send(logged_in, dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    session_id = book(logged_in, jane.id)
    assert log_entries(logged_in, session_id) == ["Invite sent", "Invite sent"]
    logged_in.post(f"/sessions/{session_id}/resend", {"send_to": "client"}, htmx=True)
    assert log_entries(logged_in, session_id)[0] == "Resent"
    new_day = (PLAIN_TUESDAY + timedelta(days=2)).isoformat()
    logged_in.post(
        f"/sessions/{session_id}/reschedule",
        {"date": new_day, "start_time": "16:00", "length": "50", "version": "0"},
        htmx=True,
    )
    assert log_entries(logged_in, session_id)[:2] == ["Update sent", "Update sent"]
    logged_in.post(f"/sessions/{session_id}/cancel", {"version": "1"}, htmx=True)
    assert log_entries(logged_in, session_id)[:2] == ["Cancellation sent", "Cancellation sent"]
    page = logged_in.get(f"/sessions/{session_id}").get_data(as_text=True)
    assert "sequence" not in page


def test_activity_says_what_happened_as_a_sentence(logged_in, dana):
    jordan = clients.add(dana, name="Jordan Ellis", email="jordan@example.com")
    book(logged_in, jordan.id)
    page = logged_in.get("/account/activity").get_data(as_text=True)
    assert re.search(r">Booked a session with Jordan Ellis, \w{3}, \d+ \w{3} \d{4}, 14:00 \(Prague time\)<", page)
    assert "Sent an invite for the session with Jordan Ellis" in page and "(kept in Outbox)" in page
    assert "REQUEST" not in page


def client_email(client_row) -> str:
    from email import message_from_bytes, policy

    from models import OutboxMessage

    kept = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient.contains(client_row.email))
        .order_by(OutboxMessage.id.desc())
    ).first()
    return message_from_bytes(kept.raw, policy=policy.default).get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_emails_greet_by_first_name_or_the_name_asked_for(logged_in, dana):
    maria = clients.add(dana, name=LONG_NAME, email="maria@example.com")
    session_id = book(logged_in, maria.id)
    assert client_email(maria).startswith("Hello María-José,\n")
    page = logged_in.get(f"/clients/{maria.id}/edit").get_data(as_text=True)
    assert ">Greet them as</label>" in page and "The name to use in emails" in page
    logged_in.post(
        f"/clients/{maria.id}/edit",
        {"edit-name": LONG_NAME, "edit-email_name": "Majo", "edit-email": "maria@example.com"},
        htmx=True,
    )
    assert db.session.get(Client, maria.id).email_name == "Majo"
    assert "<dt>Emails greet</dt><dd>Majo</dd>" in logged_in.get(f"/clients/{maria.id}").get_data(as_text=True)
    logged_in.post(f"/sessions/{session_id}/resend", {"send_to": "client"})
    assert client_email(maria).startswith("Hello Majo,\n")


def test_a_moved_and_a_cancelled_session_say_what_happened_and_what_next(logged_in, dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    session_id = book(logged_in, jane.id)
    new_day = PLAIN_TUESDAY + timedelta(days=2)
    logged_in.post(
        f"/sessions/{session_id}/reschedule",
        {"date": new_day.isoformat(), "start_time": "16:00", "length": "50", "version": "0"},
    )
    text = client_email(jane)
    assert f"Your session has moved from {PLAIN_TUESDAY:%a %-d %b}, 08:00 to {new_day:%a %-d %b}, 10:00." in text
    assert "moved: moved" not in text
    logged_in.post(f"/sessions/{session_id}/cancel", {"version": "1"})
    text = client_email(jane)
    assert "Your session has been cancelled." in text and "Reply to this email to arrange another time." in text


def test_the_personal_link_page_says_whose_waiting_room_it_is(client, therapist):
    clients.change_slug(therapist, "dana-whitfield")
    page = client.get("/u/dana-whitfield").get_data(as_text=True)
    assert "This is Dana Whitfield’s waiting room. Enter your name and Dana will let you in." in page
    assert "Keep this link private" not in page
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    assert "Keep this link private" in client.get(f"/r/{jane.room_link.token}").get_data(as_text=True)
