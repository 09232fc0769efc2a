"""Rooms: who may enter, the lobby, presence, and signalling that refuses anything out of place."""

import io
import json
import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

import booking
import clients
import rooms
from conftest import add_session, dump, login, make_therapist
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
    therapist_visit = post_json(
        logged_in, f"/room/client/{jane.id}/join", {}, headers={"X-CSRFToken": logged_in.csrf_token()}
    ).get_json()
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


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"x" * (64 * 1024 + 1), 413, "larger than 64 KB"),
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (json.dumps({"kind": "launch", "data": {}, "seq": 1}).encode(), 400, "Unknown message type"),
        (json.dumps({"kind": "state", "data": "x", "seq": 1}).encode(), 400, "data must be a JSON object"),
        (json.dumps({"kind": "state", "data": {}, "seq": "1"}).encode(), 400, "positive whole number"),
        (json.dumps({"kind": "state", "data": {}, "seq": True}).encode(), 400, "positive whole number"),
    ],
)
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
    therapist_visit = post_json(
        logged_in, "/room/personal/join", {}, headers={"X-CSRFToken": logged_in.csrf_token()}
    ).get_json()
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


@pytest.mark.parametrize("action", ["visitors/{}/admit", "visitors/{}/decline", "participants/{}/remove"])
def test_acting_on_a_visitor_no_longer_there_is_the_404_page_and_changes_nothing(logged_in, guest, therapist, action):
    alex = rooms.participant(knock(guest, therapist).get_json()["peer"])
    assert logged_in.post(f"/room/visitors/{alex.id}/decline", {}).status_code == 200
    before = dump()
    response = logged_in.post("/room/" + action.format(alex.id), {})
    # The app's page, not the room API's JSON error: the view answers the refusal, not the blueprint's handler.
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Page not found" in response.get_data(as_text=True)
    assert dump() == before


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "Enter your name"),
        ({"name": "  "}, "Enter your name"),
        ({"name": "x" * 81}, "at most 80"),
        ({"name": "A\x00"}, "cannot be used"),
        ({"name": 5}, "Enter your name"),
    ],
)
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
    assert int(peer) == rooms.participant(visit["peer"]).id
    assert "turn.example.com" not in guest.get(path(clients.room_url(jane))).get_data(as_text=True)


def test_turn_credential_matches_a_known_answer(app, monkeypatch):
    """coturn's use-auth-secret (TURN REST API): username "<expiry>:<id>", password base64(HMAC-SHA1(secret, username)).

    The expected value was computed outside Python, independently of the code:
    printf '%s' "1700003600:42" | openssl dgst -sha1 -hmac "shared-secret" -binary | base64
    """
    app.config.update(TURN_SECRET="shared-secret", TURN_URLS=["turn:turn.example.com:3478"], TURN_TTL=3600)
    monkeypatch.setattr(rooms.time, "time", lambda: 1_700_000_000.4)
    (server,) = rooms.ice_servers(SimpleNamespace(id=42))
    assert server["username"] == "1700003600:42"
    assert server["credential"] == "OVNfD8yKGWUZMSt1v7sZ+vWISio="


def test_room_pages_may_use_the_camera_and_other_pages_may_not(logged_in, guest, jane):
    room = guest.get(path(clients.room_url(jane)))
    assert "camera=(self)" in room.headers["Permissions-Policy"] and room.headers["Referrer-Policy"] == "no-referrer"
    assert "camera=()" in logged_in.get("/sessions/").headers["Permissions-Policy"]


# A call in progress keeps the therapist's login alive (up to the absolute lifetime)


def test_a_connected_call_outlives_the_idle_limit_and_survives_the_end_of_the_login(
    app, logged_in, guest, call, monkeypatch
):
    import security

    therapist_visit, client_visit = call
    start = time.time()
    for minutes in range(1, 46):  # a 45-minute call with no click, the call polling all along
        monkeypatch.setattr(security, "_now", lambda m=minutes: start + m * 60)
        answer = logged_in.get(therapist_visit["poll"]).get_json()
        assert answer["status"] == "in_room" and answer["signedIn"] is True
        guest.get(client_visit["poll"])
    assert logged_in.get("/sessions/").status_code == 200  # still logged in after 45 minutes

    # Past the absolute lifetime the login ends, but the call does not: polls and signals go on.
    monkeypatch.setattr(security, "_now", lambda: start + app.config["SESSION_LIFETIME"] + 60)
    answer = logged_in.get(therapist_visit["poll"]).get_json()
    assert answer["status"] == "in_room" and answer["signedIn"] is False and answer["other"]["role"] == "client"
    assert signal(logged_in, therapist_visit, "description", {"type": "offer", "sdp": "v=0"}).status_code == 201
    assert logged_in.get("/sessions/").status_code == 302  # but nothing else of Hearth


