"""Mail faults: the booking stands, the log says why, the therapist sees it, and Resend heals it without duplicates."""

import pytest
from sqlalchemy import select

import clients
from conftest import free_port, use_mail_server
from dates import PLAIN_TUESDAY
from extensions import db
from models import Appointment, InviteDelivery, Therapist

FORM = {"date": PLAIN_TUESDAY.isoformat(), "start_time": "14:00", "length": "50", "booking_key": "fault-key"}


@pytest.fixture
def jane(logged_in):
    dana = db.session.scalar(select(Therapist))
    return clients.add(dana, name="Jane Doe", email="jane@example.com")


def book_with_fault(logged_in, jane):
    response = logged_in.post("/sessions/book", {**FORM, "client": str(jane.id)}, htmx=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Session booked." in page and "could not be sent" in page and "Resend invites" in page
    appointment = db.session.scalar(select(Appointment))
    deliveries = db.session.scalars(select(InviteDelivery)).all()
    assert len(deliveries) == 2 and {d.status for d in deliveries} == {"failed"}
    return appointment, page, deliveries


def heal_and_resend(logged_in, appointment, inbox):
    response = logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "failed"}, htmx=True)
    assert "Invites sent." in response.get_data(as_text=True)
    assert len(inbox.to("jane@example.com")) == 1 and len(inbox.to("dana@example.com")) == 1
    again = logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "failed"}, htmx=True)
    assert "nothing was sent again" in again.get_data(as_text=True)
    assert len(inbox.messages) == 2  # no one receives a duplicate


def test_server_refusing_the_connection(app, logged_in, jane, smtp_server):
    port = free_port()
    use_mail_server(app, port)
    appointment, page, deliveries = book_with_fault(logged_in, jane)
    assert "connection refused" in deliveries[0].error
    session_page = logged_in.get(f"/sessions/{appointment.id}").get_data(as_text=True)
    assert "Failed: The mail server could not be reached" in session_page
    heal_and_resend(logged_in, appointment, smtp_server(port))


def test_server_that_hangs(app, logged_in, jane, hanging_smtp, smtp_server):
    appointment, page, deliveries = book_with_fault(logged_in, jane)
    assert "did not answer in time" in page
    heal_and_resend(logged_in, appointment, smtp_server())


def test_server_answering_4xx_to_rcpt(logged_in, jane, smtp):
    smtp.fault = "busy"
    appointment, page, deliveries = book_with_fault(logged_in, jane)
    assert "450" in deliveries[0].error and "450" in page
    smtp.fault = None
    heal_and_resend(logged_in, appointment, smtp)


def test_server_dropping_the_connection_in_data(logged_in, jane, smtp):
    smtp.fault = "drop"
    appointment, page, deliveries = book_with_fault(logged_in, jane)
    assert smtp.messages == []
    smtp.fault = None
    heal_and_resend(logged_in, appointment, smtp)


def test_only_the_failed_side_is_sent_again(logged_in, jane, smtp, monkeypatch):
    """One address refused, the other delivered: Resend reaches only the one that failed."""
    original = smtp.handle_RCPT

    async def refuse_jane(server, session, envelope, address, options):
        if address == "jane@example.com" and smtp.fault == "jane":
            return "550 5.1.1 No such mailbox"
        return await original(server, session, envelope, address, options)

    smtp.handle_RCPT = refuse_jane
    smtp.fault = "jane"
    logged_in.post("/sessions/book", {**FORM, "client": str(jane.id)}, htmx=True)
    appointment = db.session.scalar(select(Appointment))
    assert sorted(d.status for d in appointment.deliveries) == ["failed", "sent"]
    smtp.fault = None
    logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "failed"})
    assert len(smtp.to("jane@example.com")) == 1 and len(smtp.to("dana@example.com")) == 1
