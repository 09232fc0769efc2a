"""Sending mail: by SMTP through Flask-Mail's connection, or into the in-app outbox when no server is set."""
from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import flask_mail
from flask import current_app
from sqlalchemy import select

from extensions import db
from models import OutboxMessage, Therapist


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


def delivery_enabled() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def deliver(message: EmailMessage, therapist: Therapist) -> tuple[str, str | None]:
    """Send one message; returns ("sent" | "outbox" | "failed", reason). Never raises for mail trouble."""
    if not delivery_enabled():
        db.session.add(
            OutboxMessage(
                therapist_id=therapist.id, recipient=message["To"], subject=message["Subject"], raw=message.as_bytes()
            )
        )
        db.session.commit()
        return "outbox", None
    try:
        with _TimedConnection(current_app.extensions["mail"]) as connection:
            connection.host.send_message(message)
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        current_app.logger.warning("Mail to %s failed: %s", message["To"], error)
        return "failed", describe(error)
    return "sent", None


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
