"""iCalendar invites (RFC 5545/5546) for a session: one UID for every version, SEQUENCE counting changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import quote

from flask import current_app
from icalendar import Alarm, Calendar, Event, vCalAddress, vRecur, vText

import accounts
import formats
import mail
import series as series_module
from booking import AddressChange, clock_changes, local_time
from clients import room_url
from extensions import db
from models import Appointment, DeliveryStatus, InviteDelivery, Series, SessionStatus, first_name, utcnow
from validation import Invalid, ascii_email

PRODID = "-//Hearth//Hearth sessions//EN"
FEED_REFRESH_MINUTES = 15
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


def organizer(appointment: Appointment) -> vCalAddress:
    """The address the first version went out with: calendar apps drop updates whose ORGANIZER changed."""
    return vCalAddress(mailto(appointment.organizer or current_app.config["MAIL_DEFAULT_SENDER"]))


def mailto(email: str) -> str:
    """A mailto: URI with the domain in IDNA form, as calendar servers compare them.

    An address stored before non-ASCII local parts were refused is percent-encoded (RFC 6068), so
    the other person's copy can still be built.
    """
    try:
        return f"mailto:{ascii_email(email)}"
    except Invalid:
        return "mailto:" + quote(email, safe="@.+-_!$&'*=^`{|}~")


def _attendee(email: str, name: str, partstat: str, rsvp: bool) -> vCalAddress:
    address = vCalAddress(mailto(email))
    address.params["CN"] = vText(name)
    address.params["ROLE"] = vText("REQ-PARTICIPANT")
    address.params["PARTSTAT"] = vText(partstat)
    if rsvp:
        address.params["RSVP"] = vText("TRUE")
    return address


def event(
    appointment: Appointment,
    role: str,
    *,
    stamp: datetime | None = None,
    people: bool = True,
    cancelled: bool | None = None,
    address: str | None = None,
    master: bool = False,
) -> Event:
    """The VEVENT for one recipient's copy, as the session stands now.

    A session of a series is that series' event for its RECURRENCE-ID; with `master`, the VEVENT is the whole series (RRULE, EXDATE), built around this session's
    people and room link. A series' times are in the therapist's zone with TZID, so the local time
    holds across clock changes; single sessions stay in UTC.

    Without `people` (the subscription feed) it names no organizer or attendees: a feed is not an
    invitation, and its address should not carry anyone's email; a cancelled session says so in
    its title there. `address` names this role's attendee at another address (an old one, being
    sent its CANCEL); `cancelled` marks this copy cancelled although the session goes on.
    """
    therapist, client = appointment.therapist, appointment.client
    if cancelled is None:
        cancelled = appointment.is_cancelled
    link = room_url(client)
    utc = timezone.utc
    vevent = Event()
    series = appointment.series
    if series is None:
        vevent.add("uid", appointment.uid)
        vevent.add("dtstamp", stamp or datetime.now(utc))
        vevent.add("sequence", appointment.sequence)
        vevent.add("dtstart", appointment.starts_at)
        vevent.add("dtend", appointment.ends_at)
    else:
        zone = series.zone
        vevent.add("uid", series.uid)
        vevent.add("dtstamp", stamp or datetime.now(utc))
        if master:
            start = series.starts_local.replace(tzinfo=zone)
            vevent.add("sequence", series.sequence)
            vevent.add("dtstart", start)
            vevent.add("dtend", start + timedelta(minutes=series.minutes))
            vevent.add("rrule", vRecur.from_ical(series.rule))
            if skipped := series_module.exdates(series):
                vevent.add("exdate", [moment.astimezone(zone) for moment in skipped])
        else:
            vevent.add("sequence", appointment.sequence)
            vevent.add("recurrence-id", appointment.recurrence_id.astimezone(zone))
            vevent.add("dtstart", appointment.starts_at.astimezone(zone))
            vevent.add("dtend", appointment.ends_at.astimezone(zone))
    title = summary(appointment, role)
    vevent.add("summary", f"Cancelled: {title}" if cancelled and not people else title)
    vevent.add("description", f"Join: {link}\n{ROOM_SENTENCE}")
    vevent.add("location", link)
    vevent.add("url", link)
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if role == THERAPIST:
        vevent.add("class", "PRIVATE")  # a shared or delegated calendar shows only busy time
    if people:
        host = organizer(appointment)
        host.params["CN"] = vText(accounts.sender_name(therapist))
        vevent.add("organizer", host)
        therapist_email = address if address and role == THERAPIST else therapist.email
        client_email = address if address and role == CLIENT else client.email
        vevent.add("attendee", _attendee(therapist_email, therapist.name, "ACCEPTED", rsvp=False), encode=0)
        vevent.add("attendee", _attendee(client_email, client.short_name, "NEEDS-ACTION", rsvp=True), encode=0)
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Your session starts in 10 minutes")
        alarm.add("trigger", timedelta(minutes=-10))
        vevent.add_component(alarm)
    return vevent


def _calendar(method: str | None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    return cal


def _with_zones(cal: Calendar) -> bytes:
    """The calendar with a VTIMEZONE, built from the zone rules by icalendar, for every TZID it uses."""
    today = utcnow().date()
    cal.add_missing_timezones(first_date=today - timedelta(days=366), last_date=today + timedelta(days=366 * 6))
    return cal.to_ical()


def calendar(appointment: Appointment, role: str, method: str | None = REQUEST, *, address: str | None = None) -> bytes:
    """A whole iCalendar object for one recipient; method None makes a plain (feed or download) object.

    For a session of a series this is that one occurrence (RECURRENCE-ID): how a change to one session goes out.
    """
    cal = _calendar(method)
    cal.add_component(event(appointment, role, cancelled=method == CANCEL or appointment.is_cancelled, address=address))
    return _with_zones(cal)


def series_calendar(series: Series, role: str, method: str | None = REQUEST, *, address: str | None = None) -> bytes:
    """The whole series for one recipient: the RRULE event, and (unless cancelling it) every moved session."""
    rows = series.appointments
    scheduled = [a for a in rows if a.status == SessionStatus.SCHEDULED]
    cal = _calendar(method)
    cal.add_component(
        event((scheduled or rows)[0], role, master=True, cancelled=method == CANCEL or not scheduled, address=address)
    )
    if method != CANCEL:
        for moved in scheduled:
            if moved.starts_at != moved.recurrence_id or moved.minutes != series.minutes:
                cal.add_component(event(moved, role, address=address))
    return _with_zones(cal)


def feed(appointments: list[Appointment]) -> bytes:
    """The therapist's subscription feed: no METHOD, the invites' UIDs, stable stamps so ETags hold.

    A single session is one event in UTC. A series is carried as its invite carries it: one event with
    its RRULE in the therapist's zone (TZID, VTIMEZONE), written once from all its sessions, plus an
    event (RECURRENCE-ID) for each session moved. Nothing here depends on the hour it is built at.
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Hearth sessions")
    # How often subscribers should look again (RFC 7986, and the older name Outlook and Google read).
    cal.add("refresh-interval", timedelta(minutes=FEED_REFRESH_MINUTES), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", f"PT{FEED_REFRESH_MINUTES}M")
    written: list[Series] = []
    for appointment in appointments:
        if appointment.series is None:
            cal.add_component(event(appointment, THERAPIST, stamp=appointment.updated_at, people=False))
        elif appointment.series not in written:
            written.append(appointment.series)
            for vevent in _feed_series(appointment.series):
                cal.add_component(vevent)
    if written:
        # Zone rules around the series' own dates (not today's), so the body changes only when they do.
        first = min(s.starts_local.date() for s in written) - timedelta(days=366)
        last = max(a.starts_at.date() for s in written for a in s.appointments) + timedelta(days=366)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal.to_ical()


def _feed_series(series: Series) -> list[Event]:
    """One series in the feed: the RRULE event, no people, then each moved session as its own instance.

    While any session is scheduled, cancelled and skipped ones are EXDATEs, as in the invite. A series
    with none scheduled (cancelled whole) shows every session as cancelled, as a cancelled single session
    does, for as long as the feed keeps its sessions: the rule is stretched over them, since a series
    cancelled from its first session has a rule that ends before it.
    """
    rows = series.appointments
    scheduled = [a for a in rows if a.status == SessionStatus.SCHEDULED]
    stamp = max([series.updated_at, *(a.updated_at for a in rows)])
    master = event((scheduled or rows)[0], THERAPIST, stamp=stamp, people=False, master=True, cancelled=not scheduled)
    if not scheduled:
        rule, skipped = series_module.covering(series)
        master.pop("RRULE")
        master.pop("EXDATE", None)
        master.add("rrule", vRecur.from_ical(rule))
        if skipped:
            master.add("exdate", [moment.astimezone(series.zone) for moment in skipped])
    events = [master]
    for row in scheduled or rows:
        if row.starts_at != row.recurrence_id or row.minutes != series.minutes:
            events.append(event(row, THERAPIST, stamp=row.updated_at, people=False))
    return events


# The emails that carry the invite (iMIP, RFC 6047)

SUBJECT_PREFIX = {REQUEST: "", CANCEL: "Cancelled: "}


def _recipient(appointment: Appointment, role: str, address: str | None = None) -> tuple[str, str, str]:
    """Name, address (or the `address` given instead) and IANA zone of one side."""
    if role == CLIENT:
        client = appointment.client
        return client.name, address or client.email, client.zone.key
    therapist = appointment.therapist
    return therapist.name, address or therapist.email, therapist.zone.key


def recipient_locale(appointment: Appointment, role: str) -> str | None:
    """The formats one side's email is written in: the client's own, else the therapist's, else the current one."""
    therapist_locale = formats.supported(appointment.therapist.locale)
    if role == CLIENT:
        return formats.supported(appointment.client.locale) or therapist_locale
    return therapist_locale


def _other_role(role: str) -> str:
    return THERAPIST if role == CLIENT else CLIENT


def moved_text(appointment: Appointment, moved_from: datetime, zone: str) -> str:
    """ "from Tue 1 Dec 14:00 to Thu 3 Dec 16:00", in the reader's zone (emails say "Your session has moved …")."""
    fmt = "%a %-d %b %H:%M"
    return f"from {local_time(moved_from, zone, fmt)} to {local_time(appointment.starts_at, zone, fmt)}"


def email_context(
    appointment: Appointment,
    role: str,
    method: str = REQUEST,
    *,
    moved_from: datetime | None = None,
    note: str | None = None,
    reason: str | None = None,
) -> dict:
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
        "greeting": appointment.client.greeting_name if role == CLIENT else first_name(name),
        "zone": zone,
        "other_name": other_name,
        "other_zone": other_zone,
        "title": summary(appointment, role),
        "room_link": room_url(appointment.client),
        "room_sentence": ROOM_SENTENCE,
        "update": moved_text(appointment, moved_from, zone) if moved_from else None,
        "clock_change": clock_changes(appointment.starts_at, appointment.ends_at, zone)
        or clock_changes(appointment.starts_at, appointment.ends_at, other_zone),
        "note": note,
        "reason": reason,
    }


