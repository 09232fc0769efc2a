"""Rooms: who is in a client's room or a therapist's personal room, the lobby, and WebRTC signalling.

Signalling lives in the database so that any gunicorn worker can answer any request; browsers poll.
Reads (present, lobby, history) never write; stale visits are closed on the write paths (join, poll).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time

from flask import current_app
from sqlalchemy import delete, func, or_, select

from extensions import db
from models import Client, ParticipantRole, ParticipantStatus, RoomParticipant, RoomSignal, Therapist, utcnow

STALE_AFTER = RoomParticipant.STALE_AFTER
MAX_SIGNAL_BYTES = 64 * 1024
MAX_PENDING_BYTES = 256 * 1024  # unread messages to one person; a browser that reads keeps far below this
MAX_DEPTH = 4  # SDP and ICE messages are flat objects: {"kind", "data": {...}}
MAX_INT = 2**31 - 1  # the largest INTEGER the database holds (ids, seq)
NAME_MAX = 80  # room_participants.name
LOBBY_SHOWN = 5
KINDS = {"description", "candidate", "state"}
THERAPIST, CLIENT, VISITOR = ParticipantRole.THERAPIST, ParticipantRole.CLIENT, ParticipantRole.VISITOR
IN_ROOM, WAITING, ENDED = ParticipantStatus.IN_ROOM, ParticipantStatus.WAITING, ParticipantStatus.ENDED
OPEN = (IN_ROOM, WAITING)


class RoomError(Exception):
    """A request the room cannot take; `status` is the HTTP answer (404 unknown, 409 conflict, 4xx bad)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def client_room(client: Client) -> str:
    return f"client:{client.id}"


def personal_room(therapist: Therapist) -> str:
    return f"personal:{therapist.id}"


def short_name(name: str) -> str:
    """A name as a room shows it: at most the column's 80 characters."""
    name = name.strip()
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + "…"


def read_json(body: bytes, *, allow_empty: bool = False):
    """Parse a request body strictly: no NaN or Infinity, no deep nesting, integers within the database's range.

    Raises RoomError(400) with a message a person can act on; never a RecursionError or a 500.
    """
    if allow_empty and not body.strip():
        return {}

    def refuse_constant(name):
        raise RoomError(f"The message contains {name}, which is not JSON.", 400)

    def finite(text):
        number = float(text)
        if not math.isfinite(number):
            raise RoomError("The message holds a number that is too large.", 400)
        return number

    try:
        value = json.loads(body, parse_constant=refuse_constant, parse_float=finite)
    except (ValueError, UnicodeDecodeError):
        raise RoomError("The message is not valid JSON.", 400) from None
    except RecursionError:
        raise RoomError("The message is nested too deeply.", 400) from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RoomError("The message is nested too deeply.", 400)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            raise RoomError("The message holds a number that is too large.", 400)
    return value


def _fresh():
    return RoomParticipant.last_seen >= utcnow() - STALE_AFTER


def _forget_signals(participant_ids) -> None:
    """Delete messages to or from these visits: SDP and ICE data hold IP addresses."""
    ids = list(participant_ids)
    if ids:
        db.session.execute(
            delete(RoomSignal).where(or_(RoomSignal.sender_id.in_(ids), RoomSignal.recipient_id.in_(ids)))
        )


def _expire(room: str) -> None:
    """Close visits whose browser stopped polling, and forget their messages (a write path's job)."""
    stale = list(
        db.session.scalars(
            select(RoomParticipant).where(RoomParticipant.room == room, RoomParticipant.status.in_(OPEN), ~_fresh())
        )
    )
    for visit in stale:
        visit.status, visit.left_at = ParticipantStatus.LEFT, visit.last_seen
    _forget_signals(v.id for v in stale)


def sweep() -> int:
    """Close every visit, in any room, whose browser stopped polling, and delete the messages of every visit that
    is over: a call whose two tabs died without saying goodbye leaves no SDP or ICE data (IP addresses) behind
    until someone happens to use that room again. The worker runs this every few minutes; returns visits closed."""
    stale = list(db.session.scalars(select(RoomParticipant).where(RoomParticipant.status.in_(OPEN), ~_fresh())))
    for visit in stale:
        visit.status, visit.left_at = ParticipantStatus.LEFT, visit.last_seen
    db.session.flush()
    over = select(RoomParticipant.id).where(RoomParticipant.status.not_in(OPEN))
    db.session.execute(delete(RoomSignal).where(or_(RoomSignal.sender_id.in_(over), RoomSignal.recipient_id.in_(over))))
    db.session.commit()
    return len(stale)


def present(room: str) -> list[RoomParticipant]:
    """Who is in the room now (not the lobby). Read-only: a visit that stopped polling is not counted."""
    return list(
        db.session.scalars(
            select(RoomParticipant)
            .where(RoomParticipant.room == room, RoomParticipant.status == IN_ROOM, _fresh())
            .order_by(RoomParticipant.id)
        )
    )


def _end(participant: RoomParticipant, status: str = ParticipantStatus.LEFT) -> None:
    participant.status, participant.left_at = status, utcnow()
    _forget_signals([participant.id])


