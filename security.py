"""Response headers and the lifetime of a logged-in session."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Flask, Response, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeSerializer

import logins
from extensions import db
from models import LoginSession

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script and no eval: htmx is configured to need neither
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

CACHEABLE = {"static", "vendor.static"}

# Background polls (lobby notices, presence) do not count as the therapist being active; a call's poll does.
BACKGROUND = {"rooms.lobby", "rooms.presence", "rooms.poll", "static", "vendor.static"}
# A call's signalling goes on when the login ends: media is never dropped because of authentication.
CALL = {"rooms.poll", "rooms.signal", "rooms.leave"}
ROOM_PAGES = {"rooms.client_room", "rooms.personal_room"}
# "Last active" is written at most this often: the idle limit is in minutes, so seconds do not matter.
TOUCH_EVERY = timedelta(seconds=15)


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()


def now() -> datetime:
    """The clock the session limits run on (aware UTC)."""
    return datetime.fromtimestamp(_now(), timezone.utc)


# Requests that may run before two-factor setup when REQUIRE_2FA is on: the setup itself, and leaving.
SETUP_ALLOWED = {
    "account.security_tab",
    "account.start_two_factor",
    "account.confirm_two_factor",
    "account.recovery_codes_txt",
    "auth.logout",
    "auth.signed_out",
} | BACKGROUND


def start_session(therapist, remember: bool = False) -> None:
    """Log in on this device: a new login-session row, which the session cookie (and remember-me) names."""
    session.clear()  # nothing from before login carries over into the logged-in session
    duration = current_app.config["REMEMBER_COOKIE_DURATION"]
    logins.start(
        therapist,
        now=now(),
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
        remember_for=duration if remember else None,
    )
    login_user(therapist, remember=remember, duration=duration)


def sign_out(reason: str) -> None:
    """End this device's login session for good, and drop its cookies (remember-me too). The caller commits."""
    if current_user.is_authenticated:
        logins.end(current_user.login_session, reason)
    session.clear()
    logout_user()  # after clear(): it leaves the flag that makes Flask-Login delete the remember-me cookie


def load_user(token: str):
    """Flask-Login's user loader: a cookie opens only an open login session, never the therapist alone."""
    row = logins.find(token)
    return row.therapist if row is not None else None


def ended_by_time(row: LoginSession, at: datetime) -> str | None:
    """Why this login session is over at `at`, if it is: idle too long, too long since login, or past remember-me."""
    config = current_app.config
    if at - row.last_seen_at > timedelta(seconds=config["IDLE_TIMEOUT"]):
        return "idle"
    if at - row.created_at > timedelta(seconds=config["SESSION_LIFETIME"]):
        return "lifetime"
    if row.remember_until is not None and at > row.remember_until:
        return "lifetime"
    return None


CALL_COOKIE = "hearth_calls"
CALLS_KEPT = 4


def _calls_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="room-calls")


def call_peers() -> list[str]:
    """The therapist's room visits this browser joined with, from their own signed cookie.

    Not in the login session: the call must go on when the login ends, and a concurrent response
    carrying an older session cookie must not make the browser forget its call.
    """
    try:
        peers = _calls_signer().loads(request.cookies.get(CALL_COOKIE, ""))
    except BadSignature:
        return []
    return [p for p in peers if isinstance(p, str)] if isinstance(peers, list) else []


def remember_call(response: Response, peer_id: str) -> Response:
    peers = [*call_peers(), peer_id][-CALLS_KEPT:]
    response.set_cookie(
        CALL_COOKIE,
        _calls_signer().dumps(peers),
        path=f"{request.script_root}/room/peer/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["PUBLIC_URL"].startswith("https://"),
    )
    return response


def _in_call() -> bool:
    """This request is the poll of a call the therapist is in now, from the browser that joined it."""
    import rooms

    peer_id = (request.view_args or {}).get("peer_id")
    if request.endpoint != "rooms.poll" or peer_id not in call_peers():
        return False
    visit = rooms.participant(peer_id)
    return visit is not None and visit.status == rooms.IN_ROOM and visit.therapist_id == current_user.id


def init_app(app: Flask) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Pages, fragments and downloads hold clients' names, notes and addresses: no shared or
        # browser cache may keep them. Only the static files are cacheable (the feed sets its own).
        if request.endpoint not in CACHEABLE:
            response.headers.setdefault("Cache-Control", "no-store")
        if app.config["PUBLIC_URL"].startswith("https://"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response

    @app.before_request
    def refuse_nul():
        """NUL belongs in no address or query; PostgreSQL refuses it in text, so stop it at the door."""
        if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
            abort(400)
        return None

    @app.before_request
    def expire_idle_sessions():
        """Sign a therapist out after IDLE_TIMEOUT without a request, and after SESSION_LIFETIME in all.

        Remember-me changes neither limit: it only lets a login outlive the browser being closed.
        """
        if not current_user.is_authenticated:
            return None
        row, at = current_user.login_session, now()
        if reason := ended_by_time(row, at):
            sign_out(reason)
            db.session.commit()
            if request.endpoint in CALL:
                return None  # the call's own cookie lets it go on; the poll tells the page (signedIn: false)
            if request.blueprint == "rooms" and request.endpoint not in ROOM_PAGES:
                return {"error": "Signed out for inactivity."}, 401
            return redirect(url_for("auth.signed_out"))
        # A call the therapist is in keeps the login alive (up to SESSION_LIFETIME); other background polls do not.
        # Written at most every TOUCH_EVERY, and well within the idle limit however short it is set.
        touch_every = min(TOUCH_EVERY, timedelta(seconds=current_app.config["IDLE_TIMEOUT"]) / 3)
        if (request.endpoint not in BACKGROUND or _in_call()) and at - row.last_seen_at >= touch_every:
            row.last_seen_at = at
            db.session.commit()
        return None

    @app.before_request
    def require_two_factor():
        """With REQUIRE_2FA on, a therapist without two-factor login can only set it up (or log out)."""
        if (
            current_app.config["REQUIRE_2FA"]
            and current_user.is_authenticated
            and not current_user.two_factor
            and request.endpoint is not None
            and request.endpoint not in SETUP_ALLOWED
        ):
            flash("This server requires two-factor login. Set it up to continue.")
            return redirect(url_for("account.security_tab"))
        return None


def warn_when_reached_past_the_proxy(app: Flask) -> None:
    """With TRUSTED_PROXIES set, a request without X-Forwarded-For did not come through the proxy:
    whoever can do that can also send their own X-Forwarded-For and pick the address limits count.
    Said once per process, so a misconfiguration is seen in the log without flooding it."""
    warned = False

    @app.before_request
    def check_forwarded_for():
        nonlocal warned
        if not warned and "X-Forwarded-For" not in request.headers:
            warned = True
            app.logger.warning(
                "TRUSTED_PROXIES=%s but a request from %s arrived without X-Forwarded-For: Hearth can be "
                "reached past the proxy, and such a visitor can spoof X-Forwarded-For. Bind Hearth where "
                "only the proxy reaches it.",
                app.config["TRUSTED_PROXIES"],
                request.remote_addr,
            )
