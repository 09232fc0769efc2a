"""The security matrix, generated from app.url_map so that no new route escapes it; headers; sessions."""

import re
import time
from datetime import time as clock

import pytest
from sqlalchemy import select

import booking
import clients
import logins
import rooms
from conftest import dump, login, make_therapist
from dates import PLAIN_TUESDAY
from extensions import db
from models import LoginSession, utcnow

# Every endpoint, classified. A new route fails test_every_endpoint_is_classified until it is added here.
PUBLIC = "public"  # anyone may open it
TOKEN = "token"  # anyone holding a link token or a visit's secret peer id; a wrong one is a 404
LOGIN = "login"  # the logged-in therapist's own screens, no object named in the request
OWNED = "owned"  # names one of the therapist's objects by id: another therapist's id is a 404
ENDPOINTS = {
    "static": PUBLIC,
    "vendor.static": PUBLIC,
    "public.index": PUBLIC,
    "auth.login": PUBLIC,
    "auth.signup": PUBLIC,
    "auth.signed_out": PUBLIC,
    "auth.forgot_password": PUBLIC,
    "auth.login_code": PUBLIC,
    "auth.reset_password": TOKEN,
    "rooms.client_page": TOKEN,
    "rooms.visitor_page": TOKEN,
    "public.feed": TOKEN,
    "rooms.client_join": TOKEN,
    "rooms.knock": TOKEN,
    "rooms.poll": TOKEN,
    "rooms.signal": TOKEN,
    "rooms.leave": TOKEN,
    "public.confirm": TOKEN,
    "public.confirm_post": TOKEN,
    "auth.logout": LOGIN,
    "account.index": LOGIN,
    "account.profile": LOGIN,
    "account.save_profile": LOGIN,
    "account.change_password": LOGIN,
    "account.personal_link": LOGIN,
    "account.save_personal_link": LOGIN,
    "account.check_slug": LOGIN,
    "account.calendar": LOGIN,
    "account.replace_feed": LOGIN,
    "account.activity_log": LOGIN,
    "account.activity_csv": LOGIN,
    "account.public_url_help": LOGIN,
    "account.reminders_tab": LOGIN,
    "account.save_reminders": LOGIN,
    "clients.index": LOGIN,
    "clients.new": LOGIN,
    "clients.create": LOGIN,
    "clients.show": OWNED,
    "clients.edit": OWNED,
    "clients.update": OWNED,
    "clients.archive": OWNED,
    "clients.restore": OWNED,
    "clients.replace_room_link": OWNED,
    "clients.set_reminders": OWNED,
    "outbox.index": LOGIN,
    "outbox.show": OWNED,
    "outbox.message_html": OWNED,
    "outbox.download_eml": OWNED,
    "outbox.download_ics": OWNED,
    "rooms.lobby": LOGIN,
    "rooms.personal_room": LOGIN,
    "rooms.therapist_join_personal": LOGIN,
    "rooms.client_room": OWNED,
    "rooms.presence": OWNED,
    "rooms.therapist_join_client": OWNED,
    "rooms.admit": OWNED,
    "rooms.decline": OWNED,
    # Find client lists only the therapist's own clients; another's id is simply not among them.
    "sessions.index": LOGIN,
    "sessions.client_options": LOGIN,
    "sessions.today": LOGIN,
    "sessions.week": LOGIN,
    "sessions.export_csv": LOGIN,
    "sessions.book": OWNED,
    "sessions.preview": OWNED,
    "sessions.create": OWNED,  # the client in the query or form
    "sessions.show": OWNED,
    "sessions.download_ics": OWNED,
    "sessions.reschedule_form": OWNED,
    "sessions.reschedule_preview": OWNED,
    "sessions.reschedule": OWNED,
    "sessions.cancel": OWNED,
    "sessions.resend": OWNED,
    "account.security_tab": LOGIN,
    "account.start_two_factor": LOGIN,
    "account.confirm_two_factor": LOGIN,
    "account.disable_two_factor": LOGIN,
    "account.recovery_codes_txt": LOGIN,
    "account.sign_out_others": LOGIN,
    "account.sign_out_device": OWNED,
    "auth.signed_up": PUBLIC,
    "auth.confirm_email": TOKEN,
    "account.invitations": LOGIN,
    "account.make_invitation": LOGIN,
    "account.resend_confirmation": LOGIN,
    "account.save_calendar_delivery": LOGIN,
    "clients.resend_failed": OWNED,
    "rooms.remove": OWNED,
    "sessions.mark_attendance": OWNED,
    "sessions.send_reminder_now": OWNED,
}
ANYONE = {endpoint for endpoint, kind in ENDPOINTS.items() if kind in (PUBLIC, TOKEN)}
# State-changing routes without a CSRF token: guests carry no cookie, so there is nothing to forge.
CSRF_EXEMPT = {"rooms.client_join", "rooms.knock", "rooms.signal", "rooms.leave", "public.confirm_post"}
ID_ARGS = {"client_id", "appointment_id", "message_id", "participant_id", "login_session_id"}
# OWNED endpoints that take the client from the query string or the form instead of the path.
CLIENT_FIELD = {"sessions.book", "sessions.preview", "sessions.create"}


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def build(rule, ids=None, token="not-a-real-token-1234567890"):
    values = {name: (ids or {}).get(name, 1) if name in ID_ARGS else token for name in rule.arguments}
    if rule.endpoint in ("static", "vendor.static"):
        values = {"filename": "hearth.css" if rule.endpoint == "static" else "htmx.min.js"}
    return rule.build(values)[1]