def join(
    room: str,
    therapist: Therapist,
    role: str,
    name: str,
    client: Client | None = None,
    previous_peer: str | None = None,
) -> RoomParticipant:
    """Enter a room: two people at most, one of each side.

    Coming back (a reload, which still knows its earlier peer id) replaces one's own earlier visit,
    and so does the therapist, who is logged in; anyone else finding the seat taken is refused.
    """
    _expire(room)
    others = []
    for participant in present(room):
        if participant.role == role and (role == THERAPIST or participant.peer_id == previous_peer):
            _end(participant)
        else:
            others.append(participant)
    if len(others) >= 2 or any(p.role == role for p in others):
        db.session.commit()
        raise RoomError("This room is in use.")
    participant = RoomParticipant(
        room=room,
        therapist_id=therapist.id,
        client_id=client.id if client else None,
        role=role,
        name=short_name(name),
        status=IN_ROOM,
    )
    db.session.add(participant)
    db.session.commit()
    return participant


def knock(therapist: Therapist, name: str) -> RoomParticipant:
    """A visitor from the personal link waits in the lobby."""
    visitor = RoomParticipant(
        room=personal_room(therapist), therapist_id=therapist.id, role=VISITOR, name=name, status=WAITING
    )
    db.session.add(visitor)
    db.session.commit()
    return visitor


def lobby(therapist: Therapist) -> dict:
    """What the notice in the navigation shows: the first few visitors waiting at the personal link, how many
    more there are, and the therapist's clients who are in their room without the therapist. Read-only."""
    waiting = select(RoomParticipant).where(
        RoomParticipant.room == personal_room(therapist), RoomParticipant.status == WAITING, _fresh()
    )
    visitors = list(db.session.scalars(waiting.order_by(RoomParticipant.id).limit(LOBBY_SHOWN)))
    total = db.session.scalar(select(func.count()).select_from(waiting.subquery()))
    in_rooms = db.session.execute(
        select(RoomParticipant, Client)
        .join(Client, RoomParticipant.client_id == Client.id)
        .where(
            RoomParticipant.therapist_id == therapist.id,
            RoomParticipant.status == IN_ROOM,
            _fresh(),
            RoomParticipant.role.in_([CLIENT, THERAPIST]),
            Client.archived_at.is_(None),
        )
        .order_by(RoomParticipant.joined_at)
    ).all()
    with_therapist = {p.room for p, _ in in_rooms if p.role == THERAPIST}
    clients = [c for p, c in in_rooms if p.role == CLIENT and p.room not in with_therapist]
    return {"visitors": visitors, "more": total - len(visitors), "clients": clients}


def _waiting_visitor(therapist: Therapist, participant_id: int) -> RoomParticipant:
    visitor = db.session.scalar(
        select(RoomParticipant).filter_by(id=participant_id, therapist_id=therapist.id, role=VISITOR, status=WAITING)
    )
    if visitor is None:
        raise RoomError("This visitor is no longer waiting.", 404)
    return visitor


def admit(therapist: Therapist, participant_id: int) -> RoomParticipant:
    """Let one waiting visitor into the personal room; only one visitor at a time."""
    visitor = _waiting_visitor(therapist, participant_id)
    inside = [p for p in present(personal_room(therapist)) if p.role == VISITOR]
    if inside:
        raise RoomError(f"{inside[0].name} is still in your room. Admit the next visitor when they have left.")
    visitor.status = IN_ROOM
    visitor.last_seen = utcnow()
    db.session.commit()
    return visitor


def decline(therapist: Therapist, participant_id: int) -> RoomParticipant:
    visitor = _waiting_visitor(therapist, participant_id)
    visitor.status, visitor.left_at = ParticipantStatus.DECLINED, utcnow()
    db.session.commit()
    return visitor


def end_visits(room: str, *roles: str) -> None:
    """End every open visit to `room` (of `roles`, or of anyone): their next poll answers "ended" and their
    messages are refused. For revocation (a replaced link, an archived client, a changed slug); the caller commits."""
    statement = select(RoomParticipant).where(RoomParticipant.room == room, RoomParticipant.status.in_(OPEN))
    if roles:
        statement = statement.where(RoomParticipant.role.in_(roles))
    for visit in db.session.scalars(statement):
        _end(visit, ENDED)


def remove(therapist: Therapist, participant_id: int) -> RoomParticipant:
    """Remove a client or visitor from one of the therapist's rooms (or its lobby); their visit ends at once.
    The caller commits, with its activity entry."""
    guest = db.session.scalar(
        select(RoomParticipant).where(
            RoomParticipant.id == participant_id,
            RoomParticipant.therapist_id == therapist.id,
            RoomParticipant.role.in_([CLIENT, VISITOR]),
            RoomParticipant.status.in_(OPEN),
        )
    )
    if guest is None:
        raise RoomError("This person is no longer in your room.", 404)
    _end(guest, ENDED)
    return guest


def leave(participant: RoomParticipant, *, end_session: bool = False) -> None:
    """Leave the room. The therapist ending the session in the personal room ends the visitor's visit too."""
    if participant.status in OPEN:
        _end(participant)
        if end_session and participant.role == THERAPIST and participant.client_id is None:
            end_visits(participant.room, VISITOR)
        db.session.commit()


