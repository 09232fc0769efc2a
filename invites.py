"""iCalendar invites (RFC 5545/5546) for a session: one UID for every version, SEQUENCE counting changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from flask import current_app
from icalendar import Alarm, Calendar, Event, vCalAddress, vText

import accounts
from booking import local_time
from clients import room_url
import mail
from extensions import db
from models import Appointment, InviteDelivery

PRODID = "-//Hearth//Hearth sessions//EN"
REQUEST = "REQUEST"
CANCEL = "CANCEL"
CLIENT = "client"
THERAPIST = "therapist"
ROOM_SENTENCE = "This link opens your session room at any time."


def summary(appointment: Appointment, role: str) -> str:
    """The title each side sees: the other party's name and nothing about the therapy."""
    if role == CLIENT:
        return f"Session with {appointment.therapist.name}"
    return f"Session with {appointment.client.short_name}"


def organizer() -> vCalAddress:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    return vCalAddress(f"mailto:{sender}")


def _attendee(email: str, name: str, partstat: str, rsvp: bool) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(name)
    address.params["ROLE"] = vText("REQ-PARTICIPANT")
    address.params["PARTSTAT"] = vText(partstat)
    if rsvp:
        address.params["RSVP"] = vText("TRUE")
    return address


def event(appointment: Appointment, role: str, *, stamp: datetime | None = None, people: bool = True) -> Event:
    """The VEVENT for one recipient's copy, as the session stands now.

    Without `people` (the subscription feed) it names no organizer or attendees: a feed is not an
    invitation, and its address should not carry anyone's email.
    """
    therapist, client = appointment.therapist, appointment.client
    link = room_url(client)
    utc = timezone.utc
    vevent = Event()
    vevent.add("uid", appointment.uid)
    vevent.add("dtstamp", stamp or datetime.now(utc))
    vevent.add("sequence", appointment.sequence)
    vevent.add("dtstart", appointment.starts_at.replace(tzinfo=utc))
    vevent.add("dtend", appointment.ends_at.replace(tzinfo=utc))
    vevent.add("summary", summary(appointment, role))
    vevent.add("description", f"Join: {link}\n{ROOM_SENTENCE}")
    vevent.add("location", link)
    vevent.add("url", link)
    vevent.add("status", "CANCELLED" if appointment.is_cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if people:
        host = organizer()
        host.params["CN"] = vText(accounts.sender_name(therapist))
        vevent.add("organizer", host)
        vevent.add("attendee", _attendee(therapist.email, therapist.name, "ACCEPTED", rsvp=False), encode=0)
        vevent.add("attendee", _attendee(client.email, client.short_name, "NEEDS-ACTION", rsvp=True), encode=0)
    if not appointment.is_cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Your session starts in 10 minutes")
        alarm.add("trigger", timedelta(minutes=-10))
        vevent.add_component(alarm)
    return vevent


def calendar(appointment: Appointment, role: str, method: str | None = REQUEST) -> bytes:
    """A whole iCalendar object for one recipient; method None makes a plain (feed or download) object."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    cal.add_component(event(appointment, role))
    return cal.to_ical()


def feed(appointments: list[Appointment]) -> bytes:
    """The therapist's subscription feed: no METHOD, the invites' UIDs, stable stamps so ETags hold."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Hearth sessions")
    for appointment in appointments:
        stamp = appointment.updated_at.replace(tzinfo=timezone.utc)
        cal.add_component(event(appointment, THERAPIST, stamp=stamp, people=False))
    return cal.to_ical()


# The emails that carry the invite (iMIP, RFC 6047)

SUBJECT_PREFIX = {REQUEST: "", CANCEL: "Cancelled: "}


def _recipient(appointment: Appointment, role: str) -> tuple[str, str, str]:
    """Name, address and IANA zone of one side."""
    if role == CLIENT:
        client = appointment.client
        return client.name, client.email, client.zone.key
    therapist = appointment.therapist
    return therapist.name, therapist.email, therapist.timezone


def _other_role(role: str) -> str:
    return THERAPIST if role == CLIENT else CLIENT


def moved_text(appointment: Appointment, moved_from: datetime, zone: str) -> str:
    """ "moved from Tue 1 Dec 14:00 to Thu 3 Dec 16:00", in the reader's zone."""
    fmt = "%a %-d %b %H:%M"
    return f"moved from {local_time(moved_from, zone, fmt)} to {local_time(appointment.starts_at, zone, fmt)}"


def email_context(appointment: Appointment, role: str, method: str = REQUEST, *, moved_from: datetime | None = None,
                  note: str | None = None) -> dict:
    """What the email bodies show: times in the recipient's zone and the other party's, and the room link."""
    name, _, zone = _recipient(appointment, role)
    other_name, _, other_zone = _recipient(appointment, _other_role(role))
    if role == THERAPIST:
        other_name = appointment.client.short_name
    return {
        "appointment": appointment,
        "role": role,
        "method": method,
        "name": name,
        "zone": zone,
        "other_name": other_name,
        "other_zone": other_zone,
        "title": summary(appointment, role),
        "room_link": room_url(appointment.client),
        "room_sentence": ROOM_SENTENCE,
        "update": moved_text(appointment, moved_from, zone) if moved_from else None,
        "note": note,
    }


def subject(appointment: Appointment, role: str, method: str = REQUEST, *, updated: bool = False) -> str:
    _, _, zone = _recipient(appointment, role)
    prefix = "Updated: " if updated and method == REQUEST else SUBJECT_PREFIX[method]
    when = local_time(appointment.starts_at, zone, "%a %-d %b %Y, %H:%M")
    return f"{prefix}{summary(appointment, role)} on {when} ({zone})"


def email(appointment: Appointment, role: str, method: str = REQUEST, *, moved_from: datetime | None = None,
          note: str | None = None) -> EmailMessage:
    """One invite email for one person, shaped the way calendar apps expect (RFC 6047)."""
    name, address, _ = _recipient(appointment, role)
    therapist = appointment.therapist
    message = mail.compose(
        sender_name=accounts.sender_name(therapist),
        to=(name, address),
        reply_to=(therapist.name, therapist.email) if role == CLIENT else None,
        subject=subject(appointment, role, method, updated=moved_from is not None),
        template="invite",
        context=email_context(appointment, role, method, moved_from=moved_from, note=note),
    )
    ics = calendar(appointment, role, method)
    # As bytes, so the CRLF line endings RFC 5545 requires survive (text would be re-wrapped to LF).
    message.add_alternative(ics, maintype="text", subtype="calendar", cte="base64",
                            params={"method": method, "charset": "UTF-8"})
    message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return message


def send(appointment: Appointment, method: str = REQUEST, roles: tuple[str, ...] = (CLIENT, THERAPIST), *,
         moved_from: datetime | None = None, note: str | None = None) -> list[InviteDelivery]:
    """Email the current version to each role, one message each, and log every attempt.

    `note` is a message from the therapist to the client; only the client's email carries it.
    """
    messages = [email(appointment, role, method, moved_from=moved_from, note=note if role == CLIENT else None)
                for role in roles]
    therapist = appointment.therapist
    held = mail.held_back(therapist, len(messages))
    outcomes = mail.keep(messages, therapist, held) if held else mail.deliver_all(messages, therapist)
    deliveries = []
    for role, (status, error) in zip(roles, outcomes):
        delivery = InviteDelivery(
            appointment=appointment,
            role=role,
            recipient=_recipient(appointment, role)[1],
            method=method,
            sequence=appointment.sequence,
            status=status,
            error=error,
        )
        db.session.add(delivery)
        deliveries.append(delivery)
    db.session.commit()
    return deliveries
