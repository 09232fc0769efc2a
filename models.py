"""Database models. Times are stored as naive UTC datetimes (portable across SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Text, select
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("therapists.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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
