"""Database models. Times are stored as naive UTC datetimes (portable across SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import DDL, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, event, false, select, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

import links
from extensions import db


def utcnow() -> datetime:
    """The current time as naive UTC, the form every timestamp column stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Therapist(UserMixin, db.Model):
    __tablename__ = "therapists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased normalised email: the key that makes addresses unique regardless of case.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    # What Flask-Login keeps in the session; replacing it signs out every other session.
    login_token: Mapped[str] = mapped_column(String(64), unique=True, default=links.new_token)
    personal_slug: Mapped[str] = mapped_column(String(40), unique=True)
    personal_slug_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The private calendar-feed address; made when first shown, replaced on request.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the address was shown to be theirs (a link opened from it); until then Hearth sends no one mail for them.
    email_confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Reminder emails to clients (Account Settings → Reminders): 24 hours before is on unless turned off.
    remind_24h: Mapped[bool] = mapped_column(default=True, server_default=true())
    remind_1h: Mapped[bool] = mapped_column(default=False, server_default=false())

    clients: Mapped[list[Client]] = relationship(back_populates="therapist", lazy="raise")

    def get_id(self) -> str:
        return self.login_token

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def by_email(cls, email_key: str) -> Therapist | None:
        return db.session.scalar(select(cls).filter_by(email_key=email_key))