def subject(appointment: Appointment, role: str, method: str = REQUEST, *, updated: bool = False) -> str:
    _, _, zone = _recipient(appointment, role)
    prefix = "Updated: " if updated and method == REQUEST else SUBJECT_PREFIX[method]
    # Where the clocks change, the abbreviation says which of the two 02:30s (or which side of the jump) it is.
    fmt = (
        "%a %-d %b %Y, %H:%M %Z"
        if clock_changes(appointment.starts_at, appointment.ends_at, zone)
        else "%a %-d %b %Y, %H:%M"
    )
    when = local_time(appointment.starts_at, zone, fmt)
    return f"{prefix}{summary(appointment, role)} on {when} ({formats.zone_city(zone)})"


# Why an update goes out when the time did not change: the first sentence of its email.
NEW_LINK = "This session has a new room link. The old link no longer works; use the one below."
MOVED_AWAY = (
    "Invitations for this session now go to a different email address, so it is removed from the calendar of this one."
)
MOVED_HERE = "Invitations for this session now go to this email address."


def email(
    appointment: Appointment,
    role: str,
    method: str = REQUEST,
    *,
    moved_from: datetime | None = None,
    note: str | None = None,
    address: str | None = None,
    reason: str | None = None,
    series: Series | None = None,
) -> EmailMessage:
    """One invite email for one person, shaped the way calendar apps expect (RFC 6047).

    `address` sends this role's copy somewhere other than their current address (an old one);
    `reason` says why an update went out when the time did not change. With `series`, the email
    is about the whole series (its first session is `appointment`) and carries the series' event.
    """
    name, to_address, _ = _recipient(appointment, role, address)
    therapist = appointment.therapist
    with formats.writing_for(recipient_locale(appointment, role)):
        context = email_context(appointment, role, method, moved_from=moved_from, note=note, reason=reason)
        title = subject(appointment, role, method, updated=moved_from is not None or reason is not None)
        if series is not None:
            context["series_text"] = f"{series_module.describe(series)} ({series.timezone} time)"
            context["whole_series"] = True
            title = (
                f"{SUBJECT_PREFIX[method]}{'Updated: ' if reason and method == REQUEST else ''}"
                f"{summary(appointment, role)}: " + (context["series_text"])
            )
        elif appointment.series is not None:
            context["series_text"] = "One session of a series: " + series_module.label(appointment)
        message = mail.compose(
            sender_name=accounts.sender_name(therapist),
            to=(name, to_address),
            reply_to=(therapist.name, therapist.email) if role == CLIENT else None,
            subject=title,
            template="invite",
            context=context,
        )
    if series is not None:
        ics = series_calendar(series, role, method, address=address)
    else:
        ics = calendar(appointment, role, method, address=address)
    # As bytes, so the CRLF line endings RFC 5545 requires survive (text would be re-wrapped to LF).
    message.add_alternative(
        ics, maintype="text", subtype="calendar", cte="base64", params={"method": method, "charset": "UTF-8"}
    )
    message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return message