def participant(peer_id: str) -> RoomParticipant | None:
    if len(peer_id) > 64:
        return None
    return db.session.scalar(select(RoomParticipant).filter_by(peer_id=peer_id))


def _other(me: RoomParticipant) -> RoomParticipant | None:
    return next((p for p in present(me.room) if p.id != me.id), None)


def parse_after(value: str) -> int:
    """The `after` of a poll: a plain whole number the database can compare with an id."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) > MAX_INT:
        raise RoomError("`after` must be a whole number.", 400)
    return int(value)


def poll(me: RoomParticipant, after: int) -> dict:
    """What a browser needs next: its own status, who else is in the room, and messages addressed to it.

    A visitor still in the lobby learns only that it is waiting: nothing of the therapist's call.
    """
    if me.status in OPEN:
        me.last_seen = utcnow()
    _expire(me.room)
    answer: dict = {"status": me.status}
    if me.status == IN_ROOM:
        other = _other(me)
        answer["other"] = {"id": other.id, "name": other.name, "role": other.role} if other else None
        # Everything up to `after` has been delivered: forget it.
        db.session.execute(delete(RoomSignal).where(RoomSignal.recipient_id == me.id, RoomSignal.id <= after))
        messages = []
        if other is not None:
            rows = db.session.scalars(
                select(RoomSignal)
                .filter_by(recipient_id=me.id, sender_id=other.id)
                .where(RoomSignal.id > after)
                .order_by(RoomSignal.id)
            )
            messages = [
                {"id": m.id, "from": m.sender_id, "kind": m.kind, "data": data}
                for m in rows
                if (data := _stored_data(m.payload)) is not None
            ]
        answer["messages"] = messages
    db.session.commit()
    return answer


def _stored_data(payload: str):
    """A stored message's data, read as strictly as a new one; None (never sent) for one that is not strict JSON,
    such as a NaN stored before the checks: passed on, it would make the whole poll invalid JSON."""
    try:
        return read_json(payload.encode())
    except RoomError:
        return None


def signal(me: RoomParticipant, body: bytes) -> RoomSignal:
    """Pass one message to the other person in the room, refusing anything malformed, oversized or replayed."""
    if len(body) > MAX_SIGNAL_BYTES:
        raise RoomError("The message is larger than 64 KB.", 413)
    message = read_json(body)
    if not isinstance(message, dict):
        raise RoomError("The message must be a JSON object.", 400)
    kind, data, seq = message.get("kind"), message.get("data"), message.get("seq")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RoomError("Unknown message type.", 400)
    if not isinstance(data, dict):
        raise RoomError("The message data must be a JSON object.", 400)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise RoomError("The message needs a positive whole number `seq`.", 400)
    if me.status != IN_ROOM:
        raise RoomError("You are not in the room.", 409)
    if seq <= me.last_seq:
        raise RoomError("This message was already received, or came after a newer one.", 409)
    other = _other(me)
    if other is None:
        raise RoomError("No one else is in the room yet.", 409)
    payload = json.dumps(data, allow_nan=False)
    pending = db.session.scalar(
        select(func.coalesce(func.sum(func.length(RoomSignal.payload)), 0)).where(RoomSignal.recipient_id == other.id)
    )
    if pending + len(payload) > MAX_PENDING_BYTES:
        raise RoomError(
            "The other person has not received your earlier messages yet. Wait a moment and try again.", 429
        )
    me.last_seq = seq
    me.last_seen = utcnow()
    stored = RoomSignal(sender_id=me.id, recipient_id=other.id, kind=kind, payload=payload)
    db.session.add(stored)
    db.session.commit()
    return stored


def client_in_room(client: Client) -> bool:
    return any(p.role == CLIENT for p in present(client_room(client)))


def history(client: Client, limit: int = 10) -> list[RoomParticipant]:
    """The latest visits to a client's room: who opened it, when, for how long."""
    return list(
        db.session.scalars(
            select(RoomParticipant)
            .filter_by(room=client_room(client))
            .order_by(RoomParticipant.joined_at.desc(), RoomParticipant.id.desc())
            .limit(limit)
        )
    )


def ice_servers(peer: RoomParticipant) -> list[dict]:
    """RTCConfiguration iceServers: ICE_SERVERS as given, plus TURN credentials for this participant only.

    TURN REST API scheme (coturn's use-auth-secret): username "<expiry>:<peer>", password
    base64(HMAC-SHA1(TURN_SECRET, username)).
    """
    config = current_app.config
    servers = list(config.get("ICE_SERVERS") or [])
    if config.get("TURN_SECRET") and config.get("TURN_URLS"):
        username = f"{int(time.time()) + config['TURN_TTL']}:{peer.id}"
        digest = hmac.new(config["TURN_SECRET"].encode(), username.encode(), hashlib.sha1).digest()
        servers.append(
            {"urls": config["TURN_URLS"], "username": username, "credential": base64.b64encode(digest).decode()}
        )
    return servers
