"""Rooms: who may enter, the lobby, presence, and signalling that refuses anything out of place."""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import clients
import rooms
from conftest import login, make_therapist
from extensions import db
from models import RoomParticipant, RoomSignal


@pytest.fixture
def jane(therapist):
    return clients.add(therapist, name="Jane Doe", email="jane@example.com")


@pytest.fixture
def guest(app, client):
    """A browser with no login: a client or a visitor."""
    return client.__class__(app.test_client())


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def post_json(who, url, body, **kwargs):
    return who.open(url, method="POST", data=json.dumps(body), content_type="application/json", **kwargs)


def signal(who, visit, kind="state", data=None, seq=1):
    return post_json(who, visit["signal"], {"kind": kind, "data": data or {"audio": True}, "seq": seq})


def signals() -> int:
    return db.session.scalar(select(func.count()).select_from(RoomSignal))


@pytest.fixture
def call(logged_in, guest, jane):
    """The therapist and Jane, both in Jane's room."""
    therapist_visit = post_json(logged_in, f"/room/client/{jane.id}/join", {},
                                headers={"X-CSRFToken": logged_in.csrf_token()}).get_json()
    client_visit = post_json(guest, path(clients.room_url(jane)) + "/join", {}).get_json()
    return therapist_visit, client_visit


def test_two_people_meet_and_messages_pass_between_them(logged_in, guest, call):
    therapist_visit, client_visit = call
    assert client_visit["polite"] is True and therapist_visit["polite"] is False
    assert signal(guest, client_visit, "description", {"type": "offer", "sdp": "v=0"}).status_code == 201
    answer = logged_in.get(therapist_visit["poll"] + "?after=0").get_json()
    assert answer["status"] == "in_room" and answer["other"]["role"] == "client"
    assert [m["kind"] for m in answer["messages"]] == ["description"]
    assert answer["messages"][0]["data"] == {"type": "offer", "sdp": "v=0"}
    # Read messages are forgotten, and ids never go back.
    again = logged_in.get(therapist_visit["poll"] + f"?after={answer['messages'][0]['id']}").get_json()
    assert again["messages"] == [] and signals() == 0
    assert signal(guest, client_visit, seq=2).get_json()["id"] > answer["messages"][0]["id"]


def test_a_third_person_finds_the_room_in_use(guest, call, jane, app, client):
    third = client.__class__(app.test_client())
    response = post_json(third, path(clients.room_url(jane)) + "/join", {})
    assert response.status_code == 409 and response.get_json()["error"] == "This room is in use."


def test_a_reload_rejoins_in_place_of_the_earlier_visit(guest, call, jane):
    _, client_visit = call
    response = post_json(guest, path(clients.room_url(jane)) + "/join", {"previous": client_visit["peer"]})
    assert response.status_code == 200
    assert guest.get(client_visit["poll"]).get_json()["status"] == "left"


def test_wrong_token_or_peer_answers_404(guest, call):
    assert post_json(guest, "/r/not-a-token/join", {}).status_code == 404
    assert guest.get("/room/peer/not-a-peer/poll").status_code == 404
    assert post_json(guest, "/room/peer/not-a-peer/signal", {"kind": "state", "data": {}, "seq": 1}).status_code == 404


def test_the_therapists_visit_works_only_in_the_therapists_browser(app, guest, call):
    therapist_visit, _ = call
    assert guest.get(therapist_visit["poll"]).status_code == 404
    other = guest.__class__(app.test_client())
    make_therapist(name="Olga Novak", email="olga@example.com")
    login(other, email="olga@example.com")
    assert other.get(therapist_visit["poll"]).status_code == 404
    assert signal(other, therapist_visit).status_code == 404


def test_another_therapists_client_room_answers_404(logged_in, app):
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = clients.add(olga, name="Private Person", email="private@example.com")
    assert logged_in.get(f"/room/client/{theirs.id}").status_code == 404
    assert logged_in.get(f"/room/client/{theirs.id}/presence").status_code == 404
    response = post_json(logged_in, f"/room/client/{theirs.id}/join", {}, headers={"X-CSRFToken": logged_in.csrf_token()})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(RoomParticipant)) == 0


@pytest.mark.parametrize("body, status, message", [
    (b"x" * (64 * 1024 + 1), 413, "larger than 64 KB"),
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (json.dumps({"kind": "launch", "data": {}, "seq": 1}).encode(), 400, "Unknown message type"),
    (json.dumps({"kind": "state", "data": "x", "seq": 1}).encode(), 400, "data must be a JSON object"),
    (json.dumps({"kind": "state", "data": {}, "seq": "1"}).encode(), 400, "positive whole number"),
    (json.dumps({"kind": "state", "data": {}, "seq": True}).encode(), 400, "positive whole number"),
])
def test_malformed_signalling_is_refused_and_changes_nothing(guest, call, body, status, message):
    _, client_visit = call
    response = guest.open(client_visit["signal"], method="POST", data=body, content_type="application/json")
    assert response.status_code == status and message in response.get_json()["error"]
    assert signals() == 0


