"""Two-factor login: TOTP codes from an authenticator app (RFC 6238), and single-use recovery codes.

Functions here change rows without committing: the view commits them together with their activity entry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone

import pyotp
import segno
from markupsafe import Markup
from sqlalchemy import delete, select

from extensions import db
from models import RecoveryCode, Therapist, utcnow

ISSUER = "Hearth"
RECOVERY_CODES = 10
# A code from the step before or after also counts, for clocks a little apart.
WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def setup_uri(therapist: Therapist, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=therapist.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The QR code as inline SVG: plain elements and presentation attributes, nothing the CSP forbids."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, light="#fff", dark="#000", title="QR code for your authenticator app"
    )
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1))


def _digits(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "")


def _matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step whose code this is, within the window, or None."""
    totp = pyotp.TOTP(secret)
    code = _digits(code)
    if not re.fullmatch(r"[0-9]{6}", code):  # ASCII only: \d also matches other scripts' digits
        return None
    current = totp.timecode(datetime.fromtimestamp(at, timezone.utc))
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def setup_step(secret: str, code: str) -> int | None:
    """For setup: the time step of this code if the app makes codes from this secret, else None."""
    return _matching_step(secret, code, time.time())


def use_code(therapist: Therapist, code: str) -> bool:
    """Check a code from the app; each time step's code is accepted once, so a code seen over a shoulder is spent."""
    step = _matching_step(therapist.totp_secret, code, time.time())
    if step is None or (therapist.totp_last_step is not None and step <= therapist.totp_last_step):
        return False
    therapist.totp_last_step = step
    return True


def _normalise_recovery(code: str) -> str:
    return _digits(code).lower()


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise_recovery(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    """Ten base-32 characters (50 bits) in two groups, easy to copy by hand: "k7m2p-q9xha"."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    chars = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def use_recovery_code(therapist: Therapist, code: str) -> bool:
    """Spend one of the therapist's unused recovery codes; False if it is not one."""
    if not re.fullmatch(r"[a-z0-9]{10}", _normalise_recovery(code)):
        return False
    row = db.session.scalar(
        select(RecoveryCode).filter_by(therapist_id=therapist.id, code_hash=_hash(code), used_at=None)
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def verify(therapist: Therapist, code: str) -> str | None:
    """At login and to disable: "app" or "recovery" for the kind of code that was accepted, else None."""
    if use_code(therapist, code):
        return "app"
    if use_recovery_code(therapist, code):
        return "recovery"
    return None


def enable(therapist: Therapist, secret: str, step: int) -> list[str]:
    """Turn two-factor login on with a secret confirmed by the code of `step` (now spent); the new recovery codes, to show once."""
    therapist.totp_secret = secret
    therapist.totp_last_step = step
    db.session.execute(delete(RecoveryCode).filter_by(therapist_id=therapist.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(therapist_id=therapist.id, code_hash=_hash(code)) for code in codes)
    return codes


def disable(therapist: Therapist) -> None:
    therapist.totp_secret = None
    therapist.totp_last_step = None
    db.session.execute(delete(RecoveryCode).filter_by(therapist_id=therapist.id))


def unused_codes(therapist: Therapist, codes: list[str]) -> list[str]:
    """Those of `codes` that are this therapist's unused recovery codes (for the .txt download)."""
    hashes = set(db.session.scalars(select(RecoveryCode.code_hash).filter_by(therapist_id=therapist.id, used_at=None)))
    return [
        code for code in codes if re.fullmatch(r"[a-z0-9]{10}", _normalise_recovery(code)) and _hash(code) in hashes
    ]


def remaining(therapist: Therapist) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).filter_by(therapist_id=therapist.id, used_at=None)).all())
