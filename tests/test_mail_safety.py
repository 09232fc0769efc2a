"""Sending never fails half-way and never lets a name into a header: validation up front, safe headers,
RFC line lengths, clock-change-safe times, and stored data that no longer passes."""

import re
from datetime import time
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

import booking
import clients
import invites
import mail
from conftest import dump
from dates import EU_AUTUMN, PLAIN_TUESDAY
from extensions import db
from models import UTC, Appointment, Client, DeliveryStatus, OutboxMessage, Therapist

DAY = PLAIN_TUESDAY.isoformat()
ADD = {"add-email": "jane@example.com", "add-timezone": "America/New_York"}


def dana() -> Therapist:
    return db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))


def book_form(client_id, **changes):
    return {
        "client": str(client_id),
        "date": DAY,
        "start_time": "14:00",
        "length": "50",
        "booking_key": "key-1",
        **changes,
    }


# Validation up front


@pytest.mark.parametrize(
    "name",
    [
        "Eve =?utf-8?q?=0D=0ABcc:_x@evil.example?=",
        "Eve =?UTF-8?B?QmNjOiB4?= Doe",
        "Eve\u2028Doe",
        "Eve\u2029Doe",
        "Eve\uffffDoe",
        "Eve\ufdd0Doe",
    ],
)
def test_names_that_would_break_a_header_are_refused_with_a_message(logged_in, name):
    before = dump()
    response = logged_in.post("/clients/", {**ADD, "add-name": name}, htmx=True)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "cannot be used here" in page or "cannot contain" in page
    assert dump() == before


def test_profile_name_with_an_encoded_word_is_refused(logged_in):
    response = logged_in.post(
        "/account/profile",
        {"name": "=?utf-8?q?Dana?=", "email": "dana@example.com", "timezone": "Europe/Prague"},
        htmx=True,
    )
    assert response.status_code == 422 and "cannot contain" in response.get_data(as_text=True)


def test_non_ascii_local_part_is_refused_saying_why(logged_in):
    before = dump()
    response = logged_in.post(
        "/clients/", {**ADD, "add-name": "Žofie Malá", "add-email": "žofie@example.cz"}, htmx=True
    )
    assert response.status_code == 422
    assert "before the @" in response.get_data(as_text=True)
    assert dump() == before


def test_non_ascii_domain_goes_into_headers_and_mailto_as_idna(logged_in, smtp):
    eva = clients.add(dana(), name="Eva Nová", email="eva@příklad.cz")
    response = logged_in.post("/sessions/book", book_form(eva.id), htmx=True)
    assert response.status_code == 200
    ((rcpts, message),) = [m for m in smtp.messages if "eva@xn--pklad-zsa96e.cz" in m[0]]
    assert message["To"].addresses[0].addr_spec == "eva@xn--pklad-zsa96e.cz"
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    assert b"mailto:eva@xn--pklad-zsa96e.cz" in ics and "příklad".encode() not in ics


def test_long_name_and_long_email_fit_the_outbox_on_every_database(logged_in):
    long_name = "Jane " + "Q" * 194
    long_email = "j" * 64 + "@" + "d" * 50 + ".example"  # 123 characters
    response = logged_in.post("/clients/", {**ADD, "add-name": long_name, "add-email": long_email})
    assert response.status_code == 303
    jane = db.session.scalar(select(Client).filter_by(email=long_email))
    response = logged_in.post("/sessions/book", book_form(jane.id), htmx=True)
    assert response.status_code == 200 and "Session booked." in response.get_data(as_text=True)
    recipients = set(db.session.scalars(select(OutboxMessage.recipient)))
    assert recipients == {long_email, "dana@example.com"}


# Header injection, whatever the Python patch level


HOSTILE = [
    "Eve =?utf-8?q?=0D=0ABcc:_x@evil.example?=",
    "Eve =?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?=",
    "Eve\r\nBcc: x@evil.example",
    "Eve\nX-Injected: yes",
    "Eve\u2028Bcc: x@evil.example",
    "Eve\u2029Bcc: x@evil.example",
    "Eve\x85Bcc: x@evil.example",
    '"Eve" <x@evil.example>, Bcc',
    "Eve\ufffe\x07Doe",  # (PostgreSQL cannot store NUL at all)
]
FRIENDLY = [
    "Jane O'Brien-Dvořáková",
    'Jane "JD" Doe, PhD',
    "Zoë (she/her) <Doe>",
    "李小龍 Lee",
    ("Přemysl Otakar Dvořák-Novotný Žluťoučký Kůň Úpěl Ďábelské Ódy " * 3).strip(),
]


