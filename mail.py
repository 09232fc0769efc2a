"""Sending mail: by SMTP through Flask-Mail's connection, or into the in-app outbox when no server is set."""

from __future__ import annotations

import functools
import re
import smtplib
import socket
import unicodedata
from email import message_from_bytes, policy
from email.header import Header, decode_header, make_header
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from urllib.parse import urlsplit

import flask_mail
from flask import current_app, render_template
from sqlalchemy import select

import quota
from extensions import db
from models import DeliveryStatus, OutboxMessage, Therapist
from validation import Invalid, ascii_email


class _TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout: a server that hangs must not hold the request for ever."""

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        factory = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = factory(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class _Headers(HeaderRegistry):
    """Python's header factory, making each header class once: the stock one builds a new class (type()) for
    every header it parses, some fifty per invite email. The classes hold no state, so one per name serves all."""

    def __init__(self):
        super().__init__()
        self._classes: dict[str, type] = {}

    def map_to_type(self, name, cls):
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name):
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


@functools.lru_cache(maxsize=512)
def _encoded_words(name: str, text: str, linesep: str) -> str:
    """RFC 2047 encoded-words for a header, each line of at most 76 (a space and one encoded-word of at most 75).

    Cached: email.header encodes character by character, and each header is folded twice, by verify() and again
    when the message is sent.
    """
    return Header(text, "utf-8", header_name=name).encode(linesep=linesep, maxlinelen=76)


class _Policy(policy.EmailPolicy):
    """CRLF as SMTP wants, and body lines of at most 76 characters (RFC 2045: Python sizes base64 and
    quoted-printable lines from max_line_length).

    A plain ASCII subject is folded at spaces here: Python's folder moves a whole 75-character
    subject onto a continuation line, which some programs show with a leading space. A non-ASCII
    name or subject becomes encoded-words of at most 75 characters, split between whole characters
    by email.header (the 3.11 folder splits long ones mid-letter and adds spaces).
    """

    def fold_binary(self, name, value):
        text = str(value)
        if text.isascii():
            if name.lower() == "subject":
                return self._fold_words(name, text).encode("ascii")
            return super().fold_binary(name, value)
        addresses = getattr(value, "addresses", None)
        if addresses is not None and len(addresses) == 1 and addresses[0].addr_spec.isascii():
            words = self._encoded_words(name, addresses[0].display_name)
            return f"{name}: {words}{self.linesep} <{addresses[0].addr_spec}>{self.linesep}".encode("ascii")
        if addresses is None and name.lower() == "subject":
            return f"{name}: {self._encoded_words(name, text)}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)

    def _fold_words(self, name: str, text: str) -> str:
        lines = [f"{name}:"]
        for word in text.split(" "):
            if len(lines[-1]) + 1 + len(word) > self.max_line_length and lines[-1] != f"{name}:":
                lines.append("")
            lines[-1] += f" {word}"
        return self.linesep.join(lines) + self.linesep

    def _encoded_words(self, name: str, text: str) -> str:
        return _encoded_words(name, text, self.linesep)


POLICY = _Policy(linesep="\r\n", max_line_length=78, header_factory=_Headers())


class BuildError(ValueError):
    """A message that could not be built safely; nothing was sent."""


def _header_text(text: str) -> str:
    """Text safe to put in a header on any Python 3.11 patch level.

    Line breaks of every kind (CR, LF, U+2028/2029, and the rest str.splitlines knows), other
    control characters and noncharacters become spaces, and "=?" can no longer start an
    encoded-word that a mail program would decode. Forms refuse all of these already; this holds
    for whatever was stored before.
    """
    cleaned = "".join(
        " "
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} or char.splitlines() != [char]
        else char
        for char in text
    )
    return " ".join(cleaned.replace("=?", "= ?").split())


def address(name: str, email: str) -> Address:
    """A header address: the display name made safe, the domain in IDNA form (raises BuildError)."""
    try:
        return Address(display_name=_header_text(name), addr_spec=ascii_email(email))
    except (Invalid, ValueError, IndexError) as error:  # Address raises these for a malformed addr_spec
        raise BuildError(f"The address {email!r} cannot be used in an email: {error}") from None


def compose(
    *,
    sender_name: str,
    to: tuple[str, str],
    subject: str,
    template: str,
    context: dict,
    reply_to: tuple[str, str] | None = None,
) -> EmailMessage:
    """A message from Hearth's sending address: text and HTML bodies from templates/email/<template>.txt|.html.

    Raises BuildError when the result would not read back exactly as built (see _verify).
    """
    message = EmailMessage(policy=POLICY)
    headers = {
        "From": address(sender_name, current_app.config["MAIL_DEFAULT_SENDER"]),
        "To": address(*to),
        "Subject": _header_text(subject),
    }
    if reply_to:
        headers["Reply-To"] = address(*reply_to)
    for name, value in headers.items():
        message[name] = value
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["PUBLIC_URL"]).hostname)
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    verify(message)
    return message


TOP_HEADERS = {"from", "to", "reply-to", "subject", "date", "message-id", "mime-version", "content-type"}


def verify(message: EmailMessage) -> None:
    """Check that the headers, written exactly as sending writes them, parse back as only
    themselves with the same values; else BuildError.

    Whatever a name holds and whatever the Python patch level (CVE-2024-6923), no header line can
    be added by the values. Only the header block is written and parsed (the generator folds each
    header with the same policy call), which keeps this cheap enough for every message.
    """
    raw = b"".join(message.policy.fold_binary(name, value) for name, value in message.raw_items()) + b"\r\n"
    parsed = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)  # raw values, read below
    names = [name.lower() for name in parsed.keys()]
    expected = [name.lower() for name in message.keys()]
    if sorted(names) != sorted(expected) or not set(names) <= TOP_HEADERS:
        raise BuildError("The message headers did not read back as built; it was not sent.")
    for name in ("From", "To", "Reply-To"):
        if name in message and read_addresses(parsed, name) != [
            (a.display_name, a.addr_spec) for a in message[name].addresses
        ]:
            raise BuildError(f"The {name} header did not read back as built; it was not sent.")
    if read_text(parsed, "Subject") != str(message["Subject"]):
        raise BuildError("The subject did not read back as built; it was not sent.")


def _raw(message, name: str) -> str:
    """A header as it arrived, unfolded."""
    values = [value for key, value in message.raw_items() if key.lower() == name.lower()]
    return re.sub(r"\r?\n[ \t]", " ", " ".join(values))


def read_text(message, name: str) -> str:
    """A header's text as RFC 2047 decodes it (whitespace between encoded-words dropped)."""
    return read_text_value(_raw(message, name))


