"""Login sessions: one row per login on one device, which the cookies name and which ends for real."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from extensions import db
from models import LoginSession, Therapist, utcnow


def start(
    therapist: Therapist, *, now: datetime, ip: str, user_agent: str, remember_for: timedelta | None = None
) -> LoginSession:
    """A new open login session; with remember_for, its remember-me cookie may bring it back until then."""
    row = LoginSession(
        therapist_id=therapist.id,
        created_at=now,
        last_seen_at=now,
        ip=ip[:64],
        user_agent=user_agent[:300],
        remember=remember_for is not None,
        remember_until=now + remember_for if remember_for else None,
    )
    db.session.add(row)
    db.session.flush()
    therapist.login_session = row
    return row


# Built once: this runs on every request, and SQLAlchemy then reuses the statement's cache key and compiled form
# instead of building the same SELECT again each time.
_OPEN_BY_TOKEN = (
    select(LoginSession)
    .options(joinedload(LoginSession.therapist))
    .where(LoginSession.token == bindparam("token"), LoginSession.ended_at.is_(None))
)


def find(token: str) -> LoginSession | None:
    """The open login session with this token, with its therapist (one statement: this runs on every request);
    None once it has ended."""
    row = db.session.scalar(_OPEN_BY_TOKEN, {"token": token})
    if row is not None:
        row.therapist.login_session = row
    return row


def end(row: LoginSession, reason: str) -> None:
    """End one login session: its cookies open nothing from now on. The caller commits."""
    if row.ended_at is None:
        row.ended_at, row.ended_reason = utcnow(), reason


def end_all(therapist: Therapist, reason: str, *, keep: LoginSession | None = None) -> int:
    """End every open login session of this therapist except `keep`; how many ended. The caller commits."""
    query = update(LoginSession).where(LoginSession.therapist_id == therapist.id, LoginSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(LoginSession.id != keep.id)
    return db.session.execute(query.values(ended_at=utcnow(), ended_reason=reason)).rowcount


def open_for(therapist: Therapist) -> list[LoginSession]:
    """The devices signed in now, most recently active first."""
    return list(
        db.session.scalars(
            select(LoginSession)
            .filter_by(therapist_id=therapist.id, ended_at=None)
            .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
        )
    )


BROWSERS = [
    ("Edge", r"Edg(e|A|iOS)?/"),
    ("Opera", r"OPR/"),
    ("Firefox", r"(Firefox|FxiOS)/"),
    ("Chrome", r"(Chrome|CriOS|HeadlessChrome|Chromium)/"),
    ("Safari", r"Safari/"),
]
SYSTEMS = [
    ("iPhone", r"iPhone"),
    ("iPad", r"iPad"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux"),
]


def device_name(user_agent: str) -> str:
    """ "Firefox on Windows" from a User-Agent header; the header is the browser's word, not proof."""
    browser = next((name for name, pattern in BROWSERS if re.search(pattern, user_agent)), None)
    system = next((name for name, pattern in SYSTEMS if re.search(pattern, user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def place(ip: str) -> str:
    """Where an address is, as far as Hearth can tell without a location database."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "Unknown"
    if address.is_loopback:
        return "This computer"
    if address.is_private or address.is_link_local:
        return "Local network"
    return "Internet"
