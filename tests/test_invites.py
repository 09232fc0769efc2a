"""The invite (iCalendar) and the emails that carry it, checked with two parsers."""

from datetime import time, timedelta

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

import booking
import clients
import invites
from dates import EU_AUTUMN, PLAIN_TUESDAY, US_SPRING


@pytest.fixture
def appointment(therapist):
    jane = clients.add(
        therapist,
        name="Jane Doe",
        email="jane@example.com",
        timezone="America/New_York",
        note="Grief after her father's death",
    )
    return booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))


def parse_both(data: bytes):
    """Parse with icalendar and with the strict `ical` parser; return icalendar's event and ical's."""
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    strict = IcsCalendarStream.from_ics(data.decode()).calendars[0]
    return event, strict


@pytest.mark.parametrize("role", [invites.CLIENT, invites.THERAPIST])
def test_invite_carries_every_property(appointment, role):
    data = invites.calendar(appointment, role)
    cal = icalendar.Calendar.from_ical(data)
    assert cal["METHOD"] == "REQUEST" and cal["VERSION"] == "2.0" and cal["PRODID"] == invites.PRODID
    event, strict = parse_both(data)
    assert strict.method == "REQUEST"
    assert str(event["UID"]) == appointment.uid == strict.events[0].uid
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert b"DTSTART:" in data and event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=50)
    room = clients.room_url(appointment.client)
    assert str(event["LOCATION"]) == room and str(event["URL"]) == room
    assert room in str(event["DESCRIPTION"]) and invites.ROOM_SENTENCE in str(event["DESCRIPTION"])
    assert (str(event["STATUS"]), str(event["TRANSP"])) == ("CONFIRMED", "OPAQUE")
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:hearth@example.com"
    assert organizer.params["CN"] == "Dana Whitfield via Hearth" and "SENT-BY" not in organizer.params
    attendees = {str(a): a.params for a in event["ATTENDEE"]}
    assert attendees["mailto:dana@example.com"]["PARTSTAT"] == "ACCEPTED"
    client = attendees["mailto:jane@example.com"]
    assert (client["PARTSTAT"], client["RSVP"], client["ROLE"]) == ("NEEDS-ACTION", "TRUE", "REQ-PARTICIPANT")
    alarm = event.walk("VALARM")[0]
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-10)


def test_titles_carry_no_more_than_needed(appointment):
    client_copy = invites.calendar(appointment, invites.CLIENT).decode()
    therapist_copy = invites.calendar(appointment, invites.THERAPIST).decode()
    assert "SUMMARY:Session with Dana Whitfield" in client_copy
    assert "SUMMARY:Session with Jane D." in therapist_copy
    for copy in (client_copy, therapist_copy):
        assert "Grief" not in copy and "father" not in copy and "Jane Doe" not in copy


def test_both_copies_share_uid_and_sequence(appointment):
    first, _ = parse_both(invites.calendar(appointment, invites.CLIENT))
    second, _ = parse_both(invites.calendar(appointment, invites.THERAPIST))
    assert first["UID"] == second["UID"] and first["SEQUENCE"] == second["SEQUENCE"]


def parts(message):
    return [(part.get_content_type(), part) for part in message.walk()]


@pytest.mark.parametrize(
    "role, to, subject",
    [
        (
            invites.CLIENT,
            "Jane Doe <jane@example.com>",
            "Session with Dana Whitfield on {day}, 08:00 (New York time)",
        ),
        (
            invites.THERAPIST,
            "Dana Whitfield <dana@example.com>",
            "Session with Jane D. on {day}, 14:00 (Prague time)",
        ),
    ],
)
def test_email_is_shaped_for_calendar_apps(appointment, role, to, subject):
    message = invites.email(appointment, role)
    assert message["To"] == to
    assert message["From"] == "Dana Whitfield via Hearth <hearth@example.com>"
    assert "Sender" not in message
    assert message["Subject"] == subject.format(day=f"{PLAIN_TUESDAY:%a, %-d %b %Y}")
    assert (message["Reply-To"] == "Dana Whitfield <dana@example.com>") == (role == invites.CLIENT)
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html", "text/calendar"]
    calendar_part = alternative.get_payload()[2]
    assert calendar_part.get_param("method") == "REQUEST" and calendar_part.get_param("charset").upper() == "UTF-8"
    assert calendar_part["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_type() == "application/ics" and attachment.get_filename() == "invite.ics"
    assert attachment.get_content() == calendar_part.get_payload(decode=True)
    assert b"\r\nEND:VEVENT\r\n" in attachment.get_content()
    parse_both(attachment.get_content())


def test_bodies_show_both_zones_the_room_link_and_nothing_private(appointment):
    room = clients.room_url(appointment.client)
    # Zones by name and city, as people know them, not by their IANA IDs.
    new_york, prague = "Eastern Time (New York)", "Central European Time (Prague)"
    for role, mine, theirs in [
        (invites.CLIENT, f"08:00–08:50, {new_york}", f"14:00–14:50, {prague}"),
        (invites.THERAPIST, f"14:00–14:50, {prague}", f"08:00–08:50, {new_york}"),
    ]:
        message = invites.email(appointment, role)
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert mine in text and theirs in text and "America/New_York" not in text
        assert "Eastern Time (New York)" in html and "America/New_York" not in html
        assert room in text and room in html and "Join session" in html
        assert invites.ROOM_SENTENCE in text and invites.ROOM_SENTENCE in html
        assert "Grief" not in text + html


@pytest.mark.parametrize(
    "day, other_hour", [(US_SPRING + timedelta(days=2), "09:00"), (EU_AUTUMN + timedelta(days=2), "09:00")]
)
def test_bodies_in_the_weeks_when_only_one_side_changed_clocks(therapist, day, other_hour):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    appointment = booking.book(therapist, jane, booking.slot(therapist, day, time(14, 0), 50))
    text = invites.email(appointment, invites.THERAPIST).get_body(("plain",)).get_content()
    assert f"{other_hour}–09:50, Eastern Time (New York)" in text
    assert "14:00–14:50, Central European Time (Prague)" in text


def test_every_version_keeps_the_organizer_it_was_first_sent_with(app, appointment, therapist):
    app.config["MAIL_DEFAULT_SENDER"] = "hello@new-domain.example"
    booking.cancel(appointment)
    event, _ = parse_both(invites.calendar(appointment, invites.CLIENT, invites.CANCEL))
    assert str(event["ORGANIZER"]) == "mailto:hearth@example.com"
    later = booking.book(therapist, appointment.client, booking.slot(therapist, PLAIN_TUESDAY, time(16, 0), 50))
    event, _ = parse_both(invites.calendar(later, invites.CLIENT))
    assert str(event["ORGANIZER"]) == "mailto:hello@new-domain.example"


def test_only_the_therapists_copy_is_private(appointment):
    therapist_copy, _ = parse_both(invites.calendar(appointment, invites.THERAPIST))
    client_copy, _ = parse_both(invites.calendar(appointment, invites.CLIENT))
    assert str(therapist_copy["CLASS"]) == "PRIVATE"
    assert "CLASS" not in client_copy