def default_roles(appointment: Appointment) -> tuple[str, ...]:
    """Who gets each version: the client always; the therapist unless their calendar takes the feed instead."""
    return (CLIENT, THERAPIST) if appointment.therapist.emails_own_copy else (CLIENT,)


class Unbuildable(Invalid):
    """An invite that cannot be written from what is stored (e.g. an address saved before today's checks)."""


# What an Unbuildable message tells the therapist to do, and what it left undone.
BOOKING = ("book again", "Nothing was booked.")
CHANGE = ("try again", "Nothing was changed.")


@dataclass
class Outgoing:
    """One send, its messages built before the change it announces is committed (see prepare)."""

    appointment: Appointment
    method: str
    roles: tuple[str, ...]
    details: dict = field(default_factory=dict)  # email()'s keywords: moved_from, note, address, reason, series
    built: dict[str, EmailMessage] = field(default_factory=dict)
    logged_on: list[Appointment] | None = None  # a series message: the sessions its send is logged on


def prepare(
    appointment: Appointment,
    method: str = REQUEST,
    roles: tuple[str, ...] | None = None,
    *,
    undone: tuple[str, str] = CHANGE,
    strict: bool = True,
    **details,
) -> Outgoing:
    """Build each role's message for the change being made, before it is committed, so nothing can fail after
    it: a message that cannot be written raises Unbuildable, naming who and why, and the caller commits
    nothing. Without `strict` (a CANCEL to an address that is being replaced) such a message is left to
    send(), which logs it as failed instead. The note in `details` goes to the client only."""
    roles = default_roles(appointment) if roles is None else roles
    outgoing = Outgoing(appointment, method, roles, details)
    for role in roles:
        try:
            outgoing.built[role] = email(appointment, role, method, **_details_for(role, details))
        except Exception as error:
            if not strict:
                continue
            name, address, _ = _recipient(appointment, role, details.get("address"))
            current_app.logger.warning("Invite for %s could not be built: %r", address, error)
            why = str(error) if isinstance(error, (Invalid, mail.BuildError)) else "it could not be written"
            again, nothing = undone
            raise Unbuildable(
                f"The invite to {name} ({address}) cannot be sent. {why.rstrip('.')}. "
                f"Correct the address or name, then {again}. {nothing}"
            ) from None
    return outgoing


