"""Therapist accounts: sign up, authenticate, profile and password changes."""
import hashlib
from datetime import timedelta

from argon2 import PasswordHasher
from flask import current_app
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import links
import mail
from extensions import db
from models import PasswordReset, Therapist, utcnow
from validation import Invalid, email_key, normalise_email

# argon2-cffi's default profile (RFC 9106 low-memory: Argon2id, 64 MiB, t=3) is above OWASP's minimum.
hasher = PasswordHasher()


class EmailTaken(Invalid):
    """Another account already uses this address (compared without case)."""


def hash_password(password: str) -> str:
    return hasher.hash(password)


def password_matches(therapist: Therapist, password: str) -> bool:
    """Check a password, upgrading the stored hash when the parameters have changed."""
    try:
        hasher.verify(therapist.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(therapist.password_hash):
        therapist.password_hash = hasher.hash(password)
        db.session.commit()
    return True


def _ensure_email_free(email: str, therapist: Therapist | None = None) -> None:
    owner = Therapist.by_email(email_key(email))
    if owner is not None and (therapist is None or owner.id != therapist.id):
        raise EmailTaken("An account with this email already exists.")


def sign_up(*, name: str, email: str, password: str, timezone: str) -> Therapist:
    """Create a therapist from already validated fields; EmailTaken if the address is in use."""
    _ensure_email_free(email)
    therapist = Therapist(
        name=name,
        email=email,
        email_key=email_key(email),
        password_hash=hash_password(password),
        timezone=timezone,
        personal_slug=links.default_slug(name),
    )
    db.session.add(therapist)
    try:
        db.session.commit()
    except IntegrityError:  # the same address signed up a moment ago
        db.session.rollback()
        raise EmailTaken("An account with this email already exists.") from None
    return therapist


def account_key(email: str | None) -> str:
    """The key of the account an address names, however it is spelled (case, fullwidth letters, IDNA).

    Authentication looks accounts up by it, and the rate limits count by it, so no spelling escapes a limit.
    """
    try:
        email = normalise_email(email or "")
    except Invalid:
        email = (email or "").strip()  # cannot be normalised, so it names no account; still one key per spelling
    return email_key(email)


def authenticate(email: str, password: str) -> Therapist | None:
    """The therapist with this email and password, or None (without saying which was wrong)."""
    therapist = Therapist.by_email(account_key(email))
    if therapist is None:
        hasher.hash(password)  # spend the same time as a real check, so timing does not reveal accounts
        return None
    return therapist if password_matches(therapist, password) else None


def update_profile(therapist: Therapist, *, name: str, email: str, timezone: str) -> None:
    """Save name, email and time zone; EmailTaken if the new address belongs to someone else."""
    _ensure_email_free(email, therapist)
    therapist.name = name
    therapist.email = email
    therapist.email_key = email_key(email)
    therapist.timezone = timezone
    db.session.commit()


def change_password(therapist: Therapist, new_password: str) -> None:
    """Store a new password and end every other logged-in session of this therapist."""
    therapist.password_hash = hash_password(new_password)
    therapist.login_token = links.new_token()
    db.session.commit()


def feed_token(therapist: Therapist) -> str:
    """The therapist's calendar-feed token, made the first time it is asked for."""
    if therapist.feed_token is None:
        therapist.feed_token = links.new_token()
        db.session.commit()
    return therapist.feed_token


def replace_feed_token(therapist: Therapist) -> str:
    """A new feed address; the old one answers 404 from now on."""
    therapist.feed_token = links.new_token()
    db.session.commit()
    return therapist.feed_token


def by_feed_token(token: str) -> Therapist | None:
    return db.session.scalar(select(Therapist).filter_by(feed_token=token))


RESET_VALID_FOR = timedelta(hours=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_reset(email: str) -> tuple[Therapist, str] | None:
    """Make a single-use reset token for the account with this email; None when there is no such account."""
    therapist = Therapist.by_email(account_key(email))
    if therapist is None:
        return None
    token = links.new_token()
    db.session.add(PasswordReset(therapist_id=therapist.id, token_hash=_hash(token),
                                 expires_at=utcnow() + RESET_VALID_FOR))
    db.session.commit()
    return therapist, token


def send_reset_link(email: str) -> None:
    """Email a reset link if the address has an account; say nothing either way."""
    if started := start_reset(email):
        therapist, token = started
        link = f"{current_app.config['PUBLIC_URL']}/reset-password/{token}"
        message = mail.compose(sender_name="Hearth", to=(therapist.name, therapist.email),
                               subject="Reset your Hearth password", template="password_reset",
                               context={"therapist": therapist, "link": link})
        mail.deliver(message, therapist)


def find_reset(token: str) -> PasswordReset | None:
    """The reset this token opens, if unused and not expired."""
    reset = db.session.scalar(select(PasswordReset).filter_by(token_hash=_hash(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    return reset


def finish_reset(reset: PasswordReset, new_password: str) -> Therapist:
    """Set the new password, use up this link and every other open one, and end all sessions."""
    now = utcnow()
    for other in db.session.scalars(select(PasswordReset).filter_by(therapist_id=reset.therapist_id, used_at=None)):
        other.used_at = now
    change_password(reset.therapist, new_password)
    return reset.therapist
