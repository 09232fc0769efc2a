"""Database models. Every moment is an aware UTC datetime (extensions.UTCDateTime stores it as naive UTC,
portable across SQLite and PostgreSQL); only a series' wall-clock start is naive (extensions.WallDateTime)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_login import UserMixin
from sqlalchemy import (
    DDL,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    select,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import links
from extensions import WallDateTime, db


def first_name(name: str) -> str:
    """The first word of a name ("María-José" of "María-José Núñez-Žáková"), or the whole name if it has one word."""
    return (name.split() or [name])[0]


def utcnow() -> datetime:
    """The current time, aware UTC: the form every moment column takes and returns."""
    return datetime.now(timezone.utc)


def parse_zone(name: str | None) -> ZoneInfo | None:
    """The zone a stored name stands for, or None when it is empty or no longer parses.

    Stored data must never make a page fail: a name that was saved blank-ish, or that a later tzdata
    dropped, reads as "no zone" here and shows as "unknown".
    """
    if not name or not name.strip():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


UTC = ZoneInfo("UTC")


# The values a status, role or method column may hold: the database refuses any other (a CHECK),
# and code and templates name them through these enums instead of repeating string literals.
class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    OUTBOX = "outbox"


class Recipient(StrEnum):
    """Who an invite went to."""

    CLIENT = "client"
    THERAPIST = "therapist"


class InviteMethod(StrEnum):
    """The iCalendar METHOD an invite carried."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class ParticipantRole(StrEnum):
    THERAPIST = "therapist"
    CLIENT = "client"
    VISITOR = "visitor"


class ParticipantStatus(StrEnum):
    WAITING = "waiting"  # a visitor in the lobby
    IN_ROOM = "in_room"
    DECLINED = "declined"
    LEFT = "left"
    ENDED = "ended"  # ended by the therapist or by revoking the link it came through


class Attendance(StrEnum):
    """How a session went, marked after its end (for billing elsewhere)."""

    ATTENDED = "attended"
    NO_SHOW = "no_show"
    LATE_CANCELLATION = "late_cancellation"


class ReminderKind(StrEnum):
    """How long before the session a reminder goes out."""

    DAY_BEFORE = "24h"
    HOUR_BEFORE = "1h"


class ReminderStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    OUTBOX = "outbox"
    RETRY = "retry"
    FAILED = "failed"
    DROPPED = "dropped"  # the session was cancelled or moved before this went out


class CalendarDelivery(StrEnum):
    """How the therapist's own calendar gets sessions: emailed invites, or only the subscription feed."""

    EMAIL = "email"
    FEED = "feed"


ENUMS = (
    SessionStatus,
    DeliveryStatus,
    Recipient,
    InviteMethod,
    ParticipantRole,
    ParticipantStatus,
    Attendance,
    ReminderKind,
    ReminderStatus,
    CalendarDelivery,
)


def enum_type(enum: type[StrEnum], name: str, length: int = 16) -> Enum:
    """A VARCHAR holding one of the enum's values, with a CHECK naming them, on every database."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Therapist(UserMixin, db.Model):
    __tablename__ = "therapists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased normalised email: the key that makes addresses unique regardless of case.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(20))  # date and time formats; None: the browser's
    # Two-factor login: the TOTP secret once setup is confirmed, and the last time step used (a code works once).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None]
    personal_slug: Mapped[str] = mapped_column(String(40), unique=True)
    personal_slug_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The private calendar-feed address; made when first shown, replaced on request.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the address was shown to be theirs (a link opened from it); until then Hearth sends no one mail for them.
    email_confirmed_at: Mapped[datetime | None]
    calendar_delivery: Mapped[CalendarDelivery] = mapped_column(
        enum_type(CalendarDelivery, "calendar_delivery"),
        default=CalendarDelivery.EMAIL,
        server_default=CalendarDelivery.EMAIL.value,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Reminder emails to clients (Account Settings → Reminders): 24 hours before is on unless turned off.
    remind_24h: Mapped[bool] = mapped_column(default=True, server_default=true())
    remind_1h: Mapped[bool] = mapped_column(default=False, server_default=false())

    clients: Mapped[list[Client]] = relationship(back_populates="therapist", lazy="raise")

    # The LoginSession this request is logged in with; set at login and by the user loader.
    login_session = None

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookies: the login session's token, never the therapist alone."""
        return self.login_session.token

    @property
    def two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def zone(self) -> ZoneInfo:
        return parse_zone(self.timezone) or UTC

    @property
    def zone_label(self) -> str:
        return self.timezone if parse_zone(self.timezone) else "unknown"

    @property
    def emails_own_copy(self) -> bool:
        """Whether the therapist's copy of each invite is emailed (not when they use the feed instead)."""
        return self.calendar_delivery != CalendarDelivery.FEED

    @classmethod
    def by_email(cls, email_key: str) -> Therapist | None:
        return db.session.scalar(select(cls).filter_by(email_key=email_key))