def test_replayed_and_out_of_order_messages_are_refused(guest, call):
    _, client_visit = call
    assert signal(guest, client_visit, seq=5).status_code == 201
    for seq in (5, 3):
        response = signal(guest, client_visit, seq=seq)
        assert response.status_code == 409 and "already received" in response.get_json()["error"]
    assert signals() == 1


def test_a_closed_tab_leaves_the_room_within_30_seconds(logged_in, call, jane):
    therapist_visit, client_visit = call
    visit = rooms.participant(client_visit["peer"])
    assert rooms.client_in_room(jane)
    visit.last_seen -= timedelta(seconds=31)
    db.session.commit()
    answer = logged_in.get(therapist_visit["poll"]).get_json()
    assert answer["other"] is None
    assert not rooms.client_in_room(jane)
    presence = logged_in.get(f"/room/client/{jane.id}/presence").get_data(as_text=True)
    assert "Not in the room" in presence and "opened by" in presence


# The personal link and its lobby


def knock(guest, therapist, name="Alex"):
    return post_json(guest, f"/u/{therapist.personal_slug}/knock", {"name": name})


def test_a_waiting_visitor_learns_nothing_until_admitted(logged_in, guest, therapist, app, client):
    therapist_visit = post_json(logged_in, "/room/personal/join", {}, headers={"X-CSRFToken": logged_in.csrf_token()}).get_json()
    alex = knock(guest, therapist).get_json()
    assert guest.get(alex["poll"]).get_json() == {"status": "waiting"}
    response = signal(guest, alex)
    assert response.status_code == 409 and signals() == 0
    # Even with someone admitted and talking, a second visitor in the lobby receives nothing.
    sam_browser = client.__class__(app.test_client())
    sam = knock(sam_browser, therapist, "Sam").get_json()
    logged_in.post(f"/room/visitors/{rooms.participant(alex['peer']).id}/admit", {})
    assert signal(guest, alex, "description", {"type": "offer", "sdp": "v=0"}).status_code == 201
    assert signal(logged_in, therapist_visit, "description", {"type": "answer", "sdp": "v=0"}).status_code == 201
    assert sam_browser.get(sam["poll"]).get_json() == {"status": "waiting"}

    lobby = logged_in.get("/room/lobby").get_data(as_text=True)
    assert "Sam</strong> is waiting" in lobby and "Alex" not in lobby
    refused = logged_in.post(f"/room/visitors/{rooms.participant(sam['peer']).id}/admit", {})
    assert refused.status_code == 409 and "Alex is still in your room" in refused.get_data(as_text=True)
    logged_in.post(f"/room/visitors/{rooms.participant(sam['peer']).id}/decline", {})
    assert sam_browser.get(sam["poll"]).get_json() == {"status": "declined"}


def test_admit_and_decline_only_your_own_visitors(logged_in, guest, app):
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = knock(guest, olga).get_json()
    visit_id = rooms.participant(theirs["peer"]).id
    assert logged_in.post(f"/room/visitors/{visit_id}/admit", {}).status_code == 404
    assert logged_in.post(f"/room/visitors/{visit_id}/decline", {}).status_code == 404
    assert guest.get(theirs["poll"]).get_json() == {"status": "waiting"}


@pytest.mark.parametrize("body, message", [({}, "Enter your name"), ({"name": "  "}, "Enter your name"),
                                           ({"name": "x" * 81}, "at most 80"), ({"name": "A\x00"}, "cannot be used"),
                                           ({"name": 5}, "Enter your name")])
def test_bad_visitor_names_are_refused(guest, therapist, body, message):
    response = post_json(guest, f"/u/{therapist.personal_slug}/knock", body)
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(RoomParticipant)) == 0


def test_turn_credentials_go_to_participants_only(app, guest, jane):
    app.config.update(TURN_SECRET="shared-secret", TURN_URLS=["turn:turn.example.com:3478"])
    visit = post_json(guest, path(clients.room_url(jane)) + "/join", {}).get_json()
    (server,) = visit["iceServers"]
    expiry, peer = server["username"].split(":")
    assert server["urls"] == ["turn:turn.example.com:3478"] and int(expiry) > 0
    import base64, hashlib, hmac
    expected = base64.b64encode(hmac.new(b"shared-secret", server["username"].encode(), hashlib.sha1).digest()).decode()
    assert server["credential"] == expected
    assert "turn.example.com" not in guest.get(path(clients.room_url(jane))).get_data(as_text=True)


def test_room_pages_may_use_the_camera_and_other_pages_may_not(logged_in, guest, jane):
    room = guest.get(path(clients.room_url(jane)))
    assert "camera=(self)" in room.headers["Permissions-Policy"] and room.headers["Referrer-Policy"] == "no-referrer"
    assert "camera=()" in logged_in.get("/sessions/").headers["Permissions-Policy"]
