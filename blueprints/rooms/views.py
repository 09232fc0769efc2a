"""The room: its pages, the therapist's lobby notice, and the small JSON API room.js talks to.

Guests (a client with a room link, a visitor with the personal link) carry no cookie: their requests are
authorised by the link and then by their visit's secret peer id, so CSRF (an attack through cookies)
does not apply to them. The therapist's requests are cookie-authenticated and carry the CSRF header; a
therapist's visit is usable only in the browser that joined with it (security.remember_call).

URL map
  GET  /r/<token>                         client_page          a client's room, from the room link
  POST /r/<token>/join                    client_join
  GET  /u/<slug>                          visitor_page         the personal link: ask to join
  POST /u/<slug>/knock                    knock
  GET  /room/client/<id>                  client_room          the therapist in a client's room
  POST /room/client/<id>/join             therapist_join_client
  GET  /room/client/<id>/presence         presence             "In the room now" and history
  GET  /room/personal                     personal_room        the therapist's personal room
  POST /room/personal/join                therapist_join_personal
  GET  /room/lobby                        lobby                the notice in the navigation, polled
  POST /room/visitors/<id>/admit|decline  admit, decline
  POST /room/participants/<id>/remove     remove               Remove from room
  GET  /room/peer/<peer>/poll             poll                 signalling, by the visit's secret peer id
  POST /room/peer/<peer>/signal|leave     signal, leave
"""

from flask import abort, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import clients
import rooms
import security
from blueprints import dead_link, link_misses, link_page, note, owned
from blueprints.rooms import bp
from extensions import csrf, limiter
from models import Client, utcnow
from validation import Invalid, check_text

KNOCKS_PER_ADDRESS = "5 per minute"
KNOCKS_PER_LINK = "30 per minute"
SIGNALS_PER_VISIT = "300 per minute"  # a connection's ICE candidates come in bursts of a few dozen
SIGNAL_BYTES_PER_VISIT = f"{2 * 1024 * 1024} per minute"  # a few offers and answers of a few KB each


@bp.errorhandler(rooms.RoomError)
def room_error(error: rooms.RoomError):
    return jsonify(error=str(error)), error.status


@bp.errorhandler(429)
def too_many(error):
    if request.method == "GET" and request.endpoint != "rooms.poll":
        return render_template(
            "errors/error.html",
            title="Too many attempts",
            message="For your safety, please wait a few minutes before trying again.",
        ), 429
    return jsonify(error=error.description if isinstance(error.description, str) else "Too many requests."), 429


# The room screen, for all four ways in: one place builds what it shows.


def _room_page(
    *,
    title: str,
    other_name: str,
    host_name: str,
    room_key: str,
    waiting_text: str,
    join_url: str | None = None,
    knock_url: str | None = None,
    therapist_view: bool = False,
    appointment=None,
    zone: str = "UTC",
    autojoin: bool = False,
):
    started = appointment is not None and appointment.starts_at <= utcnow()
    return link_page(
        "rooms/room.html",
        call=True,
        title=title,
        other_name=other_name,
        host_name=host_name,
        room_key=room_key,
        waiting_text=waiting_text,
        join_url=join_url,
        knock_url=knock_url,
        therapist_view=therapist_view,
        autojoin=autojoin,
        zone=zone,
        next_session=appointment if not started else None,
        current_session=appointment if started else None,
    )


@bp.get("/r/<token>")
@link_misses
def client_page(token: str):
    client = clients.open_room(token)
    if client is None:
        return dead_link()
    therapist = client.therapist
    return _room_page(
        title=f"Your session room with {therapist.name}",
        other_name=therapist.name,
        host_name=therapist.name,
        room_key=f"r-{token[:8]}",
        join_url=url_for("rooms.client_join", token=token),
        waiting_text=f"Waiting for {therapist.name} to join…",
        appointment=clients.next_session(client),
        zone=client.zone.key,
    )


@bp.get("/u/<slug>")
@link_misses
def visitor_page(slug: str):
    therapist = clients.therapist_by_slug(slug)
    if therapist is None:
        return dead_link()
    return _room_page(
        title=f"{therapist.name}’s room",
        other_name=therapist.name,
        host_name=therapist.name,
        room_key=f"u-{slug}",
        knock_url=url_for("rooms.knock", slug=slug),
        waiting_text=f"Waiting for {therapist.name} to join…",
    )