def test_background_polls_without_a_call_do_not_keep_the_login(logged_in, monkeypatch):
    import security

    start = time.time()
    for minutes in (10, 20, 29):
        monkeypatch.setattr(security, "_now", lambda m=minutes: start + m * 60)
        assert logged_in.get("/room/lobby").status_code == 200
    monkeypatch.setattr(security, "_now", lambda: start + 31 * 60)
    assert logged_in.get("/room/lobby").status_code == 401


def test_a_visit_the_therapist_left_does_not_keep_the_login(logged_in, call, monkeypatch):
    import security

    therapist_visit, _ = call
    post_json(logged_in, therapist_visit["leave"], {})
    start = time.time()
    for minutes in (10, 20, 31):
        monkeypatch.setattr(security, "_now", lambda m=minutes: start + m * 60)
        logged_in.get(therapist_visit["poll"])
    assert logged_in.get("/sessions/").status_code == 302


# Revocation ends visits at once


def status_of(visit) -> str:
    return rooms.participant(visit["peer"]).status


def test_replacing_the_link_ends_the_impostors_visit_and_the_real_client_gets_in(
    logged_in, guest, call, jane, app, client
):
    therapist_visit, impostor = call
    signal(guest, impostor, "description", {"type": "offer", "sdp": "v=0"})
    assert logged_in.post(f"/clients/{jane.id}/room-link", {}).status_code in (200, 303)
    assert guest.get(impostor["poll"]).get_json() == {"status": "ended"}
    refused = signal(guest, impostor, seq=2)
    assert refused.status_code == 409 and signals() == 0  # and what the impostor sent is gone
    real = client.__class__(app.test_client())
    response = post_json(real, path(clients.room_url(jane)) + "/join", {})
    assert response.status_code == 200
    answer = logged_in.get(therapist_visit["poll"]).get_json()
    assert answer["other"]["id"] == response.get_json()["me"]


def test_archiving_the_client_ends_every_visit_to_their_room(logged_in, guest, call, jane):
    therapist_visit, client_visit = call
    assert logged_in.post(f"/clients/{jane.id}/archive", {}).status_code in (200, 303)
    assert guest.get(client_visit["poll"]).get_json() == {"status": "ended"}
    assert status_of(therapist_visit) == "ended"


def test_changing_the_personal_slug_ends_visitors_admitted_and_waiting(logged_in, guest, therapist, app, client):
    alex = knock(guest, therapist).get_json()
    sam_browser = client.__class__(app.test_client())
    sam = knock(sam_browser, therapist, "Sam").get_json()
    logged_in.post(f"/room/visitors/{rooms.participant(alex['peer']).id}/admit", {})
    response = logged_in.post("/account/personal-link", {"slug": "a-new-name"})
    assert response.status_code in (200, 303)
    assert guest.get(alex["poll"]).get_json() == {"status": "ended"}
    assert sam_browser.get(sam["poll"]).get_json() == {"status": "ended"}


def test_remove_from_room_ends_the_visit(logged_in, guest, call, jane):
    therapist_visit, client_visit = call
    other = logged_in.get(therapist_visit["poll"]).get_json()["other"]
    csrf = {"X-CSRFToken": logged_in.csrf_token()}
    assert logged_in.post(other["remove"], csrf=False, headers=csrf).get_json() == {"removed": "Jane"}
    assert guest.get(client_visit["poll"]).get_json() == {"status": "ended"}
    assert signal(guest, client_visit).status_code == 409
    assert logged_in.get(therapist_visit["poll"]).get_json()["other"] is None
    assert logged_in.post(other["remove"], csrf=False, headers=csrf).status_code == 404  # once
    from models import Activity

    assert db.session.scalar(select(Activity.detail).filter_by(action="removed_from_room")) == "Jane"


