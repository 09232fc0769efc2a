"""Room pages and the small JSON API their script talks to.

Guests (a client with a room link, a visitor with the personal link) carry no cookie: their requests are
authorised by the link and then by their visit's secret peer id, so CSRF (an attack through cookies)
does not apply to them. The therapist's requests are cookie-authenticated and carry the CSRF header.
"""
from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import clients
import rooms
from blueprints import link_misses, link_page, note, owned
from blueprints.rooms import bp
from extensions import csrf
from models import Client
from validation import Invalid, check_text

@bp.errorhandler(rooms.RoomError)
def room_error(error: rooms.RoomError):
    return jsonify(error=str(error)), error.status


def _joined(participant, polite: bool):
    return jsonify(
        peer=participant.peer_id,
        me=participant.id,
        polite=polite,
        iceServers=rooms.ice_servers(participant),
        poll=url_for("rooms.poll", peer_id=participant.peer_id),
        signal=url_for("rooms.signal", peer_id=participant.peer_id),
        leave=url_for("rooms.leave", peer_id=participant.peer_id),
    )


def _previous_peer() -> str | None:
    body = request.get_json(silent=True)
    return body.get("previous") if isinstance(body, dict) and isinstance(body.get("previous"), str) else None


# A client, from the room link

@bp.post("/r/<token>/join")
@csrf.exempt
@link_misses
def client_join(token: str):
    client = clients.open_room(token)
    if client is None:
        abort(404)
    participant = rooms.join(rooms.client_room(client), client.therapist, rooms.CLIENT, client.name.split()[0],
                             client, previous_peer=_previous_peer())
    return _joined(participant, polite=True)


# A visitor, from the personal link

@bp.post("/u/<slug>/knock")
@csrf.exempt
@link_misses
def knock(slug: str):
    therapist = clients.therapist_by_slug(slug)
    if therapist is None:
        abort(404)
    body = request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip():
        return jsonify(error="Enter your name so your therapist knows who is waiting."), 400
    try:
        name = check_text(name.strip())
    except Invalid as error:
        return jsonify(error=str(error)), 400
    if len(name) > 80:
        return jsonify(error="Use at most 80 characters for your name."), 400
    return _joined(rooms.knock(therapist, name), polite=True)


# The therapist

@bp.get("/room/client/<int:client_id>")
@login_required
def client_room(client_id: int):
    client = owned(Client, client_id, archived_at=None)
    first = client.name.split()[0]
    return link_page("rooms/room.html", call=True, title=f"Room with {client.name}", other_name=first, host_name=current_user.name,
                     room_key=f"client-{client.id}", join_url=url_for("rooms.therapist_join_client", client_id=client.id),
                     waiting_text=f"Waiting for {first} to join…", therapist_view=True)


@bp.post("/room/client/<int:client_id>/join")
@login_required
def therapist_join_client(client_id: int):
    client = owned(Client, client_id, archived_at=None)
    participant = rooms.join(rooms.client_room(client), current_user, rooms.THERAPIST, current_user.name, client)
    return _joined(participant, polite=False)


@bp.get("/room/personal")
@login_required
def personal_room():
    return link_page("rooms/room.html", call=True, title="Your personal room", other_name="Your visitor", host_name=current_user.name,
                     room_key="personal", join_url=url_for("rooms.therapist_join_personal"),
                     waiting_text="Waiting for a visitor: admit one from the notice above.", therapist_view=True,
                     autojoin=request.args.get("join") == "1")


@bp.post("/room/personal/join")
@login_required
def therapist_join_personal():
    participant = rooms.join(rooms.personal_room(current_user), current_user, rooms.THERAPIST, current_user.name)
    return _joined(participant, polite=False)


@bp.get("/room/lobby")
@login_required
def lobby():
    """Who waits at the personal link: the notice in the navigation bar, polled."""
    return render_template("rooms/_lobby.html", visitors=rooms.waiting(current_user))


@bp.post("/room/visitors/<int:participant_id>/admit")
@login_required
def admit(participant_id: int):
    try:
        visitor = rooms.admit(current_user, participant_id)
    except rooms.RoomError as error:
        if error.status == 404:
            abort(404)
        return render_template("rooms/_lobby.html", visitors=rooms.waiting(current_user), problem=str(error)), 409
    note("visitor_admitted", visitor.name)
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("rooms.personal_room", join=1)}
    return redirect(url_for("rooms.personal_room", join=1), 303)


@bp.post("/room/visitors/<int:participant_id>/decline")
@login_required
def decline(participant_id: int):
    try:
        visitor = rooms.decline(current_user, participant_id)
    except rooms.RoomError:
        abort(404)
    note("visitor_declined", visitor.name)
    return render_template("rooms/_lobby.html", visitors=rooms.waiting(current_user))


@bp.get("/room/client/<int:client_id>/presence")
@login_required
def presence(client_id: int):
    client = owned(Client, client_id)
    return render_template("rooms/_presence.html", client=client, in_room=rooms.client_in_room(client),
                           history=rooms.history(client))


# Signalling, for everyone in a room, by the visit's secret peer id

def _me(peer_id: str):
    participant = rooms.participant(peer_id)
    if participant is None:
        abort(404)
    # A therapist's visit is usable only in the therapist's own logged-in browser.
    if participant.role == rooms.THERAPIST and (
        not current_user.is_authenticated or current_user.id != participant.therapist_id
    ):
        abort(404)
    return participant


@bp.get("/room/peer/<peer_id>/poll")
@csrf.exempt
def poll(peer_id: str):
    after = request.args.get("after", "0")
    if not (after.isascii() and after.isdigit() and len(after) <= 18):  # isdigit() alone accepts "²"
        return jsonify(error="`after` must be a whole number."), 400
    return jsonify(rooms.poll(_me(peer_id), int(after)))


@bp.post("/room/peer/<peer_id>/signal")
@csrf.exempt
def signal(peer_id: str):
    me = _me(peer_id)
    stored = rooms.signal(me, request.get_data(cache=False))
    return jsonify(id=stored.id), 201


@bp.post("/room/peer/<peer_id>/leave")
@csrf.exempt
def leave(peer_id: str):
    rooms.leave(_me(peer_id))
    return "", 204
