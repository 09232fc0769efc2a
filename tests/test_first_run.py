"""Small things a new therapist meets first: the favicon, empty screens that say what to do, warnings that look
like warnings, the booking form after a refused submit, and the room link near the top of Client details."""

import re

import pytest
from sqlalchemy import select

import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Therapist

DAY = PLAIN_TUESDAY.isoformat()


@pytest.fixture
def dana(logged_in):
    return db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))


def test_every_page_links_a_favicon_that_is_served(client):
    page = client.get("/").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_empty_clients_and_sessions_say_what_to_do_next(logged_in):
    page = logged_in.get("/clients/").get_data(as_text=True)
    assert "No clients yet. Add your first client" in page
    sessions = logged_in.get("/sessions/").get_data(as_text=True)
    assert "No sessions yet" in sessions and 'href="/clients/?add=1">Add client</a>' in sessions
    book = logged_in.get("/sessions/book").get_data(as_text=True)
    assert "You have no clients yet." in book and 'href="/clients/?add=1">Add client</a>' in book


def test_with_a_client_sessions_offers_booking_and_the_form_no_add_client(logged_in, dana):
    clients.add(dana, name="Jane Doe", email="jane@example.com")
    sessions = logged_in.get("/sessions/").get_data(as_text=True)
    assert "No sessions yet" in sessions and ">Book a session</a>" in sessions
    assert "You have no clients yet." not in logged_in.get("/sessions/book").get_data(as_text=True)


def test_mail_kept_in_the_outbox_is_a_warning_not_a_success(logged_in, dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    form = {"client": str(jane.id), "date": DAY, "start_time": "14:00", "length": "50", "booking_key": "k1"}
    booked = logged_in.post("/sessions/book", form, htmx=True).get_data(as_text=True)
    assert re.search(
        r'<p class="notice warning" role="status">Calendar invites for you and Jane Doe are in your', booked
    )
    appointment_id = re.search(r'/sessions/(\d+)"', booked).group(1)
    shown = logged_in.post(f"/sessions/{appointment_id}/resend", {"send_to": "both"}, htmx=True).get_data(as_text=True)
    assert '<p class="notice warning" role="status">Invites placed in your Outbox' in shown
    # Without htmx the same notice comes back as a flashed warning.
    logged_in.post(f"/sessions/{appointment_id}/resend", {"send_to": "both"})
    page = logged_in.get(f"/sessions/{appointment_id}").get_data(as_text=True)
    assert '<p class="notice warning">Invites placed in your Outbox' in page


def test_a_refused_submit_keeps_the_preview_of_what_was_filled_in(logged_in, dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    form = {"client": str(jane.id), "date": DAY, "start_time": "14:00", "length": "7", "booking_key": "k1"}
    response = logged_in.post("/sessions/book", form, htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    preview = re.search(r'<div id="booking-preview".*?</div>', page, re.S).group(0)
    assert "Choose a length from 10 to 480 minutes." in preview
    assert "Choose a client, a date and a start time" not in preview


def test_the_room_link_sits_above_the_details_of_a_client(logged_in, dana):
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com")
    page = logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)
    assert page.index(">Room link</label>") < page.index("<dt>Email</dt>")
    assert 'aria-current="page"' in re.search(rf'<a href="/clients/{jane.id}".*?>', page, re.S).group(0)