def _details_for(role: str, details: dict) -> dict:
    return {**details, "note": details.get("note") if role == CLIENT else None}


def prepare_series(
    series: Series,
    method: str = REQUEST,
    roles: tuple[str, ...] | None = None,
    *,
    rows: list[Appointment] | None = None,
    **kwargs,
) -> Outgoing:
    """prepare() for one message carrying the whole series (its RRULE event), logged on `rows` (the sessions the
    change is about; by default those it schedules, or for a cancel those cancelled), the first of which the
    email shows."""
    rows = rows or _logged_on(series, method)
    # A series that goes on is shown by a session it still holds, not by one this change cancelled.
    shown = rows[0] if method == CANCEL or rows[0].status == SessionStatus.SCHEDULED else _logged_on(series, method)[0]
    outgoing = prepare(shown, method, roles, series=series, **kwargs)
    outgoing.logged_on = rows
    return outgoing


def prepare_series_end(series: Series, **kwargs) -> Outgoing:
    """After sessions of a series were cancelled: while sessions that took place (or are still booked) remain,
    the series goes out again ending earlier (its rule now ends before the cancelled ones), so calendars keep
    them; a CANCEL of the UID would remove every session, past ones too. Else the whole series is cancelled."""
    if any(a.status == SessionStatus.SCHEDULED for a in series.appointments):
        kwargs.setdefault("reason", series_module.ENDS_EARLIER)
        return prepare_series(series, REQUEST, **kwargs)
    return prepare_series(series, CANCEL, **kwargs)