@bp.get("/room/client/<int:client_id>")
@login_required
def client_room(client_id: int):
    client = owned(Client, client_id, archived_at=None)
    first = rooms.short_name(client.name.split()[0])
    return _room_page(
        title=f"Room with {client.name}",
        other_name=first,
        host_name=current_user.name,
        room_key=f"client-{client.id}",
        join_url=url_for("rooms.therapist_join_client", client_id=client.id),
        waiting_text=f"Waiting for {first} to join…",
        therapist_view=True,
        appointment=clients.next_session(client),
        zone=current_user.timezone,
        autojoin=request.args.get("join") == "1",
    )


@bp.get("/room/personal")
@login_required
def personal_room():
    return _room_page(
        title="Your personal room",
        other_name="Your visitor",
        host_name=current_user.name,
        room_key="personal",
        join_url=url_for("rooms.therapist_join_personal"),
        waiting_text="Waiting for a visitor: admit one from the notice above.",
        therapist_view=True,
        autojoin=request.args.get("join") == "1",
    )


# Joining


def _joined(participant, polite: bool, ice: bool = True):
    """What room.js needs for a visit. TURN credentials only for someone let in (not a visitor in the lobby)."""
    response = jsonify(
        peer=participant.peer_id,
        me=participant.id,
        polite=polite,
        iceServers=rooms.ice_servers(participant) if ice else [],
        poll=url_for("rooms.poll", peer_id=participant.peer_id),
        signal=url_for("rooms.signal", peer_id=participant.peer_id),
        leave=url_for("rooms.leave", peer_id=participant.peer_id),
    )
    if participant.role == rooms.THERAPIST:
        security.remember_call(response, participant.peer_id)
    return response


def _body() -> dict:
    body = rooms.read_json(request.get_data(cache=False), allow_empty=True)
    if not isinstance(body, dict):
        raise rooms.RoomError("The request must be a JSON object.", 400)
    return body


def _previous_peer(body: dict) -> str | None:
    previous = body.get("previous")
    return previous if isinstance(previous, str) and len(previous) <= 64 else None


@bp.post("/r/<token>/join")
@csrf.exempt
@link_misses
def client_join(token: str):
    client = clients.open_room(token)
    if client is None:
        abort(404)
    previous = _previous_peer(_body())
    participant = rooms.join(
        rooms.client_room(client),
        client.therapist,
        rooms.CLIENT,
        client.name.split()[0],
        client,
        previous_peer=previous,
    )
    return _joined(participant, polite=True)


def _link_key() -> str:
    return "knock-link:" + request.view_args["slug"].lower()


@bp.post("/u/<slug>/knock")
@csrf.exempt
@link_misses
@limiter.limit(
    KNOCKS_PER_ADDRESS, error_message="Too many requests to join from your network. Wait a minute and try again."
)
@limiter.limit(
    KNOCKS_PER_LINK,
    key_func=_link_key,
    error_message="Many people are asking to join right now. Wait a minute and try again.",
)
def knock(slug: str):
    therapist = clients.therapist_by_slug(slug)
    if therapist is None:
        abort(404)
    name = _body().get("name")
    if not isinstance(name, str) or not name.strip():
        return jsonify(error="Enter your name so your therapist knows who is waiting."), 400
    try:
        name = check_text(name.strip())
    except Invalid as error:
        return jsonify(error=str(error)), 400
    if len(name) > rooms.NAME_MAX:
        return jsonify(error=f"Use at most {rooms.NAME_MAX} characters for your name."), 400
    return _joined(rooms.knock(therapist, name), polite=True, ice=False)


@bp.post("/room/client/<int:client_id>/join")
@login_required
def therapist_join_client(client_id: int):
    client = owned(Client, client_id, archived_at=None)
    participant = rooms.join(rooms.client_room(client), current_user, rooms.THERAPIST, current_user.name, client)
    return _joined(participant, polite=False)


@bp.post("/room/personal/join")
@login_required
def therapist_join_personal():
    participant = rooms.join(rooms.personal_room(current_user), current_user, rooms.THERAPIST, current_user.name)
    return _joined(participant, polite=False)


