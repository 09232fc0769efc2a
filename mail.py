"""Sending mail: by SMTP through Flask-Mail's connection, or into the in-app outbox when no server is set."""
from __future__ import annotations

import smtplib
import socket
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from urllib.parse import urlsplit

import flask_mail
from flask import current_app, render_template
from sqlalchemy import select

import quota
from extensions import db
from models import InviteDelivery, OutboxMessage, Therapist


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


# CRLF as SMTP wants; headers unfolded up to RFC 5322's limit (Python folds "Updated: …" subjects badly at 78).
POLICY = policy.SMTP.clone(max_line_length=998)


def compose(*, sender_name: str, to: tuple[str, str], subject: str, template: str, context: dict,
            reply_to: tuple[str, str] | None = None) -> EmailMessage:
    """A message from Hearth's sending address: text and HTML bodies from templates/email/<template>.txt|.html."""
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((sender_name, current_app.config["MAIL_DEFAULT_SENDER"]))
    message["To"] = formataddr(to)
    if reply_to:
        message["Reply-To"] = formataddr(reply_to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["PUBLIC_URL"]).hostname)
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


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
                    outcomes.append((InviteDelivery.SENT, None))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
                    connection.host.rset()  # this message was refused; the next may still go
                    outcomes.append(_failed(message, error))
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        # The connection broke: whatever was not sent yet failed with it.
        outcomes += [_failed(message, error) for message in messages[len(outcomes):]]
    return outcomes


def keep(messages: list[EmailMessage], therapist: Therapist, reason: str | None = None) -> list[tuple[str, str | None]]:
    """Put messages in the therapist's Outbox instead of sending them; `reason` says why, when delivery is on."""
    for message in messages:
        db.session.add(OutboxMessage(therapist_id=therapist.id, recipient=message["To"],
                                     subject=message["Subject"], raw=message.as_bytes()))
    db.session.commit()
    return [(InviteDelivery.OUTBOX, reason)] * len(messages)


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
        return (f"you have reached today's limit of {cap} emails sent for you. "
                "Download them from the Outbox and send them yourself, or resend tomorrow.")
    return None


def _failed(message: EmailMessage, error: Exception) -> tuple[str, str]:
    current_app.logger.warning("Mail to %s failed: %s", message["To"], error)
    return InviteDelivery.FAILED, describe(error)


def describe(error: Exception) -> str:
    """A short reason a therapist can act on."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [f"{code} {reply.decode(errors='replace')}" for code, reply in error.recipients.values()]
        return ("The mail server refused the address: " + "; ".join(codes))[:500]
    if isinstance(error, smtplib.SMTPResponseException):
        return f"The mail server refused the message: {error.smtp_code} {error.smtp_error.decode(errors='replace')}"[:500]
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