def read_addresses(message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of a header as a mail program reads them: the address
    structure first, then each name decoded (Python 3.11's own parser keeps spaces between words)."""
    return [(read_text_value(phrase), addr) for phrase, addr in getaddresses([_raw(message, name)])]


def read_text_value(text: str) -> str:
    return str(make_header(decode_header(text))).strip()


def delivery_enabled() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def deliver(message: EmailMessage, therapist: Therapist) -> tuple[str, str | None]:
    """Send one message; returns (SENT | OUTBOX | FAILED, reason). Never raises for mail trouble."""
    return deliver_all([message], therapist)[0]


def deliver_all(messages: list[EmailMessage], therapist: Therapist) -> list[tuple[str, str | None]]:
    """Send messages over one SMTP connection (or keep them in the outbox), each with its own outcome."""
    if not delivery_enabled():
        return keep(messages, therapist)
    outcomes: list[tuple[str, str | None]] = []
    try:
        with _TimedConnection(current_app.extensions["mail"]) as connection:
            for message in messages:
                try:
                    connection.host.send_message(message)
                    outcomes.append((DeliveryStatus.SENT, None))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
                    connection.host.rset()  # this message was refused; the next may still go
                    outcomes.append(_failed(message, error))
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        # The connection broke: whatever was not sent yet failed with it.
        outcomes += [_failed(message, error) for message in messages[len(outcomes) :]]
    return outcomes


def keep(messages: list[EmailMessage], therapist: Therapist, reason: str | None = None) -> list[tuple[str, str | None]]:
    """Put messages in the therapist's Outbox instead of sending them; `reason` says why, when delivery is on."""
    for message in messages:
        db.session.add(
            OutboxMessage(
                therapist_id=therapist.id,
                recipient=message["To"].addresses[0].addr_spec,
                subject=str(message["Subject"])[:300],
                raw=message.as_bytes(),
            )
        )
    db.session.commit()
    return [(DeliveryStatus.OUTBOX, reason)] * len(messages)


UNCONFIRMED = "Hearth emails people for you once you confirm your email address with the link we sent you."


def held_back(therapist: Therapist, count: int) -> str | None:
    """Why `count` emails on this therapist's behalf must stay in the Outbox, or None when they may go.

    No one sends mail through Hearth in another person's name: the sender's own address must be confirmed
    first, and each account sends at most MAIL_DAILY_CAP emails a day.
    """
    if not delivery_enabled():
        return None  # everything goes to the Outbox anyway
    if therapist.email_confirmed_at is None:
        return UNCONFIRMED
    cap = current_app.config["MAIL_DAILY_CAP"]
    if not quota.take(f"{cap} per day", "mail-day", therapist.id, cost=count):
        return (
            f"you have reached today's limit of {cap} emails sent for you. "
            "Download them from the Outbox and send them yourself, or resend tomorrow."
        )
    return None


def _failed(message: EmailMessage, error: Exception) -> tuple[str, str]:
    current_app.logger.warning("Mail to %s failed: %s", message["To"], error)
    return DeliveryStatus.FAILED, describe(error)


def describe(error: Exception) -> str:
    """A short reason a therapist can act on."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [f"{code} {reply.decode(errors='replace')}" for code, reply in error.recipients.values()]
        return ("The mail server refused the address: " + "; ".join(codes))[:500]
    if isinstance(error, smtplib.SMTPResponseException):
        return f"The mail server refused the message: {error.smtp_code} {error.smtp_error.decode(errors='replace')}"[
            :500
        ]
    # smtplib reports a timeout while reading a reply as a disconnection that "timed out".
    if isinstance(error, (socket.timeout, TimeoutError)) or "timed out" in str(error):
        return "The mail server did not answer in time."
    if isinstance(error, ConnectionRefusedError):
        return "The mail server could not be reached (connection refused)."
    return f"The message could not be sent: {error}"[:500]


def outbox(therapist: Therapist) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).filter_by(therapist_id=therapist.id).order_by(OutboxMessage.id.desc()).limit(200)
        )
    )


def read(message: OutboxMessage) -> dict:
    """A kept message as its recipient would see it: the headers a mail app shows, its text and HTML parts,
    and whether it carries an invite. A part that is missing (or a message that cannot be parsed) is None."""
    parsed = message_from_bytes(message.raw, policy=policy.default)
    parts = {"text/plain": None, "text/html": None}
    has_invite = False
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in parts and parts[kind] is None and part.get_content_disposition() != "attachment":
            try:
                parts[kind] = part.get_content()
            except (LookupError, ValueError):  # an unknown charset: show the other part rather than fail
                pass
        has_invite = has_invite or kind == "text/calendar"
    return {
        "subject": parsed["Subject"] or message.subject,
        "from": parsed["From"],
        "to": parsed["To"] or message.recipient,
        "reply_to": parsed["Reply-To"],
        "date": parsed["Date"],
        "text": parts["text/plain"],
        "html": parts["text/html"],
        "has_invite": has_invite,
    }
