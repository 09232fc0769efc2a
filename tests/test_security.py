"""The security matrix, generated from app.url_map so that no new route escapes it; headers; sessions."""
import re
import time
from datetime import time as clock

import pytest

import booking
import clients
import rooms
from conftest import dump, login, make_therapist
from dates import PLAIN_TUESDAY
from extensions import db

# Routes anyone may open: pages, and endpoints authorised by a link token or a visit's secret peer id.
PUBLIC = {"static", "vendor.static", "public.index", "auth.login", "auth.signup", "auth.signed_out",
          "auth.forgot_password", "auth.reset_password", "auth.signed_up", "auth.confirm_email", "public.room",
          "public.lobby", "public.feed", "rooms.client_join", "rooms.knock", "rooms.poll", "rooms.signal", "rooms.leave",
          "public.confirm", "public.confirm_post"}
# State-changing routes without a CSRF token: guests carry no cookie, so there is nothing to forge.
CSRF_EXEMPT = {"rooms.client_join", "rooms.knock", "rooms.signal", "rooms.leave", "public.confirm_post"}
ID_ARGS = {"client_id", "appointment_id", "message_id", "participant_id"}


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def build(rule, ids=None, token="not-a-real-token-1234567890"):
    values = {name: (ids or {}).get(name, 1) if name in ID_ARGS else token for name in rule.arguments}
    if rule.endpoint in ("static", "vendor.static"):
        values = {"filename": "hearth.css" if rule.endpoint == "static" else "htmx.min.js"}
    return rule.build(values)[1]


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert CSRF_EXEMPT <= PUBLIC
    assert len(endpoints - PUBLIC) > 30  # the rest need a login, checked below


def test_logged_out_every_private_route_redirects_to_login(app, client):
    token = client.csrf_token()
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        response = client.open(build(rule), method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 302, (method, rule)
        assert "/login" in response.headers["Location"], (method, rule)


def test_public_token_routes_answer_404_for_a_wrong_token(app, client):
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC and rule.arguments and rule.endpoint not in ("static", "vendor.static"):
            if rule.endpoint in CSRF_EXEMPT or method == "GET":
                response = client.open(build(rule), method=method, data="{}", content_type="application/json")
            else:
                response = client.open(build(rule), method=method, data={"csrf_token": client.csrf_token()})
            assert response.status_code in (404, 429), (method, rule)  # 429 once misses pile up: still nothing found


def test_every_state_changing_route_refuses_a_missing_csrf_token(app, logged_in, therapist):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    session = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, clock(14, 0), 50))
    ids = {"client_id": jane.id, "appointment_id": session.id, "message_id": 1, "participant_id": 1}
    before = dump()
    checked = 0
    for rule, method in routes(app):
        if method == "GET" or rule.endpoint in CSRF_EXEMPT:
            continue
        response = logged_in.open(build(rule, ids), method=method, data={"edit-name": "Changed", "slug": "changed-slug"})
        assert response.status_code == 400, (method, rule)
        checked += 1
    assert checked >= 15
    assert dump() == before


def test_another_therapists_ids_answer_404_on_every_route(app, logged_in):
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = clients.add(olga, name="Private Person", email="private@example.com")
    session = booking.book(olga, theirs, booking.slot(olga, PLAIN_TUESDAY, clock(9, 0), 50))
    visitor = rooms.knock(olga, "Alex")
    from models import OutboxMessage

    message = OutboxMessage(therapist_id=olga.id, recipient="x@example.com", subject="s", raw=b"x")
    db.session.add(message)
    db.session.commit()
    ids = {"client_id": theirs.id, "appointment_id": session.id, "message_id": message.id, "participant_id": visitor.id}
    before = dump()
    checked = 0
    for rule, method in routes(app):
        if not (rule.arguments & ID_ARGS):
            continue
        data = {"csrf_token": logged_in.csrf_token(), "edit-name": "Hijacked", "send_to": "both", "version": "0",
                "date": PLAIN_TUESDAY.isoformat(), "start_time": "10:00", "length": "50"} if method == "POST" else None
        response = logged_in.open(build(rule, ids), method=method, data=data,
                                  headers={"X-CSRFToken": logged_in.csrf_token()})
        assert response.status_code == 404, (method, rule)
        assert "Private Person" not in response.get_data(as_text=True)
        checked += 1
    assert checked >= 15
    assert dump() == before


@pytest.mark.parametrize("path", ["/", "/login", "/sessions/", "/no-such-page"])
def test_security_headers_on_every_response(logged_in, path):
    response = logged_in.get(path)
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_the_session_changes_at_login(client, therapist):
    client.get("/login")
    before = client.client.get_cookie("session").value
    login(client)
    assert client.client.get_cookie("session").value != before


def test_an_idle_session_ends_after_30_minutes_and_any_session_after_12_hours(app, logged_in, monkeypatch):
    import security

    now = time.time()
    monkeypatch.setattr(security, "_now", lambda: now + 29 * 60)
    assert logged_in.get("/sessions/").status_code == 200
    monkeypatch.setattr(security, "_now", lambda: now + 29 * 60 + 31 * 60)
    response = logged_in.get("/sessions/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/signed-out")
    assert "signed out for inactivity" in logged_in.get("/signed-out").get_data(as_text=True)
    assert logged_in.get("/sessions/").status_code == 302  # and stays out

    start = now + 3600
    monkeypatch.setattr(security, "_now", lambda: start)
    login(logged_in)
    for minutes in range(20, 12 * 60, 20):  # busy all day, never idle for long
        monkeypatch.setattr(security, "_now", lambda m=minutes: start + m * 60)
        assert logged_in.get("/sessions/").status_code == 200
    monkeypatch.setattr(security, "_now", lambda: start + 12 * 3600 + 60)  # 12 hours after login
    assert logged_in.get("/sessions/").status_code == 302


def test_background_polling_does_not_keep_a_session_alive(app, logged_in, monkeypatch):
    import security

    now = time.time()
    for minutes in (10, 20, 29):
        monkeypatch.setattr(security, "_now", lambda m=minutes: now + m * 60)
        assert logged_in.get("/room/lobby").status_code == 200
    monkeypatch.setattr(security, "_now", lambda: now + 31 * 60)
    assert logged_in.get("/sessions/").status_code == 302


def test_logout_ends_the_session(logged_in):
    logged_in.post("/logout", {})
    assert logged_in.get("/sessions/").status_code == 302


def test_https_cookies_use_the_host_prefix(tmp_path, monkeypatch):
    import config

    monkeypatch.setenv("PUBLIC_URL", "https://hearth.example.com")
    settings = config.from_environment(str(tmp_path))
    assert settings["SESSION_COOKIE_NAME"] == "__Host-session" and settings["SESSION_COOKIE_SECURE"]
    assert settings["REMEMBER_COOKIE_NAME"] == "__Host-remember_token"


def test_https_sends_hsts(app, client):
    app.config["PUBLIC_URL"] = "https://hearth.example.com"
    assert "max-age" in client.get("/").headers["Strict-Transport-Security"]


def test_ids_too_large_for_the_database_answer_404(logged_in):
    for path in ("/clients/99999999999", "/sessions/2147483648", "/sessions/book?client=99999999999"):
        assert logged_in.get(path).status_code == 404, path