def test_an_admitted_visitor_can_be_removed_and_the_next_one_admitted(logged_in, guest, therapist):
    alex = knock(guest, therapist).get_json()
    logged_in.post(f"/room/visitors/{rooms.participant(alex['peer']).id}/admit", {})
    removed = logged_in.post(f"/room/participants/{rooms.participant(alex['peer']).id}/remove", {})
    assert removed.get_json() == {"removed": "Alex"}
    assert guest.get(alex["poll"]).get_json() == {"status": "ended"}
    sam = knock(guest, therapist, "Sam").get_json()
    assert logged_in.post(f"/room/visitors/{rooms.participant(sam['peer']).id}/admit", {}).status_code == 303


def test_start_session_joins_directly(logged_in, jane, therapist):
    from models import utcnow

    add_session(therapist, jane, utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5))
    page = logged_in.get("/sessions/").get_data(as_text=True)
    link = re.search(r'href="([^"]+)">Start session', page).group(1)
    assert link == f"/room/client/{jane.id}?join=1"
    assert "data-autojoin" in logged_in.get(link).get_data(as_text=True)


def test_the_personal_room_visit_ends_when_the_therapist_ends_the_session(logged_in, guest, therapist):
    csrf = {"X-CSRFToken": logged_in.csrf_token()}
    therapist_visit = post_json(logged_in, "/room/personal/join", {}, headers=csrf).get_json()
    alex = knock(guest, therapist).get_json()
    logged_in.post(f"/room/visitors/{rooms.participant(alex['peer']).id}/admit", {})
    # A reload (the page's beacon) does not end the visitor's visit; Leave does.
    logged_in.post(therapist_visit["leave"], csrf=False)
    assert guest.get(alex["poll"]).get_json()["status"] == "in_room"
    therapist_visit = post_json(logged_in, "/room/personal/join", {}, headers=csrf).get_json()
    logged_in.post(therapist_visit["leave"] + "?end=1", csrf=False)
    assert guest.get(alex["poll"]).get_json() == {"status": "ended"}
    # and the next visitor can be admitted
    sam = knock(guest, therapist, "Sam").get_json()
    assert logged_in.post(f"/room/visitors/{rooms.participant(sam['peer']).id}/admit", {}).status_code == 303


def test_signals_are_deleted_at_leave_and_at_expiry(logged_in, guest, call, jane):
    therapist_visit, client_visit = call
    signal(guest, client_visit, seq=1)
    post_json(guest, client_visit["leave"], {})
    assert signals() == 0
    guest_again = post_json(guest, path(clients.room_url(jane)) + "/join", {}).get_json()
    signal(logged_in, therapist_visit, seq=1)
    assert signals() == 1
    visit = rooms.participant(therapist_visit["peer"])
    visit.last_seen -= timedelta(seconds=31)
    db.session.commit()
    guest.get(guest_again["poll"])  # the next poll closes the stale visit and forgets its messages
    assert signals() == 0


def test_the_worker_forgets_a_call_whose_tabs_both_died(app, logged_in, guest, call):
    """Nobody polls that room again: the periodic sweep still closes both visits and deletes their messages."""
    therapist_visit, client_visit = call
    signal(guest, client_visit, seq=1)
    signal(logged_in, therapist_visit, seq=1)
    for visit in (therapist_visit, client_visit):
        rooms.participant(visit["peer"]).last_seen -= timedelta(seconds=31)
    db.session.commit()
    assert signals() == 2
    assert app.extensions["huey_tasks"]["close_stale_visits"].call_local() == 2
    assert signals() == 0
    db.session.expire_all()
    assert {rooms.participant(v["peer"]).status for v in call} == {"left"}
    assert app.extensions["huey_tasks"]["close_stale_visits"].call_local() == 0


def test_present_only_reads(call, jane):
    _, client_visit = call
    visit = rooms.participant(client_visit["peer"])
    visit.last_seen -= timedelta(seconds=31)
    db.session.commit()
    assert [p.role for p in rooms.present(rooms.client_room(jane))] == ["therapist"]
    db.session.expire_all()
    assert rooms.participant(client_visit["peer"]).status == "in_room"  # unchanged: reads never write