def _one_each(appointments: list[Appointment]) -> list[tuple[Appointment, Series | None]]:
    """What a change to many sessions sends: one message per single session, one per series (which carries
    all its sessions), in the order given."""
    units, seen = [], set()
    for appointment in appointments:
        if appointment.series_id is None:
            units.append((appointment, None))
        elif appointment.series_id not in seen:
            seen.add(appointment.series_id)
            units.append((appointment, appointment.series))
    return units


def prepare_updates(appointments: list[Appointment], method: str = REQUEST, **kwargs) -> list[Outgoing]:
    """The current version of each session after a change that touched several at once (a new room link, an
    archive): one message per single session, one per series."""
    outgoing = []
    for appointment, series in _one_each(appointments):
        if series is None:
            outgoing.append(prepare(appointment, method, **kwargs))
        else:
            rows = [a for a in appointments if a.series_id == series.id]
            if method == CANCEL:
                outgoing.append(prepare_series_end(series, rows=rows, **kwargs))
            else:
                outgoing.append(prepare_series(series, method, rows=rows, **kwargs))
    return outgoing


def prepare_address_change(change: AddressChange, **kwargs) -> list[Outgoing]:
    """After an email change: a CANCEL to the old address and the invite to the new one, per session or series
    (RFC 5546: a removed attendee gets a CANCEL). Nothing for a therapist whose calendar takes the feed. The old
    address may be one that can no longer be written to (stored before today's checks): its CANCEL is then
    logged as failed rather than stopping the change that replaces it."""
    outgoing = []
    for appointment, series in _one_each(change.sessions):
        if change.role == THERAPIST and not appointment.therapist.emails_own_copy:
            continue
        if series is not None:
            rows = [a for a in change.sessions if a.series_id == series.id]  # the sessions that move address
            outgoing.append(
                prepare_series(
                    series, CANCEL, (change.role,), rows=rows, address=change.old, reason=MOVED_AWAY, strict=False
                )
            )
            outgoing.append(prepare_series(series, REQUEST, (change.role,), rows=rows, reason=MOVED_HERE, **kwargs))
        else:
            outgoing.append(
                prepare(appointment, CANCEL, (change.role,), address=change.old, reason=MOVED_AWAY, strict=False)
            )
            outgoing.append(prepare(appointment, REQUEST, (change.role,), reason=MOVED_HERE, **kwargs))
    return outgoing


def deliver(outgoing: list[Outgoing], *, commit: bool = True) -> list[InviteDelivery]:
    """Send what prepare() built (after the commit), logging every attempt; see send(). With commit=False the log
    is left to the caller's next commit (so the activity entry naming these sends is stored with it)."""
    return [
        delivery
        for each in outgoing
        for delivery in send(
            each.appointment,
            each.method,
            each.roles,
            built=each.built,
            logged_on=each.logged_on,
            commit=commit,
            **each.details,
        )
    ]


