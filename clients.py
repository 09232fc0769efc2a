"""A therapist's clients and their room links, and the therapist's personal link."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, func, literal_column, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

import booking
import links
import rooms
from database import commit, write_lock
from extensions import db
from models import Appointment, Client, RoomLink, SessionStatus, Therapist, utcnow
from validation import Invalid

PAGE_SIZE = 50


class SlugTaken(Invalid):
    """Another therapist's personal link already uses this slug."""


SHORT_QUERY = 2  # this many characters or fewer: too short for a trigram, so a name-prefix match


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_prefix(query: str):
    """Names starting with `query`, in any case, as ranges the (therapist_id, name) index reads directly.

    Each spelling ("jo", "Jo", "jO", "JO") is one range [prefix, next prefix); the ILIKE keeps exactly
    the names that match, whatever the collation puts inside a range.
    """
    spellings = {""}
    for char in query:
        spellings = {start + variant for start in spellings for variant in {char.lower(), char.upper()}}
    ranges = [
        and_(Client.name >= spelling, Client.name < spelling[:-1] + chr(ord(spelling[-1]) + 1))
        for spelling in sorted(spellings)
    ]
    return and_(or_(*ranges), Client.name.ilike(_escape_like(query) + "%", escape="\\"))


def _substring(therapist: Therapist, query: str):
    """The therapist's clients whose name or email contains `query`, found through the trigram index
    rather than by reading every one of them."""
    if db.session.get_bind().dialect.name == "sqlite":
        phrase = '"' + query.replace('"', '""') + '"'  # one FTS5 string: the trigram tokenizer matches substrings
        found = (
            select(text("rowid"))
            .select_from(text("clients_search"))
            .where(text("clients_search MATCH :phrase").bindparams(phrase=phrase))
        )
        # "+ 0" keeps SQLite from walking all the therapist's clients along the name index to test each
        # one against the matches: it fetches the few matches by id instead.
        return and_(Client.therapist_id + literal_column("0") == therapist.id, Client.id.in_(found))
    # PostgreSQL: the pg_trgm GIN index on this very expression serves the ILIKE. Literals, not
    # parameters, so that the planner sees the indexed expression itself.
    name_and_email = Client.name.concat(literal_column("' '")).concat(func.coalesce(Client.email, literal_column("''")))
    return and_(Client.therapist_id == therapist.id, name_and_email.ilike(f"%{_escape_like(query)}%", escape="\\"))


def search(therapist: Therapist, query: str = "", *, archived: bool = False, page: int = 1, per_page: int = PAGE_SIZE):
    """One page of the therapist's clients, by name: a short query matches the start of the name,
    a longer one any part of the name or email."""
    if len(query) > SHORT_QUERY:
        statement = select(Client).where(_substring(therapist, query))
    else:
        statement = select(Client).filter_by(therapist_id=therapist.id)
        if query:
            statement = statement.where(_name_prefix(query))
    statement = statement.where(Client.archived_at.is_not(None) if archived else Client.archived_at.is_(None))
    statement = statement.order_by(Client.name, Client.id)
    return db.paginate(statement, page=page, per_page=per_page, max_per_page=per_page, error_out=False)


def has_active(therapist: Therapist) -> bool:
    """Whether the therapist has a client to book with (first-run screens point to Add client otherwise)."""
    return (
        db.session.scalar(select(Client.id).filter_by(therapist_id=therapist.id, archived_at=None).limit(1)) is not None
    )


def add(therapist: Therapist, *, before_commit: Callable[[Client], object] | None = None, **fields) -> Client:
    """Create a client with its first room link (`before_commit(client)` runs before it is stored)."""
    client = Client(therapist_id=therapist.id, **fields)
    client.room_links.append(RoomLink())
    db.session.add(client)
    commit(before_commit, client)
    return client


class HasUpcoming(Invalid):
    """Archiving would leave booked sessions pointing at a dead link: the therapist must choose."""

    def __init__(self, client: Client, sessions: list[Appointment]):
        count = len(sessions)
        super().__init__(
            f"{client.name} has {count} upcoming session{'' if count == 1 else 's'}. "
            "Cancel them to archive, or keep the client."
        )
        self.sessions = sessions


def update(
    client: Client, *, before_commit: Callable[[booking.AddressChange], object] | None = None, **fields
) -> booking.AddressChange | None:
    """Save the client's details. A new email with sessions booked counts a new version of each
    (the caller sends the CANCEL to the old address and the invites to the new one, built in
    `before_commit(change)`: if that raises, nothing is saved)."""
    old_email = client.email
    moving = fields.get("email", old_email) != old_email and old_email
    if moving:
        write_lock(client.therapist_id)
    sessions = booking.upcoming(client) if moving else []
    if sessions and not fields.get("email"):
        db.session.rollback()
        count = len(sessions)
        raise Invalid(
            f"{client.name} has {count} upcoming session{'' if count == 1 else 's'}: an email address is "
            "needed for their invites. Enter a new address, or cancel the sessions first."
        )
    for name, value in fields.items():
        setattr(client, name, value)
    booking.new_version(sessions)
    change = booking.AddressChange("client", old_email, sessions) if sessions else None
    commit(before_commit, change)
    return change