@pytest.mark.parametrize("name", HOSTILE + FRIENDLY)
def test_no_name_can_add_a_header_and_display_names_round_trip(app, therapist, smtp, name):
    # Stored directly, as data saved before the form checks existed would be.
    therapist.name = name
    jane = clients.add(therapist, name=name, email="jane@example.com")
    appointment = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    deliveries = invites.send(appointment)
    assert [d.status for d in deliveries] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert len(smtp.messages) == 2
    expected_name = name if name in FRIENDLY else mail._header_text(name)
    for rcpts, message in smtp.messages:
        assert len(rcpts) == 1 and rcpts[0] in ("jane@example.com", "dana@example.com")
        assert sorted(k.lower() for k in message.keys()) == sorted(
            ["from", "to", "subject", "date", "message-id", "mime-version", "content-type"]
            + (["reply-to"] if rcpts[0] == "jane@example.com" else [])
        )
        # Decoded as RFC 2047 says (Python 3.11's own parser keeps the spaces between encoded-words).
        assert mail.read_addresses(message, "From") == [(f"{expected_name} via Hearth", "hearth@example.com")]
        if rcpts[0] == "jane@example.com":
            assert mail.read_addresses(message, "To") == [(expected_name, "jane@example.com")]
            assert mail.read_addresses(message, "Reply-To") == [(expected_name, "dana@example.com")]
        assert mail.read_text(message, "Subject").startswith("Session with ")
        assert "evil" not in "".join(rcpts)


def test_verify_refuses_a_message_that_reads_back_with_an_extra_header(app):
    message = mail.compose(
        sender_name="Hearth",
        to=("Jane", "jane@example.com"),
        subject="Hi",
        template="password_reset",
        context={"therapist": None, "link": "x"},
    )
    message["X-Injected"] = "yes"  # as a vulnerable folder would have written it
    with pytest.raises(mail.BuildError):
        mail.verify(message)


# Line lengths (RFC 2045 and 2047)


def test_body_lines_and_encoded_words_stay_within_rfc_limits(app, therapist):
    therapist.name = "Přemysl Otakar Dvořák-Novotný Žluťoučký Kůň Úpěl Ďábelské Ódy " * 3
    jane = clients.add(therapist, name="Žofie Nováková-Dvořáková", email="jane@example.com")
    appointment = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    raw = invites.email(appointment, invites.CLIENT).as_bytes()
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    words = re.findall(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=", raw)
    assert words and max(len(word) for word in words) <= 75
    parsed = message_from_bytes(raw, policy=policy.default)
    for part in parsed.walk():
        if part["Content-Transfer-Encoding"] == "base64":
            body = (
                part.as_bytes().split(b"\r\n\r\n", 1)[1]
                if b"\r\n\r\n" in part.as_bytes()
                else part.as_bytes().split(b"\n\n", 1)[1]
            )
            assert max(len(line) for line in body.splitlines()) <= 76


# Invites are built before the booking is committed: one that cannot be written books nothing


def test_an_invite_that_cannot_be_built_refuses_the_booking_with_a_message_and_writes_nothing(logged_in, smtp):
    jane = clients.add(dana(), name="Žofie Malá", email="žofie@example.cz")  # stored before the check existed
    before = dump()
    for htmx in (True, False):
        response = logged_in.post("/sessions/book", book_form(jane.id), htmx=htmx)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "The invite to Žofie Malá (žofie@example.cz) cannot be sent." in page
        assert "before the @" in page and "Nothing was booked." in page
        assert dump() == before
    assert smtp.messages == []
    jane.email = "zofie@example.cz"  # corrected: the same form books, and both invites go
    db.session.commit()
    assert logged_in.post("/sessions/book", book_form(jane.id), htmx=True).status_code == 200
    assert smtp.to("zofie@example.cz") and smtp.to("dana@example.com")


# A resend (no change to commit) that cannot be built: logged as failed, resendable, never a 500. Changes refuse
# instead (tests/test_keep_true.py).


def test_stored_address_that_cannot_be_sent_is_logged_as_failed_not_a_500(logged_in, smtp):
    jane = clients.add(dana(), name="Žofie Malá", email="zofie@example.cz")
    appointment = booking.book(dana(), jane, booking.slot(dana(), PLAIN_TUESDAY, time(14), 50))
    jane.email = "žofie@example.cz"  # stored before the check existed
    db.session.commit()
    response = logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "both"}, htmx=True)
    assert response.status_code == 200
    statuses = {d.role: d.status for d in appointment.deliveries}
    assert statuses == {"client": DeliveryStatus.FAILED, "therapist": DeliveryStatus.SENT}
    assert "could not be built" in appointment.deliveries[0].error
    assert [r for r, _ in smtp.messages] == [["dana@example.com"]]
    # Fixed address, then "Resend → Failed only" sends the client's copy.
    jane.email = "zofie@example.cz"
    db.session.commit()
    logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": "failed"})
    assert smtp.to("zofie@example.cz")


