"""Nothing a therapist does silently breaks a booked session: Replace link, Archive, Restore, email
changes, the calendar choice, and the feed."""

import re
from datetime import time, timedelta

import icalendar
import pytest
from sqlalchemy import select

import booking
import clients
from dates import PLAIN_TUESDAY
from extensions import db
from models import Therapist, utcnow

LATER = PLAIN_TUESDAY + timedelta(days=7)


@pytest.fixture
def jane(logged_in):
    dana = db.session.scalar(select(Therapist))
    return clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


@pytest.fixture
def two_booked(jane):
    """Two upcoming sessions, plus a cancelled one that no change may touch."""
    dana = jane.therapist
    first = booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, time(14, 0), 50))
    second = booking.book(dana, jane, booking.slot(dana, LATER, time(14, 0), 50))
    gone = booking.book(dana, jane, booking.slot(dana, LATER, time(18, 0), 50))
    booking.cancel(gone)
    return first, second, gone


def event_of(message):
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return cal, cal.walk("VEVENT")[0]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


# Replace link


def test_replace_link_names_the_sessions_then_updates_each_with_the_new_link(logged_in, jane, two_booked, smtp):
    first, second, gone = two_booked
    old_link = clients.room_url(jane)
    page = logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)
    assert "2 upcoming sessions will get the new link" in page

    response = logged_in.post(f"/clients/{jane.id}/room-link", htmx=True)
    page = response.get_data(as_text=True)
    assert "2 upcoming sessions updated with the new link. Updates sent." in page
    new_link = clients.room_url(jane)
    assert new_link != old_link
    assert len(smtp.messages) == 4
    for address in ("jane@example.com", "dana@example.com"):
        received = smtp.to(address)
        assert sorted(event_of(m)[1]["UID"] for m in received) == sorted([first.uid, second.uid])
        for message in received:
            cal, event = event_of(message)
            assert cal["METHOD"] == "REQUEST" and event["SEQUENCE"] == 1
            assert str(event["LOCATION"]) == new_link == str(event["URL"])
            assert new_link in str(event["DESCRIPTION"]) and old_link not in message.as_string()
            assert "has a new room link" in text_of(message)
    assert (first.sequence, second.sequence, gone.sequence) == (1, 1, 1)  # the cancelled one stays as it was


def test_failed_link_updates_are_named_and_can_be_resent(logged_in, jane, two_booked, smtp):
    smtp.fault = "refuse"
    response = logged_in.post(f"/clients/{jane.id}/room-link", htmx=True)
    page = response.get_data(as_text=True)
    assert "Could not send to" in page and "Resend failed invites" in page
    smtp.fault = None
    response = logged_in.post(f"/clients/{jane.id}/resend-failed", htmx=True)
    assert "2 upcoming sessions sent again. Invites sent." in response.get_data(as_text=True)
    assert len(smtp.to("jane@example.com")) == 2 and len(smtp.to("dana@example.com")) == 2
    assert "Resend failed invites" not in logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)


# Archive and Restore


def test_archive_with_upcoming_sessions_asks_first_and_changes_nothing(logged_in, jane, two_booked, smtp):
    page = logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)
    assert "Cancel these sessions and archive" in page and "Keep the client" in page
    assert page.count("14:00–14:50") >= 4  # each session named in both confirmations
    response = logged_in.post(f"/clients/{jane.id}/archive", htmx=True)  # a stale page's plain Archive button
    assert response.status_code == 422
    assert "has 2 upcoming sessions" in response.get_data(as_text=True)
    assert jane.archived_at is None and not two_booked[0].is_cancelled and smtp.messages == []


def test_cancel_these_sessions_and_archive_sends_a_cancel_to_both_for_each(logged_in, jane, two_booked, smtp):
    first, second, _ = two_booked
    response = logged_in.post(
        f"/clients/{jane.id}/archive", {"cancel_sessions": "1", "message": "Take care."}, htmx=True
    )
    page = response.get_data(as_text=True)
    assert "Client archived." in page and "2 upcoming sessions cancelled." in page
    assert jane.archived_at is not None and first.is_cancelled and second.is_cancelled
    assert len(smtp.messages) == 4
    for message in smtp.to("jane@example.com"):
        cal, event = event_of(message)
        assert cal["METHOD"] == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 1
        assert "Take care." in text_of(message)
    assert all("Take care." not in text_of(m) for m in smtp.to("dana@example.com"))


def test_restore_brings_the_client_back_with_a_fresh_link(logged_in, jane):
    old_token = jane.room_link.token
    logged_in.post(f"/clients/{jane.id}/archive")
    response = logged_in.post(f"/clients/{jane.id}/restore", htmx=True)
    assert "with a new room link" in response.get_data(as_text=True)
    assert jane.room_link.token != old_token
    assert logged_in.get(f"/r/{old_token}").status_code == 404
    assert logged_in.get(f"/r/{jane.room_link.token}").status_code == 200


# Email changes