def archive(
    client: Client,
    *,
    cancel_sessions: bool = False,
    before_commit: Callable[[list[Appointment]], object] | None = None,
) -> list[Appointment]:
    """Take a client off the list; their room link stops opening until they are restored.

    A client with upcoming sessions is archived only with `cancel_sessions` (else HasUpcoming), so a
    scheduled session never points at a dead link. Returns the sessions cancelled, to send CANCELs for
    (built in `before_commit(sessions)`: if that raises, nothing changes).
    """
    if client.archived_at is not None:
        return []
    write_lock(client.therapist_id)
    sessions = booking.upcoming(client)
    if sessions and not cancel_sessions:
        db.session.rollback()
        raise HasUpcoming(client, sessions)
    booking.new_version(sessions, cancel=True)
    client.archived_at = utcnow()
    rooms.end_visits(rooms.client_room(client))
    commit(before_commit, sessions)
    return sessions


def restore(client: Client, *, before_commit: Callable[[], object] | None = None) -> RoomLink:
    """Bring an archived client back with a fresh room link (the old one stays dead)."""
    client.archived_at = None
    new_link = _new_room_link(client)
    commit(before_commit)
    return new_link


def _new_room_link(client: Client) -> RoomLink:
    now = utcnow()
    for link in client.room_links:
        if link.replaced_at is None:
            link.replaced_at = now
    new_link = RoomLink(created_at=now)
    client.room_links.append(new_link)
    rooms.end_visits(rooms.client_room(client), rooms.CLIENT)
    return new_link


def replace_room_link(
    client: Client, *, before_commit: Callable[[list[Appointment]], object] | None = None
) -> tuple[RoomLink, list[Appointment]]:
    """Issue a new room link; the old one stops working at once but stays on record.

    Each upcoming session counts a new version in the same commit, whose invite carries the new
    link: returns them, for the caller to send the updates (built in `before_commit(sessions)`: if
    that raises, the old link stays).
    """
    write_lock(client.therapist_id)
    sessions = booking.upcoming(client)
    new_link = _new_room_link(client)
    booking.new_version(sessions)
    commit(before_commit, sessions)
    return new_link, sessions


def open_room(token: str) -> Client | None:
    """The active client whose current room link is `token`, or None."""
    return db.session.scalar(
        select(Client)
        .join(RoomLink)
        .where(RoomLink.token == token, RoomLink.replaced_at.is_(None), Client.archived_at.is_(None))
        .options(selectinload(Client.therapist))
    )


def therapist_by_slug(slug: str) -> Therapist | None:
    return db.session.scalar(select(Therapist).filter_by(personal_slug=slug))


def check_slug(therapist: Therapist, slug: str) -> str:
    """The slug if this therapist may use it, else Invalid (bad form) or SlugTaken."""
    if problem := links.slug_problem(slug):
        raise Invalid(problem)
    owner = therapist_by_slug(slug)
    if owner is not None and owner.id != therapist.id:
        raise SlugTaken("This link is already taken. Try another.")
    return slug


def change_slug(therapist: Therapist, slug: str) -> None:
    """Move the personal link to a new slug; the old address stops working."""
    check_slug(therapist, slug)
    if slug != therapist.personal_slug:
        therapist.personal_slug = slug
        therapist.personal_slug_changed_at = utcnow()
        rooms.end_visits(rooms.personal_room(therapist), rooms.VISITOR)
        try:
            db.session.commit()
        except IntegrityError:  # taken by someone else between the check and the commit
            db.session.rollback()
            raise SlugTaken("This link is already taken. Try another.") from None


def next_session(client: Client) -> Appointment | None:
    """The client's next scheduled session that has not ended yet, or None."""
    return db.session.scalar(
        select(Appointment)
        .where(
            Appointment.client_id == client.id,
            Appointment.status == SessionStatus.SCHEDULED,
            Appointment.ends_at > utcnow(),
        )
        .order_by(Appointment.starts_at)
        .limit(1)
    )


def room_url(client: Client) -> str:
    """The absolute address of the client's room, as it goes into emails and the copy field."""
    return links.external_url("rooms.client_page", token=client.room_link.token)


def lobby_url(therapist: Therapist) -> str:
    """The absolute address of the therapist's personal link."""
    return links.external_url("rooms.visitor_page", slug=therapist.personal_slug)