# Time zones: stripped choices, stored bad values shown as unknown


def test_whitespace_time_zone_means_none_and_a_stored_bad_zone_shows_unknown(logged_in):
    jane = clients.add(dana(), name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    response = logged_in.post(
        f"/clients/{jane.id}/edit", {"edit-name": "Jane Doe", "edit-email": "jane@example.com", "edit-timezone": " "}
    )
    assert response.status_code == 303
    assert jane.timezone is None
    jane.timezone = "Nowhere/Gone"  # a zone a later tzdata dropped, or saved by an older version
    db.session.commit()
    page = logged_in.get(f"/clients/{jane.id}")
    assert page.status_code == 200 and "unknown" in page.get_data(as_text=True)
    response = logged_in.post("/sessions/book", book_form(jane.id), htmx=True)
    assert response.status_code == 200 and "Session booked." in response.get_data(as_text=True)
    appointment = db.session.scalar(select(Appointment))
    assert logged_in.get(f"/sessions/{appointment.id}").status_code == 200


# Times at clock changes


def test_a_session_across_the_clock_change_never_reads_backwards(logged_in, smtp):
    jane = clients.add(dana(), name="Jane Doe", email="jane@example.com", timezone="Europe/Prague")
    response = logged_in.post(
        "/sessions/book", book_form(jane.id, date=EU_AUTUMN.isoformat(), start_time="02:30"), htmx=True
    )
    page = response.get_data(as_text=True)
    assert "02:30 CEST – 02:20 CET" in page and "02:30–02:20" not in page
    (message,) = smtp.to("jane@example.com")
    assert "02:30 CEST" in str(message["Subject"])
    text = message.get_body(("plain",)).get_content()
    assert "02:30 CEST – 02:20 CET" in text and "The clocks change during this session" in text
    html = message.get_body(("html",)).get_content()
    assert "02:30 CEST – 02:20 CET" in html
    appointment = db.session.scalar(select(Appointment))
    assert "02:30 CEST – 02:20 CET" in logged_in.get(f"/sessions/{appointment.id}").get_data(as_text=True)


def test_lord_howe_half_hour_change_shows_each_offset(app):
    from datetime import datetime

    # 2:00 local becomes 1:30 on the first Sunday of April: 01:30 happens twice.
    text = booking.time_range(
        datetime(2026, 4, 4, 14, 30, tzinfo=UTC), datetime(2026, 4, 4, 15, 0, tzinfo=UTC), "Australia/Lord_Howe"
    )
    assert text == "Sun, 5 Apr 2026, 01:30 +11 – 01:30 +1030"  # en_GB as Babel writes it
    assert (
        booking.time_range(
            datetime(2026, 6, 4, 14, 30, tzinfo=UTC), datetime(2026, 6, 4, 15, 0, tzinfo=UTC), "Australia/Lord_Howe"
        )
        == "Fri, 5 Jun 2026, 01:00–01:30"
    )


def test_headers_made_with_the_cached_factory_are_those_python_makes(app, therapist):
    """mail.POLICY makes each header class once; the message it writes is byte for byte what the stock factory writes."""
    from email.headerregistry import HeaderRegistry

    therapist.name = "Tomás Müller"
    jane = clients.add(therapist, name="Žofie Nováková", email="jane@example.com")
    appointment = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, time(14, 0), 50))
    message = invites.email(appointment, invites.CLIENT)
    stock = mail.POLICY.clone(header_factory=HeaderRegistry())
    raw = message.as_bytes()
    assert raw == message.as_bytes(policy=stock)
    cached, plain = message_from_bytes(raw, policy=mail.POLICY), message_from_bytes(raw, policy=stock)
    assert cached.as_bytes() == plain.as_bytes()
    assert [(name, str(value)) for name, value in cached.items()] == [(name, str(v)) for name, v in plain.items()]
    assert mail.POLICY.header_factory["To"] is mail.POLICY.header_factory["to"]
    assert type(message["From"]) is mail.POLICY.header_factory["From"]