# Limits


def test_knocks_are_limited_per_address(guest, therapist):
    for n in range(5):
        assert knock(guest, therapist, f"Visitor {n}").status_code == 200
    refused = knock(guest, therapist, "One too many")
    assert refused.status_code == 429 and "Wait a minute" in refused.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(RoomParticipant)) == 5


def test_knocks_are_limited_per_link(guest, therapist):
    for n in range(30):
        response = post_json(
            guest, f"/u/{therapist.personal_slug}/knock", {"name": f"V{n}"}, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}
        )
        assert response.status_code == 200
    refused = post_json(
        guest, f"/u/{therapist.personal_slug}/knock", {"name": "X"}, environ_base={"REMOTE_ADDR": "10.0.1.1"}
    )
    assert refused.status_code == 429 and "Many people" in refused.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(RoomParticipant)) == 30


def test_the_lobby_shows_five_and_counts_the_rest(logged_in, therapist):
    for n in range(8):
        rooms.knock(therapist, f"Visitor {n}")
    lobby = logged_in.get("/room/lobby").get_data(as_text=True)
    assert lobby.count("is waiting") == 5 and "and 3 more waiting" in lobby
    assert 'data-waiting-count="8"' in lobby


def test_turn_credentials_only_once_admitted(app, logged_in, guest, therapist):
    app.config.update(TURN_SECRET="shared-secret", TURN_URLS=["turn:turn.example.com:3478"])
    alex = knock(guest, therapist).get_json()
    assert alex["iceServers"] == []
    assert "iceServers" not in guest.get(alex["poll"]).get_json()
    logged_in.post(f"/room/visitors/{rooms.participant(alex['peer']).id}/admit", {})
    (server,) = guest.get(alex["poll"]).get_json()["iceServers"]
    assert server["urls"] == ["turn:turn.example.com:3478"]


def test_signals_are_limited_in_number_per_visit(guest, call):
    _, client_visit = call
    for seq in range(1, 301):
        assert signal(guest, client_visit, seq=seq).status_code == 201
    refused = signal(guest, client_visit, seq=301)
    assert refused.status_code == 429 and "Too many messages" in refused.get_json()["error"]
    assert rooms.participant(client_visit["peer"]).last_seq == 300


def test_signals_are_limited_in_bytes_per_visit(logged_in, guest, call):
    therapist_visit, client_visit = call
    big = {"type": "offer", "sdp": "x" * (60 * 1024)}
    for seq in range(1, 200):
        response = signal(guest, client_visit, "description", big, seq=seq)
        if response.status_code != 201:
            break
        logged_in.get(therapist_visit["poll"] + "?after=" + str(response.get_json()["id"]))  # read and forget
    assert response.status_code == 429 and "Too much data" in response.get_json()["error"]
    assert 30 <= seq <= 35  # about 2 MB a minute
    assert signals() == 0


def test_unread_messages_to_one_person_are_capped(guest, call):
    _, client_visit = call
    big = {"type": "offer", "sdp": "x" * (60 * 1024)}
    for seq in range(1, 5):
        assert signal(guest, client_visit, "description", big, seq=seq).status_code == 201
    refused = signal(guest, client_visit, "description", big, seq=5)
    assert refused.status_code == 429 and "not received your earlier messages" in refused.get_json()["error"]
    assert signals() == 4