def send(
    appointment: Appointment,
    method: str = REQUEST,
    roles: tuple[str, ...] | None = None,
    *,
    moved_from: datetime | None = None,
    note: str | None = None,
    address: str | None = None,
    reason: str | None = None,
    built: dict[str, EmailMessage] | None = None,
    series: Series | None = None,
    logged_on: list[Appointment] | None = None,
    commit: bool = True,
) -> list[InviteDelivery]:
    """Email the current version to each role (default_roles unless named), one message each, and log every attempt.

    `note` is a message from the therapist to the client; only the client's email carries it. `built` holds
    messages made before the commit (see prepare); any role without one is built here. With `series`, one
    message carries the whole series, and the send is logged on each of its sessions (`appointment` is the
    one whose details the email shows). With commit=False the log is added to the session for the caller to commit.
    """
    roles = default_roles(appointment) if roles is None else roles
    built, unbuilt = {role: message for role, message in (built or {}).items() if role in roles}, {}
    for role in roles:
        if role in built:
            continue
        try:
            built[role] = email(
                appointment,
                role,
                method,
                moved_from=moved_from,
                note=note if role == CLIENT else None,
                address=address,
                reason=reason,
                series=series,
            )
        except Exception as error:  # stored data that no longer passes, or any other fault: logged, resendable
            current_app.logger.warning("Invite for session %s could not be built: %r", appointment.id, error)
            unbuilt[role] = (DeliveryStatus.FAILED, f"The message could not be built: {error}"[:500])
    therapist = appointment.therapist
    outcomes = {}
    if built:
        messages = list(built.values())
        held = mail.held_back(therapist, len(messages))  # unconfirmed sender, or the daily cap reached
        results = mail.keep(messages, therapist, held) if held else mail.deliver_all(messages, therapist)
        outcomes = dict(zip(built, results, strict=True))
    deliveries = []
    logged = logged_on or (_logged_on(series, method) if series is not None else [appointment])
    for role in roles:
        status, error = outcomes.get(role) or unbuilt[role]
        for each in logged:
            delivery = InviteDelivery(
                appointment=each,
                role=role,
                recipient=_recipient(appointment, role, address)[1],
                method=method,
                sequence=each.sequence,
                status=status,
                error=error,
            )
            db.session.add(delivery)
            if each is appointment:
                deliveries.append(delivery)
    if commit:
        db.session.commit()
    return deliveries


def _logged_on(series: Series, method: str) -> list[Appointment]:
    """The sessions a series send is logged on: those it schedules, or (a cancel) those it cancelled now."""
    wanted = SessionStatus.CANCELLED if method == CANCEL else SessionStatus.SCHEDULED
    return [a for a in series.appointments if a.status == wanted] or list(series.appointments)


def send_series(series: Series, method: str = REQUEST, **kwargs) -> list[InviteDelivery]:
    """Email the whole series (one VEVENT with its RRULE) to each side, logged on every session it holds."""
    rows = _logged_on(series, method)
    return send(rows[0], method, series=series, **kwargs)


def log(appointment: Appointment) -> list[tuple[InviteDelivery, str]]:
    """The invite log, newest first, each send named in plain words: Invite sent, Update sent, Cancellation sent,
    or Resent when that person already had this version."""
    seen, entries = set(), []
    for delivery in appointment.deliveries:
        version = (delivery.role, delivery.method, delivery.sequence)
        if version in seen:
            what = "Resent"
        elif delivery.method == CANCEL:
            what = "Cancellation sent"
        else:
            what = "Update sent" if delivery.sequence > 0 else "Invite sent"
        seen.add(version)
        entries.append((delivery, what))
    return entries[::-1]


def send_address_change(change: AddressChange) -> list[InviteDelivery]:
    """Send what prepare_address_change() names, built now (for a change already committed)."""
    return deliver(prepare_address_change(change, strict=False))


def failed(appointments: list[Appointment]) -> list[tuple[Appointment, tuple[str, ...]]]:
    """The sessions whose last send to someone failed, with whom to send to again."""
    result = []
    for appointment in appointments:
        roles = tuple(d.role for d in appointment.latest_deliveries() if d.status == DeliveryStatus.FAILED)
        if roles:
            result.append((appointment, roles))
    return result


def resend_failed(appointments: list[Appointment]) -> tuple[int, list[InviteDelivery]]:
    """Send the current version again to whoever's last send failed: once per single session, and once per series
    (the whole series, to everyone one of its sessions did not reach). Returns how many sessions had failed, and
    the new sends."""
    found = failed(appointments)
    outgoing: list[Outgoing] = []
    by_series: dict[int, set[str]] = {}
    for appointment, roles in found:
        if appointment.series_id is None:
            outgoing.append(Outgoing(appointment, CANCEL if appointment.is_cancelled else REQUEST, roles))
        else:
            by_series.setdefault(appointment.series_id, set()).update(roles)
    for _, whole in _one_each([a for a, _ in found]):
        if whole is not None:
            roles = tuple(role for role in (CLIENT, THERAPIST) if role in by_series[whole.id])
            outgoing.append(Outgoing(_logged_on(whole, REQUEST)[0], REQUEST, roles, {"series": whole}))
    return len(found), deliver(outgoing)