def test_every_endpoint_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - set(ENDPOINTS))
    assert not missing, (
        "Classify each new endpoint in ENDPOINTS in tests/test_security.py, e.g. "
        + ", ".join(f'"{name}": LOGIN' for name in missing)
        + " (PUBLIC: anyone; TOKEN: a link token or peer id in the path; LOGIN: the therapist's own screen;"
        " OWNED: takes one of the therapist's ids, add its argument to ID_ARGS or CLIENT_FIELD)"
    )
    assert not set(ENDPOINTS) - endpoints, f"ENDPOINTS names routes that no longer exist: {set(ENDPOINTS) - endpoints}"
    assert CSRF_EXEMPT <= {e for e, kind in ENDPOINTS.items() if kind == TOKEN}
    for rule in app.url_map.iter_rules():
        takes_id = bool(rule.arguments & ID_ARGS) or rule.endpoint in CLIENT_FIELD
        assert takes_id == (ENDPOINTS[rule.endpoint] == OWNED), (
            f"{rule.endpoint} ({rule.rule}) is {ENDPOINTS[rule.endpoint]}: an endpoint is OWNED exactly when it "
            "takes an id from ID_ARGS in its path or the client from CLIENT_FIELD"
        )
        if ENDPOINTS[rule.endpoint] == TOKEN:
            assert rule.arguments, f"{rule.endpoint} is TOKEN but its path carries no token"


def test_logged_out_every_private_route_redirects_to_login(app, client):
    token = client.csrf_token()
    for rule, method in routes(app):
        if rule.endpoint in ANYONE:
            continue
        response = client.open(build(rule), method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 302, (method, rule)
        assert "/login" in response.headers["Location"], (method, rule)


def test_public_token_routes_answer_404_for_a_wrong_token(app, client):
    for rule, method in routes(app):
        if ENDPOINTS[rule.endpoint] == TOKEN:
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
        response = logged_in.open(
            build(rule, ids), method=method, data={"edit-name": "Changed", "slug": "changed-slug"}
        )
        assert response.status_code == 400, (method, rule)
        checked += 1
    assert checked >= 15
    assert dump() == before


def test_another_therapists_ids_answer_404_on_every_owned_route(app, logged_in):
    """The one cross-therapist check: every OWNED endpoint, with Olga's ids, is a 404 and changes nothing."""
    olga = make_therapist(name="Olga Novak", email="olga@example.com")
    theirs = clients.add(olga, name="Private Person", email="private@example.com", note="secret")
    session = booking.book(olga, theirs, booking.slot(olga, PLAIN_TUESDAY, clock(9, 0), 50))
    visitor = rooms.knock(olga, "Alex")
    from models import OutboxMessage

    message = OutboxMessage(therapist_id=olga.id, recipient="x@example.com", subject="s", raw=b"x")
    db.session.add(message)
    olga_device = logins.start(olga, now=utcnow(), ip="192.0.2.1", user_agent="Firefox/1")
    db.session.commit()
    ids = {
        "client_id": theirs.id,
        "appointment_id": session.id,
        "message_id": message.id,
        "participant_id": visitor.id,
        "login_session_id": olga_device.id,
    }
    fields = {"client": str(theirs.id), "date": PLAIN_TUESDAY.isoformat(), "start_time": "10:00", "length": "50"}
    before = dump()
    checked = set()
    for rule, method in routes(app):
        if ENDPOINTS[rule.endpoint] != OWNED:
            continue
        url = build(rule, ids)
        if rule.endpoint in CLIENT_FIELD and method == "GET":
            url += "?" + "&".join(f"{name}={value}" for name, value in fields.items())
        data = (
            {
                "csrf_token": logged_in.csrf_token(),
                "edit-name": "Hijacked",
                "send_to": "both",
                "version": "0",
                "booking_key": "hijack",
                **fields,
            }
            if method == "POST"
            else None
        )
        response = logged_in.open(url, method=method, data=data, headers={"X-CSRFToken": logged_in.csrf_token()})
        assert response.status_code == 404, (method, rule)
        assert "Private Person" not in response.get_data(as_text=True), (method, rule)
        checked.add(rule.endpoint)
    assert checked == {endpoint for endpoint, kind in ENDPOINTS.items() if kind == OWNED}
    assert dump() == before
    for listing in ("/clients/?q=Private", "/clients/?archived=1", "/sessions/", "/room/lobby"):
        assert "Private Person" not in logged_in.get(listing).get_data(as_text=True), listing
    assert "Alex" not in logged_in.get("/room/lobby").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/login", "/sessions/", "/no-such-page"])
def test_security_headers_on_every_response(logged_in, path):
    response = logged_in.get(path)
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_nothing_from_before_login_carries_over(client, therapist):
    """Session fixation: what a visitor's session held (here a planted key and the CSRF token) is gone at login."""
    client.get("/login")
    with client.session_transaction() as before:
        before["planted"] = "by someone else"
        old_token = before["csrf_token"]
    assert login(client).status_code == 303
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after.get("csrf_token") != old_token
        # The cookie names the new login session on the server, never the therapist alone.
        (row,) = db.session.scalars(select(LoginSession).filter_by(therapist_id=therapist.id)).all()
        assert after["_user_id"] == row.token and row.ended_at is None


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
