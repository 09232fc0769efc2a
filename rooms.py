"""Rooms: who is in a client's room or a therapist's personal room, the lobby, and WebRTC signalling.

Signalling lives in the database so that any gunicorn worker can answer any request; browsers poll.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from extensions import db
from models import Client, RoomParticipant, RoomSignal, Therapist, utcnow

STALE_AFTER = timedelta(seconds=30)  # a closed tab has left the room by then
MAX_SIGNAL_BYTES = 64 * 1024
KINDS = {"description", "candidate", "state"}
THERAPIST, CLIENT, VISITOR = "therapist", "client", "visitor"
IN_ROOM, WAITING = RoomParticipant.IN_ROOM, RoomParticipant.WAITING


class RoomError(Exception):
    """A request the room cannot take; `status` is the HTTP answer (404 unknown, 409 conflict, 4xx bad)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def client_room(client: Client) -> str:
    return f"client:{client.id}"


def personal_room(therapist: Therapist) -> str:
    return f"personal:{therapist.id}"


def _expire(room: str) -> None:
    """Mark visits whose browser stopped polling as over."""
    cutoff = utcnow() - STALE_AFTER
    for stale in db.session.scalars(
        select(RoomParticipant).where(
            RoomParticipant.room == room,
            RoomParticipant.status.in_([IN_ROOM, WAITING]),
            RoomParticipant.last_seen < cutoff,
        )
    ):
        stale.status, stale.left_at = RoomParticipant.LEFT, stale.last_seen


def present(room: str) -> list[RoomParticipant]:
    """Who is in the room now (not the lobby)."""
    _expire(room)
    return list(
        db.session.scalars(
            select(RoomParticipant).filter_by(room=room, status=IN_ROOM).order_by(RoomParticipant.id)
        )
    )


def join(room: str, therapist: Therapist, role: str, name: str, client: Client | None = None,
         previous_peer: str | None = None) -> RoomParticipant:
    """Enter a room: two people at most, one of each side.

    Coming back (a reload, which still knows its earlier peer id) replaces one's own earlier visit,
    and so does the therapist, who is logged in; anyone else finding the seat taken is refused.
    """
    others = []
    for participant in present(room):
        if participant.role == role and (role == THERAPIST or participant.peer_id == previous_peer):
            _end(participant)
        else:
            others.append(participant)
    if len(others) >= 2 or any(p.role == role for p in others):
        db.session.commit()
        raise RoomError("This room is in use.")
    participant = RoomParticipant(room=room, therapist_id=therapist.id, client_id=client.id if client else None,
                                  role=role, name=name, status=IN_ROOM)
    db.session.add(participant)
    db.session.commit()
    return participant


def knock(therapist: Therapist, name: str) -> RoomParticipant:
    """A visitor from the personal link waits in the lobby."""
    visitor = RoomParticipant(room=personal_room(therapist), therapist_id=therapist.id, role=VISITOR,
                              name=name, status=WAITING)
    db.session.add(visitor)
    db.session.commit()
    return visitor


def waiting(therapist: Therapist) -> list[RoomParticipant]:
    room = personal_room(therapist)
    _expire(room)
    db.session.commit()
    return list(db.session.scalars(select(RoomParticipant).filter_by(room=room, status=WAITING).order_by(RoomParticipant.id)))


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
    visitor.status, visitor.left_at = RoomParticipant.DECLINED, utcnow()
    db.session.commit()
    return visitor


def _end(participant: RoomParticipant) -> None:
    participant.status, participant.left_at = RoomParticipant.LEFT, utcnow()


def leave(participant: RoomParticipant) -> None:
    if participant.status in (IN_ROOM, WAITING):
        _end(participant)
        db.session.commit()


def participant(peer_id: str) -> RoomParticipant | None:
    return db.session.scalar(select(RoomParticipant).filter_by(peer_id=peer_id))


def _other(me: RoomParticipant) -> RoomParticipant | None:
    return next((p for p in present(me.room) if p.id != me.id), None)


def poll(me: RoomParticipant, after: int) -> dict:
    """What a browser needs next: its own status, who else is in the room, and messages addressed to it.

    A visitor still in the lobby learns only that it is waiting: nothing of the therapist's call.
    """
    if me.status in (IN_ROOM, WAITING):
        me.last_seen = utcnow()
    _expire(me.room)
    answer: dict = {"status": me.status}
    if me.status == IN_ROOM:
        other = _other(me)
        answer["other"] = {"id": other.id, "name": other.name, "role": other.role} if other else None
        messages = []
        if other is not None:
            # Everything up to `after` has been read: forget it.
            db.session.query(RoomSignal).filter(RoomSignal.recipient_id == me.id, RoomSignal.id <= after).delete()
            messages = [
                {"id": m.id, "from": m.sender_id, "kind": m.kind, "data": json.loads(m.payload)}
                for m in db.session.scalars(
                    select(RoomSignal)
                    .filter_by(recipient_id=me.id, sender_id=other.id)
                    .where(RoomSignal.id > after)
                    .order_by(RoomSignal.id)
                )
            ]
        answer["messages"] = messages
    db.session.commit()
    return answer


def signal(me: RoomParticipant, body: bytes) -> RoomSignal:
    """Pass one message to the other person in the room, refusing anything malformed, oversized or replayed."""
    if len(body) > MAX_SIGNAL_BYTES:
        raise RoomError("The message is larger than 64 KB.", 413)
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RoomError("The message is not valid JSON.", 400) from None
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
    me.last_seq = seq
    me.last_seen = utcnow()
    stored = RoomSignal(sender_id=me.id, recipient_id=other.id, kind=kind, payload=json.dumps(data))
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
        servers.append({"urls": config["TURN_URLS"], "username": username,
                        "credential": base64.b64encode(digest).decode()})
    return servers