DEEP = b"[" * 30_000 + b"]" * 30_000  # 60 KB: within the size limit, far beyond any sane depth
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"kind": "state", "data": {"audio": NaN}, "seq": 1}', "NaN"),
        (b'{"kind": "state", "data": {"audio": Infinity}, "seq": 1}', "Infinity"),
        (b'{"kind": "state", "data": {"audio": -Infinity}, "seq": 1}', "Infinity"),
        (b'{"kind": "state", "data": {"a": {"b": {"c": {"d": {"e": 1}}}}}, "seq": 1}', "nested too deeply"),
        (DEEP, "nested too deeply"),
        (DEEP_OBJECT, "nested too deeply"),
        (json.dumps({"kind": "state", "data": {}, "seq": 2**31}).encode(), "too large"),
        (json.dumps({"kind": "state", "data": {}, "seq": 2**70}).encode(), "too large"),
        (json.dumps({"kind": "state", "data": {"n": 2**64}, "seq": 1}).encode(), "too large"),
        (b'{"kind": "state", "data": {"n": 1e999999}, "seq": 1}', "too large"),
    ],
)
def test_hostile_signals_are_refused_and_change_nothing(guest, call, body, message):
    _, client_visit = call
    before = dump()
    response = guest.open(client_visit["signal"], method="POST", data=body, content_type="application/json")
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert dump() == before


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b'{"name": NaN}', b'{"name": "Alex", "x": 1e999999}'])
def test_hostile_knocks_and_joins_are_refused(guest, therapist, jane, body):
    before = dump()
    for url in (f"/u/{therapist.personal_slug}/knock", path(clients.room_url(jane)) + "/join"):
        response = guest.open(url, method="POST", data=body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert "error" in response.get_json()
    assert dump() == before


@pytest.mark.parametrize("after", ["²", "-1", "1.5", "x", str(2**31), str(2**64), "9" * 30, "١"])
def test_a_poll_with_a_bad_after_is_refused(guest, call, after):
    _, client_visit = call
    before = dump()
    response = guest.get(client_visit["poll"], query_string={"after": after})
    assert response.status_code == 400 and "whole number" in response.get_json()["error"]
    assert dump() == before


def test_a_long_therapist_name_fits_the_room(app, logged_in, therapist, jane):
    therapist.name = "Dana " + "Whitfield-" * 18  # 185 characters: the account allows 200
    db.session.commit()
    response = post_json(logged_in, f"/room/client/{jane.id}/join", {}, headers={"X-CSRFToken": logged_in.csrf_token()})
    assert response.status_code == 200
    assert len(rooms.participant(response.get_json()["peer"]).name) == 80


def test_a_stored_nan_cannot_break_a_poll(logged_in, guest, call):
    """Even a message stored before strict parsing is sent as valid JSON or not at all."""
    therapist_visit, client_visit = call
    signal(guest, client_visit, seq=1)
    signal(guest, client_visit, seq=2, data={"audio": False})
    first = db.session.scalars(select(RoomSignal).order_by(RoomSignal.id)).first()
    first.payload = '{"audio": NaN}'  # as an older version could store it
    db.session.commit()
    response = logged_in.get(therapist_visit["poll"])
    answer = json.loads(response.get_data(as_text=True), parse_constant=lambda c: pytest.fail(c))
    assert [m["data"] for m in answer["messages"]] == [{"audio": False}]


def test_a_chunked_signal_counts_its_bytes(logged_in, guest, call):
    """A body sent without Content-Length (chunked, as gunicorn passes it on) is charged what it holds."""
    therapist_visit, client_visit = call
    big = {"type": "offer", "sdp": "x" * (60 * 1024)}
    for seq in range(1, 200):
        body = json.dumps({"kind": "description", "data": big, "seq": seq}).encode()
        response = guest.open(
            client_visit["signal"],
            method="POST",
            input_stream=io.BytesIO(body),
            content_type="application/json",
            environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
        )
        assert response.status_code in (201, 429), response.get_data(as_text=True)
        if response.status_code != 201:
            break
        logged_in.get(therapist_visit["poll"] + "?after=" + str(response.get_json()["id"]))
    assert response.status_code == 429 and 30 <= seq <= 35


def test_the_room_shows_when_the_session_in_progress_ends_in_each_ones_zone(logged_in, guest, jane, therapist):
    from models import utcnow

    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=10)
    add_session(therapist, jane, start)
    jane.timezone = "America/New_York"
    db.session.commit()
    end = start + timedelta(minutes=50)
    prague = booking.local_time(end, "Europe/Prague", "%H:%M")
    new_york = booking.local_time(end, "America/New_York", "%H:%M")
    assert f"Ends at <strong>{prague}</strong>" in logged_in.get(f"/room/client/{jane.id}").get_data(as_text=True)
    assert f"Ends at <strong>{new_york}</strong>" in guest.get(path(clients.room_url(jane))).get_data(as_text=True)