# The lobby notice, and what the therapist does with the people in it


def _lobby(status: int = 200, problem: str | None = None):
    return render_template("rooms/_lobby.html", problem=problem, **rooms.lobby(current_user)), status


@bp.get("/room/lobby")
@login_required
def lobby():
    """Who waits: visitors at the personal link and clients in their room, the notice in the navigation bar."""
    return _lobby()


def _guest(action, participant_id: int, refused=None):
    """Do `action` (rooms.admit, decline or remove) to one of the therapist's guests, and return the guest.

    Someone no longer there (or not this therapist's) is the 404 page; any other refusal is answered by
    `refused(message)`, or is the 404 page too when the view gives none.
    """
    try:
        return action(current_user, participant_id)
    except rooms.RoomError as error:
        if refused is not None and error.status != 404:
            abort(make_response(refused(str(error))))
        abort(404)


@bp.post("/room/visitors/<int:participant_id>/admit")
@login_required
def admit(participant_id: int):
    visitor = _guest(rooms.admit, participant_id, refused=lambda message: _lobby(409, message))
    note("visitor_admitted", visitor.name)
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url_for("rooms.personal_room", join=1)}
    return redirect(url_for("rooms.personal_room", join=1), 303)


@bp.post("/room/visitors/<int:participant_id>/decline")
@login_required
def decline(participant_id: int):
    visitor = _guest(rooms.decline, participant_id)
    note("visitor_declined", visitor.name)
    return _lobby()


@bp.post("/room/participants/<int:participant_id>/remove")
@login_required
def remove(participant_id: int):
    guest = _guest(rooms.remove, participant_id)
    note("removed_from_room", guest.name)  # commits the removal and its record together
    return jsonify(removed=guest.name)


@bp.get("/room/client/<int:client_id>/presence")
@login_required
def presence(client_id: int):
    client = owned(Client, client_id)
    return render_template(
        "rooms/_presence.html", client=client, in_room=rooms.client_in_room(client), history=rooms.history(client)
    )


# Signalling, for everyone in a room, by the visit's secret peer id


def _me(peer_id: str):
    participant = rooms.participant(peer_id)
    if participant is None:
        abort(404)
    # A therapist's visit: only in the browser that joined, and not while another therapist is logged in there.
    # The call's cookie outlives the login, so a call goes on when the login ends.
    if participant.role == rooms.THERAPIST and (
        peer_id not in security.call_peers()
        or (current_user.is_authenticated and current_user.id != participant.therapist_id)
    ):
        abort(404)
    return participant


def _peer_key() -> str:
    return "peer:" + request.view_args["peer_id"][:64]


@bp.get("/room/peer/<peer_id>/poll")
@csrf.exempt
def poll(peer_id: str):
    me = _me(peer_id)
    answer = rooms.poll(me, rooms.parse_after(request.args.get("after", "0")))
    if me.role == rooms.VISITOR and answer["status"] == rooms.IN_ROOM:
        answer["iceServers"] = rooms.ice_servers(me)  # admitted now: TURN credentials at last
    if me.role == rooms.THERAPIST:
        answer["signedIn"] = current_user.is_authenticated
        if answer.get("other"):
            answer["other"]["remove"] = url_for("rooms.remove", participant_id=answer["other"]["id"])
    return jsonify(answer)


@bp.post("/room/peer/<peer_id>/signal")
@csrf.exempt
@limiter.limit(
    SIGNALS_PER_VISIT,
    key_func=_peer_key,
    scope="signal-count",
    error_message="Too many messages in a short time. Wait a moment and try again.",
)
@limiter.limit(
    SIGNAL_BYTES_PER_VISIT,
    key_func=_peer_key,
    scope="signal-bytes",
    # The body as read, not its Content-Length: a chunked request has none, and would otherwise cost nothing.
    cost=lambda: len(request.get_data()),
    error_message="Too much data in a short time. Wait a moment and try again.",
)
def signal(peer_id: str):
    me = _me(peer_id)
    stored = rooms.signal(me, request.get_data())
    return jsonify(id=stored.id), 201


@bp.post("/room/peer/<peer_id>/leave")
@csrf.exempt
def leave(peer_id: str):
    rooms.leave(_me(peer_id), end_session=request.args.get("end") == "1")
    return "", 204