class Client(db.Model):
    __tablename__ = "clients"
    # The client list: one therapist's clients in name order, a page at a time.
    __table_args__ = (Index("ix_clients_therapist_name", "therapist_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set from Client details: this client gets no reminder emails.
    reminders_off: Mapped[bool] = mapped_column(default=False, server_default=false())

    therapist: Mapped[Therapist] = relationship(back_populates="clients")
    room_links: Mapped[list[RoomLink]] = relationship(
        back_populates="client", order_by="RoomLink.created_at", cascade="all, delete-orphan"
    )

    @property
    def zone(self) -> ZoneInfo:
        """The client's own zone, or the therapist's when none was given."""
        return ZoneInfo(self.timezone or self.therapist.timezone)

    @property
    def room_link(self) -> RoomLink:
        """The link in force (the one not yet replaced)."""
        return next(link for link in reversed(self.room_links) if link.replaced_at is None)

    @property
    def short_name(self) -> str:
        """First name and last initial: all an invite title or feed may show."""
        parts = self.name.split()
        if len(parts) < 2:
            return self.name
        return f"{parts[0]} {parts[-1][0]}."


class RoomLink(db.Model):
    """A client's room token; replaced tokens stay as history and stop opening the room."""

    __tablename__ = "room_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=links.new_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship(back_populates="room_links")


class Appointment(db.Model):
    """A booked session (the screens say "session"; this name keeps clear of flask.session)."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_therapist_starts", "therapist_id", "starts_at"),)

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    # Attendance, marked after the session's end (for billing elsewhere).
    ATTENDANCE = {"attended": "Attended", "no_show": "No-show", "late_cancellation": "Late cancellation"}

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    # The iCalendar UID every emailed version shares, and the version number it last went out with.
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    # A random key the booking form carries, so a double click or resubmission books once.
    booking_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the current time was set (booked or last moved): a reminder whose window had already begun is not sent.
    time_set_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The client pressed "Confirm I'll be there" for the current time (cleared by a reschedule).
    confirmed_at: Mapped[datetime | None]
    attendance: Mapped[str | None] = mapped_column(String(20))

    therapist: Mapped[Therapist] = relationship()
    client: Mapped[Client] = relationship()
    deliveries: Mapped[list[InviteDelivery]] = relationship(
        back_populates="appointment", order_by="InviteDelivery.id", cascade="all, delete-orphan"
    )

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def is_cancelled(self) -> bool:
        return self.status == self.CANCELLED

    @property
    def attendance_label(self) -> str:
        return self.ATTENDANCE.get(self.attendance or "", "")

    def latest_deliveries(self) -> list[InviteDelivery]:
        """The last send to each recipient: what their calendar holds now."""
        latest: dict[str, InviteDelivery] = {}
        for delivery in self.deliveries:
            latest[delivery.role] = delivery
        return list(latest.values())


class InviteDelivery(db.Model):
    """One invite email to one person: what was sent, and whether it arrived at the mail server."""

    __tablename__ = "invite_deliveries"

    SENT = "sent"
    FAILED = "failed"
    OUTBOX = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # "client" or "therapist"
    recipient: Mapped[str] = mapped_column(String(254))
    method: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    appointment: Mapped[Appointment] = relationship(back_populates="deliveries")


class Reminder(db.Model):
    """One reminder email for one session time and kind ("24h", "1h").

    The row is the claim: (session, kind, start time) is unique, so of several workers finding the same
    reminder due only the one whose insert succeeds sends it. A reschedule makes a new start time, so
    the reminder is armed again; retries move the row on by conditional UPDATEs.
    """

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("appointment_id", "kind", "starts_at", name="uq_reminders_once"),
                      Index("ix_reminders_status_next", "status", "next_attempt_at"))

    SENDING = "sending"
    SENT = "sent"
    OUTBOX = "outbox"
    RETRY = "retry"
    FAILED = "failed"
    DROPPED = "dropped"  # the session was cancelled or moved before this went out

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    starts_at: Mapped[datetime]  # the session start this reminder announces
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=1)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    recipient: Mapped[str] = mapped_column(String(254))
    error: Mapped[str | None] = mapped_column(String(500))
    # Only a hash of the "Confirm I'll be there" token is kept; the link works once.
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None]

    appointment: Mapped[Appointment] = relationship()


class OutboxMessage(db.Model):
    """A message kept in the app instead of sent, while no SMTP server is configured."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomParticipant(db.Model):
    """One visit to a room: a client, the therapist, or a visitor from the personal link.

    `peer_id` is the visit's secret: every signalling request names it, and it expires with the visit.
    """

    __tablename__ = "room_participants"
    __table_args__ = (Index("ix_room_participants_room_status", "room", "status"),)

    WAITING = "waiting"  # a visitor in the lobby
    IN_ROOM = "in_room"
    DECLINED = "declined"
    LEFT = "left"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "client:<client id>" or "personal:<therapist id>"
    room: Mapped[str] = mapped_column(String(40))
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # therapist, client or visitor
    name: Mapped[str] = mapped_column(String(80))
    peer_id: Mapped[str] = mapped_column(String(64), unique=True, default=links.new_token)
    status: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
    # The highest message number this participant has sent: a replayed or older message is refused.
    last_seq: Mapped[int] = mapped_column(default=0)

    @property
    def minutes(self) -> int:
        end = self.left_at or self.last_seen
        return max(0, round((end - self.joined_at).total_seconds() / 60))


class RoomSignal(db.Model):
    """An offer, answer, ICE candidate or state note from one participant to the other, kept until read."""

    __tablename__ = "room_signals"
    # Browsers ask for messages after the last id they saw, so ids must never be reused after a delete.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("room_participants.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("room_participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# On PostgreSQL the database itself refuses overlapping scheduled sessions of one therapist, so no
# race between two requests can double-book. Half-open ranges: back-to-back sessions do not overlap.
NO_OVERLAP = (
    "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_no_overlap EXCLUDE USING gist "
    "(therapist_id WITH =, tsrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'scheduled')"
)
event.listen(Appointment.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS btree_gist").execute_if(dialect="postgresql"))
event.listen(Appointment.__table__, "after_create", DDL(NO_OVERLAP).execute_if(dialect="postgresql"))


class PasswordReset(db.Model):
    """A "forgot password" link: single use, one hour, and only a hash of its token is kept."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    therapist: Mapped[Therapist] = relationship()


class Activity(db.Model):
    """One change a therapist made, with when and from where. Written once, never edited."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_therapist_at", "therapist_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(String(300), default="")


class EmailConfirmation(db.Model):
    """A link sent to an address to show it belongs to the therapist: their own at signup, or a new one.

    Only a hash of the token is kept; it works once, for a limited time.
    """

    __tablename__ = "email_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    therapist: Mapped[Therapist] = relationship()


class Invitation(db.Model):
    """A single-use signup link a therapist made, for when signups are closed (SIGNUP=closed)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