class Client(db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        # The client list: one therapist's clients in name order, a page at a time.
        Index("ix_clients_therapist_name", "therapist_id", "name"),
        # What sessions and room visits point at, so that they cannot mix one therapist with another's client.
        UniqueConstraint("id", "therapist_id", name="uq_clients_id_therapist_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str | None] = mapped_column(String(64))
    email_name: Mapped[str | None] = mapped_column(String(100))  # "name to use in emails"; None: the first word
    locale: Mapped[str | None] = mapped_column(String(20))  # formats in the client's emails; None: the therapist's
    note: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set from Client details: this client gets no reminder emails.
    reminders_off: Mapped[bool] = mapped_column(default=False, server_default=false())

    therapist: Mapped[Therapist] = relationship(back_populates="clients")
    room_links: Mapped[list[RoomLink]] = relationship(
        back_populates="client", order_by="RoomLink.created_at", cascade="all, delete-orphan"
    )
    # The one link in force, loaded alone instead of the whole history.
    active_room_link: Mapped[RoomLink | None] = relationship(
        primaryjoin="and_(RoomLink.client_id == Client.id, RoomLink.replaced_at.is_(None))",
        viewonly=True,
        uselist=False,
    )

    @property
    def zone(self) -> ZoneInfo:
        """The client's own zone, or the therapist's when none was given (or it no longer parses)."""
        return parse_zone(self.timezone) or self.therapist.zone

    @property
    def zone_label(self) -> str:
        """What the details show: the zone's name, or "unknown" for a stored name that does not parse."""
        if self.timezone and self.timezone.strip():
            return self.timezone if parse_zone(self.timezone) else "unknown"
        return self.therapist.zone.key

    @property
    def room_link(self) -> RoomLink | None:
        """The link in force (the one not yet replaced)."""
        return self.active_room_link

    @property
    def greeting_name(self) -> str:
        """How emails greet the client: the name they asked for, else the first word of their name."""
        return self.email_name or first_name(self.name)

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
    __table_args__ = (
        Index("ix_appointments_therapist_starts", "therapist_id", "starts_at"),
        # The client must be this therapist's client.
        ForeignKeyConstraint(["client_id", "therapist_id"], ["clients.id", "clients.therapist_id"]),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    # Attendance, marked after the session's end (for billing elsewhere).
    ATTENDANCE = {
        Attendance.ATTENDED: "Attended",
        Attendance.NO_SHOW: "No-show",
        Attendance.LATE_CANCELLATION: "Late cancellation",
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"))
    client_id: Mapped[int] = mapped_column(index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[SessionStatus] = mapped_column(enum_type(SessionStatus, "status"), default=SessionStatus.SCHEDULED)
    # The iCalendar UID every emailed version shares, and the version number it last went out with.
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    # A random key the booking form carries, so a double click or resubmission books once.
    booking_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The ORGANIZER address the first version went out with: every later version must repeat it,
    # or calendar apps drop the update. None only for sessions booked before it was stored.
    organizer: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the current time was set (booked or last moved): a reminder whose window had already begun is not sent.
    time_set_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The client pressed "Confirm I'll be there" for the current time (cleared by a reschedule).
    confirmed_at: Mapped[datetime | None]
    attendance: Mapped[Attendance | None] = mapped_column(enum_type(Attendance, "attendance", length=20))
    # A session of a weekly series: the series, and the start the series' rule gave it (its RECURRENCE-ID,
    # UTC), which stays when this one session is moved.
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), index=True)
    recurrence_id: Mapped[datetime | None]

    therapist: Mapped[Therapist] = relationship()
    client: Mapped[Client] = relationship(foreign_keys=[client_id])
    series: Mapped[Series | None] = relationship(back_populates="appointments")
    deliveries: Mapped[list[InviteDelivery]] = relationship(
        back_populates="appointment", order_by="InviteDelivery.id", cascade="all, delete-orphan"
    )

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def new_version(self) -> None:
        """Count a new version of this session. One of a series goes out under the series' UID (with its
        RECURRENCE-ID), and calendars weigh it against the series' SEQUENCE too: it is numbered above both."""
        self.sequence = max(self.sequence, (self.series.sequence or 0) if self.series is not None else 0) + 1

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED

    @property
    def attendance_label(self) -> str:
        return self.ATTENDANCE.get(self.attendance or "", "")

    def latest_deliveries(self) -> list[InviteDelivery]:
        """The last send to each recipient: what their calendar holds now."""
        latest: dict[str, InviteDelivery] = {}
        for delivery in self.deliveries:
            latest[delivery.role] = delivery
        return list(latest.values())


class Series(db.Model):
    """Sessions booked together, weekly or every 2 weeks: one iCalendar event with an RRULE.

    Every occurrence is an Appointment row (so overlaps are refused for each); the series keeps what the
    invite needs: its UID and SEQUENCE, the rule, and the first start as a wall-clock time in the
    therapist's zone, so the local time stays the same across clock changes.
    """

    __tablename__ = "series"
    __table_args__ = (
        ForeignKeyConstraint(["client_id", "therapist_id"], ["clients.id", "clients.therapist_id"]),
        CheckConstraint("minutes > 0", name="positive_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    client_id: Mapped[int] = mapped_column(index=True)
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    # The RRULE value, e.g. "FREQ=WEEKLY;INTERVAL=2;COUNT=12" (UNTIL in UTC, as RFC 5545 asks with a TZID).
    rule: Mapped[str] = mapped_column(String(200))
    # DTSTART: the first session's wall-clock start in `timezone` (naive: a time on the clock, not a moment).
    starts_local: Mapped[datetime] = mapped_column(WallDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    minutes: Mapped[int]
    organizer: Mapped[str | None] = mapped_column(String(254))
    booking_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    therapist: Mapped[Therapist] = relationship()
    client: Mapped[Client] = relationship(foreign_keys=[client_id])
    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="series", order_by="Appointment.recurrence_id"
    )

    @property
    def zone(self) -> ZoneInfo:
        return parse_zone(self.timezone) or UTC

    def new_version(self, also: list[Appointment] = ()) -> None:
        """Count a new version of the whole series, above every session's own SEQUENCE (and those of `also`,
        sessions that just left it): a calendar that keeps a changed session (its RECURRENCE-ID) at SEQUENCE n
        ignores a series update numbered n or lower."""
        self.sequence = max([self.sequence or 0, *(a.sequence for a in [*self.appointments, *also])]) + 1


class InviteDelivery(db.Model):
    """One invite email to one person: what was sent, and whether it arrived at the mail server."""

    __tablename__ = "invite_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    role: Mapped[Recipient] = mapped_column(enum_type(Recipient, "role"))
    recipient: Mapped[str] = mapped_column(String(254))
    method: Mapped[InviteMethod] = mapped_column(enum_type(InviteMethod, "method"))
    sequence: Mapped[int]
    status: Mapped[DeliveryStatus] = mapped_column(enum_type(DeliveryStatus, "status"))
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
    __table_args__ = (
        UniqueConstraint("appointment_id", "kind", "starts_at", name="uq_reminders_once"),
        Index("ix_reminders_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[ReminderKind] = mapped_column(enum_type(ReminderKind, "kind", length=8))
    starts_at: Mapped[datetime]  # the session start this reminder announces
    status: Mapped[ReminderStatus] = mapped_column(enum_type(ReminderStatus, "status"))
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

    def invite(self) -> bytes | None:
        """The calendar invite (.ics) this message carries, if it carries one (a reset email does not)."""
        for part in message_from_bytes(self.raw, policy=policy.default).walk():
            if part.get_content_type() == "text/calendar":
                return part.get_payload(decode=True)
        return None


class RoomParticipant(db.Model):
    """One visit to a room: a client, the therapist, or a visitor from the personal link.

    `peer_id` is the visit's secret: every signalling request names it, and it expires with the visit.
    """

    __tablename__ = "room_participants"
    __table_args__ = (
        Index("ix_room_participants_room_status", "room", "status"),
        # A client's visit is to a room of that client's own therapist.
        ForeignKeyConstraint(["client_id", "therapist_id"], ["clients.id", "clients.therapist_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "client:<client id>" or "personal:<therapist id>"
    room: Mapped[str] = mapped_column(String(40))
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(index=True)
    role: Mapped[ParticipantRole] = mapped_column(enum_type(ParticipantRole, "role"))
    name: Mapped[str] = mapped_column(String(80))
    peer_id: Mapped[str] = mapped_column(String(64), unique=True, default=links.new_token)
    status: Mapped[ParticipantStatus] = mapped_column(enum_type(ParticipantStatus, "status"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
    # The highest message number this participant has sent: a replayed or older message is refused.
    last_seq: Mapped[int] = mapped_column(default=0)

    STALE_AFTER = timedelta(seconds=30)  # a tab that has not polled for this long has left

    @property
    def still_there(self) -> bool:
        return (
            self.status in (ParticipantStatus.IN_ROOM, ParticipantStatus.WAITING)
            and self.last_seen >= utcnow() - self.STALE_AFTER
        )

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
event.listen(
    Appointment.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS btree_gist").execute_if(dialect="postgresql"),
)
event.listen(Appointment.__table__, "after_create", DDL(NO_OVERLAP).execute_if(dialect="postgresql"))


# Client search finds a substring of the name or email without reading every one of a therapist's
# clients: a trigram index answers it. PostgreSQL: pg_trgm GIN indexes, used by ILIKE '%q%'.
# SQLite: an FTS5 table with the trigram tokenizer (SQLite >= 3.34), kept in step with `clients` by
# triggers. Neither is a model, so Alembic's comparison skips them (SEARCH_OBJECTS, migrations/env.py).
SEARCH_OBJECTS = {"ix_clients_search_trgm", "clients_search"}
CLIENT_SEARCH_POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # One index over name and email together: one index scan answers "in the name or the email".
    "CREATE INDEX ix_clients_search_trgm ON clients USING gin ((name || ' ' || coalesce(email, '')) gin_trgm_ops) "
    "WITH (fastupdate = off)",  # straight into the index, not a pending list only VACUUM merges
]
CLIENT_SEARCH_SQLITE = [
    "CREATE VIRTUAL TABLE clients_search USING fts5(name, email, content='clients', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER clients_search_insert AFTER INSERT ON clients BEGIN "
    "INSERT INTO clients_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
    "CREATE TRIGGER clients_search_delete AFTER DELETE ON clients BEGIN "
    "INSERT INTO clients_search(clients_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); END",
    "CREATE TRIGGER clients_search_update AFTER UPDATE OF name, email ON clients BEGIN "
    "INSERT INTO clients_search(clients_search, rowid, name, email) VALUES ('delete', old.id, old.name, old.email); "
    "INSERT INTO clients_search(rowid, name, email) VALUES (new.id, new.name, new.email); END",
]
for statement in CLIENT_SEARCH_POSTGRESQL:
    event.listen(Client.__table__, "after_create", DDL(statement).execute_if(dialect="postgresql"))
for statement in CLIENT_SEARCH_SQLITE:
    event.listen(Client.__table__, "after_create", DDL(statement).execute_if(dialect="sqlite"))
event.listen(Client.__table__, "before_drop", DDL("DROP TABLE IF EXISTS clients_search").execute_if(dialect="sqlite"))


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


class LoginSession(db.Model):
    """One login on one device. The cookies name its token; once ended, they open nothing."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=links.new_token)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    remember_until: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Why it ended: logout, idle, lifetime, signed_out, password_changed, password_reset
    ended_reason: Mapped[str | None] = mapped_column(String(32))

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


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