def edit_form(**changes):
    return {
        "edit-name": "Jane Doe",
        "edit-email": "jane.new@example.com",
        "edit-timezone": "America/New_York",
        **changes,
    }


def test_client_email_change_cancels_at_the_old_address_and_invites_the_new(logged_in, jane, two_booked, smtp):
    first, second, _ = two_booked
    response = logged_in.post(f"/clients/{jane.id}/edit", edit_form(), htmx=True)
    page = response.get_data(as_text=True)
    assert "2 upcoming sessions moved to jane.new@example.com" in page
    assert "a cancellation went to jane@example.com" in page
    old, new = smtp.to("jane@example.com"), smtp.to("jane.new@example.com")
    assert len(old) == 2 and len(new) == 2 and smtp.to("dana@example.com") == []
    for message in old:
        cal, event = event_of(message)
        assert cal["METHOD"] == "CANCEL" and event["SEQUENCE"] == 1 and str(event["STATUS"]) == "CANCELLED"
        assert "mailto:jane@example.com" in [str(a) for a in event["ATTENDEE"]]
    for message in new:
        cal, event = event_of(message)
        assert cal["METHOD"] == "REQUEST" and event["SEQUENCE"] == 1
        assert "mailto:jane.new@example.com" in [str(a) for a in event["ATTENDEE"]]
    # Later changes go to the new address only.
    booking.cancel(first)
    assert first.deliveries[-1].recipient == "jane.new@example.com"


def test_removing_the_email_of_a_client_with_sessions_is_refused(logged_in, jane, two_booked, smtp):
    response = logged_in.post(f"/clients/{jane.id}/edit", edit_form(**{"edit-email": ""}), htmx=True)
    assert response.status_code == 422 and "an email address is needed" in response.get_data(as_text=True)
    assert jane.email == "jane@example.com" and smtp.messages == []


def test_therapist_email_change_cancels_at_the_old_address_and_invites_the_new(logged_in, jane, two_booked, smtp):
    response = logged_in.post(
        "/account/profile",
        {"name": "Dana Whitfield", "email": "dana.new@example.com", "timezone": "Europe/Prague"},
        htmx=True,
    )
    assert "your email changes to it when you open the link" in response.get_data(as_text=True)
    [confirmation] = smtp.to("dana.new@example.com")  # nothing moves until the new address is shown to be hers
    link = re.search(r"http://\S+", confirmation.get_body(("plain",)).get_content()).group(0)
    assert logged_in.get(link.removeprefix("http://127.0.0.1:5000")).status_code == 200

    def invites(messages):
        return [m for m in messages if any(part.get_content_type() == "text/calendar" for part in m.walk())]

    old, new = invites(smtp.to("dana@example.com")), invites(smtp.to("dana.new@example.com"))
    assert [event_of(m)[0]["METHOD"] for m in old] == ["CANCEL", "CANCEL"]
    assert [event_of(m)[0]["METHOD"] for m in new] == ["REQUEST", "REQUEST"]
    assert smtp.to("jane@example.com") == []


# The therapist's own copy: email invites or the feed


def test_choosing_the_feed_stops_emailing_the_therapists_copies_only(logged_in, jane, smtp):
    page = logged_in.get("/account/calendar").get_data(as_text=True)
    assert re.search(r'<input checked id="delivery-0" name="delivery" type="radio" value="email">', page)
    response = logged_in.post("/account/calendar/delivery", {"delivery": "feed"}, htmx=True)
    assert "no longer emailed" in response.get_data(as_text=True)
    response = logged_in.post(
        "/sessions/book",
        {
            "client": str(jane.id),
            "date": PLAIN_TUESDAY.isoformat(),
            "start_time": "14:00",
            "length": "50",
            "booking_key": "k-1",
        },
    )
    assert response.status_code == 200
    assert [r for r, _ in smtp.messages] == [["jane@example.com"]]
    assert logged_in.post("/account/calendar/delivery", {"delivery": "pigeon"}, htmx=True).status_code == 422


def test_feed_refreshes_every_15_minutes_and_shows_then_drops_cancelled_sessions(
    logged_in, jane, two_booked, client, app
):
    first, second, gone = two_booked
    long_gone = booking.book(jane.therapist, jane, booking.slot(jane.therapist, LATER, time(20, 0), 50))
    booking.cancel(long_gone)
    long_gone.updated_at = utcnow() - timedelta(days=8)
    db.session.commit()
    tab = logged_in.get("/account/calendar").get_data(as_text=True)
    path = re.search(r'value="https?://[^/"]+(/feed/[\w-]+\.ics)"', tab).group(1)
    body = client.__class__(app.test_client()).get(path).get_data(as_text=True)
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in body and "X-PUBLISHED-TTL:PT15M\r\n" in body
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    assert set(events) == {first.uid, second.uid, gone.uid}
    assert str(events[gone.uid]["SUMMARY"]) == "Cancelled: Session with Jane D."
    assert str(events[first.uid]["SUMMARY"]) == "Session with Jane D."
    assert str(events[first.uid]["CLASS"]) == "PRIVATE"
