"""Response headers and the lifetime of a logged-in session."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import current_user, logout_user

CSP = "; ".join([
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
])

CACHEABLE = {"static", "vendor.static"}

# Background polls (lobby notices, presence, call signalling) do not count as the therapist being active.
BACKGROUND = {"rooms.lobby", "rooms.presence", "rooms.poll", "static", "vendor.static"}


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()


def start_session() -> None:
    """Call at login: the clocks for the idle and absolute limits start now."""
    session["started"] = session["seen"] = _now()


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
        """Sign a therapist out after IDLE_TIMEOUT without a request, and after SESSION_LIFETIME in all."""
        if not current_user.is_authenticated:
            return None
        now = _now()
        started, seen = session.get("started"), session.get("seen")
        config = current_app.config
        if started is None or seen is None:  # restored from a remember-me cookie: a new session starts
            start_session()
            return None
        if now - seen > config["IDLE_TIMEOUT"] or now - started > config["SESSION_LIFETIME"]:
            logout_user()
            session.clear()
            if request.blueprint == "rooms" and request.endpoint != "rooms.client_room":
                return {"error": "Signed out for inactivity."}, 401
            return redirect(url_for("auth.signed_out"))
        if request.endpoint not in BACKGROUND:
            session["seen"] = now
        return None
