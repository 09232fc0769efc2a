"""Therapist accounts: sign up, authenticate, confirm the address, profile and password changes, invitations."""

import hashlib
import re
import unicodedata
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import activity
import background
import booking
import links
import logins
import mail
from database import write_lock
from extensions import db
from models import CalendarDelivery, EmailConfirmation, Invitation, LoginSession, PasswordReset, Therapist, utcnow
from validation import Invalid, email_key, normalise_email

# argon2-cffi's default profile (RFC 9106 low-memory: Argon2id, 64 MiB, t=3) is above OWASP's minimum.
hasher = PasswordHasher()


class EmailTaken(Invalid):
    """Another account already uses this address (compared without case)."""


# Words that make a From line look like it comes from Hearth itself rather than from one of its therapists.
SERVICE_WORDS = {"hearth", "security", "support", "admin", "administrator"}
_LOOKALIKE_DIGITS = str.maketrans("013457", "oleast")


def imitates_the_service(name: str) -> bool:
    """Whether a name reads as Hearth's own staff: "Hearth", "Security", "Support" or "Admin" as a word,
    in any case, in fullwidth or other compatibility letters, or with digits for letters ("Supp0rt")."""
    plain = unicodedata.normalize("NFKC", name).casefold().translate(_LOOKALIKE_DIGITS)
    words = set(re.findall(r"\w+", plain)) | set(re.findall(r"[a-z]+", plain.replace("_", " ")))
    return bool(words & SERVICE_WORDS)


def check_display_name(name: str) -> str:
    """The name if it may appear in From as "<name> via Hearth", else Invalid."""
    if imitates_the_service(name):
        raise Invalid(
            "This name could be mistaken for Hearth itself (Hearth, Security, Support, Admin). Use your own name."
        )
    return name


def sender_name(therapist: Therapist) -> str:
    """The From name for mail sent on a therapist's behalf; a stored name that imitates Hearth is not used."""
    name = therapist.name if not imitates_the_service(therapist.name) else "Your therapist"
    return f"{name} via Hearth"


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


def limit_key(key: str) -> str:
    """The rate-limit key of the account with this `account_key`: one count for the account however it is named."""
    return "account:" + key


def register(
    *, name: str, email: str, password: str, timezone: str, ip: str = "", invitation: Invitation | None = None
) -> None:
    """Sign up from the signup form, answering alike whether or not the address already has an account.

    Both paths hash the password and write one row; the emails (a confirmation link for a new account,
    a warning to the owner of an existing one) are composed and sent after the answer.
    """
    owner = Therapist.by_email(account_key(email))
    if owner is not None:
        hash_password(password)  # the time a new account would take
        activity.record(owner, "signup_attempt", ip=ip)
        if mail.delivery_enabled():
            background.later(send_signup_attempt, owner.id)
        return
    try:
        therapist = sign_up(name=name, email=email, password=password, timezone=timezone)
    except EmailTaken:  # the same address signed up a moment ago: the same answer
        return
    if invitation is not None:
        invitation.used_at = utcnow()
        db.session.commit()
    if mail.delivery_enabled():
        background.later(send_confirmation, therapist.id, therapist.email)


def send_signup_attempt(therapist_id: int) -> None:
    therapist = db.session.get(Therapist, therapist_id)
    message = mail.compose(
        sender_name="Hearth",
        to=(therapist.name, therapist.email),
        subject="Someone tried to sign up to Hearth with your address",
        template="signup_attempt",
        context={
            "therapist": therapist,
            "login": links.external_url("auth.login"),
            "reset": links.external_url("auth.forgot_password"),
        },
    )
    mail.deliver(message, therapist)


CONFIRM_VALID_FOR = timedelta(days=3)


def send_confirmation(therapist_id: int, email: str) -> None:
    """Email a link to `email` that shows it is the therapist's: their own address, or the one they change to."""
    therapist = db.session.get(Therapist, therapist_id)
    token = links.new_token()
    db.session.add(
        EmailConfirmation(
            therapist_id=therapist.id, email=email, token_hash=_hash(token), expires_at=utcnow() + CONFIRM_VALID_FOR
        )
    )
    db.session.commit()
    change = email_key(email) != therapist.email_key
    message = mail.compose(
        sender_name="Hearth",
        to=(therapist.name, email),
        subject="Confirm your new email address for Hearth" if change else "Confirm your email address for Hearth",
        template="confirm_email",
        context={
            "therapist": therapist,
            "email": email,
            "change": change,
            "link": links.external_url("auth.confirm_email", token=token),
        },
    )
    mail.deliver(message, therapist)


def needs_confirmation(therapist: Therapist) -> bool:
    """Whether Hearth waits for this therapist to confirm their address before emailing anyone for them."""
    return mail.delivery_enabled() and therapist.email_confirmed_at is None


def confirm_email(token: str) -> tuple[Therapist, booking.AddressChange | None] | None:
    """Use a confirmation link: the address is confirmed, and for a change becomes the account's address.

    None when the link is unknown, used or expired; EmailTaken when the new address found an owner meanwhile.
    The old address is told of a change. Returns the therapist and, when their booked sessions moved with the
    address (and they take emailed copies), the change whose CANCELs and invites the caller sends.
    """
    row = db.session.scalar(select(EmailConfirmation).filter_by(token_hash=_hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    therapist, now = row.therapist, utcnow()
    row.used_at = now
    old = change = None
    if email_key(row.email) != therapist.email_key:
        owner = Therapist.by_email(email_key(row.email))
        if owner is not None:
            db.session.commit()
            raise EmailTaken("This address is now used by another account, so your email was not changed.")
        old = (therapist.name, therapist.email)
        change = _move_sessions(therapist)
        therapist.email, therapist.email_key = row.email, email_key(row.email)
    elif row.email != therapist.email:
        return None  # a link for an address this account no longer has
    for other in db.session.scalars(select(EmailConfirmation).filter_by(therapist_id=therapist.id, used_at=None)):
        other.used_at = now  # one address at a time: older links stop working
    therapist.email_confirmed_at = now
    activity.record(therapist, "email_changed" if old else "email_confirmed", therapist.email, commit=False)
    try:
        db.session.commit()
    except IntegrityError:  # taken between the check and the commit
        db.session.rollback()
        raise EmailTaken("This address is now used by another account, so your email was not changed.") from None
    if old:
        message = mail.compose(
            sender_name="Hearth",
            to=old,
            subject="Your Hearth email address was changed",
            template="email_changed",
            context={"therapist": therapist, "old": old[1]},
        )
        mail.deliver(message, therapist)
    return therapist, change if change and therapist.emails_own_copy else None


def authenticate(email: str, password: str) -> Therapist | None:
    """The therapist with this email and password, or None (without saying which was wrong)."""
    therapist = Therapist.by_email(account_key(email))
    if therapist is None:
        hasher.hash(password)  # spend the same time as a real check, so timing does not reveal accounts
        return None
    return therapist if password_matches(therapist, password) else None


def update_profile(
    therapist: Therapist, *, name: str, email: str, timezone: str, locale: str | None = None
) -> tuple[bool, booking.AddressChange | None]:
    """Save name, time zone and formats, and the email address. Returns (pending, change).

    With mail delivery on, a new address changes only when the link sent to it is opened (pending), and
    whether another account has it is never said here (its owner is told instead). With no mail server
    there is no link to send, so the address changes at once (EmailTaken if another account has it), and
    each upcoming session counts a new version (`change`), for the caller to send the CANCEL to the old
    address and the invites to the new one.
    """
    changing = email_key(email) != therapist.email_key
    change = None
    if changing and not mail.delivery_enabled():
        _ensure_email_free(email, therapist)
        change = _move_sessions(therapist)
    therapist.name = name
    therapist.timezone = timezone
    therapist.locale = locale
    if changing and not mail.delivery_enabled():
        therapist.email, therapist.email_key = email, email_key(email)
        therapist.email_confirmed_at = None  # never checked: if mail is switched on later, it must be confirmed
    elif not changing:
        therapist.email = email  # the same address, spelled differently
    try:
        db.session.commit()
    except IntegrityError:  # the address was taken a moment ago
        db.session.rollback()
        raise EmailTaken("An account with this email already exists.") from None
    if not changing or not mail.delivery_enabled():
        return False, change
    owner = Therapist.by_email(email_key(email))
    if owner is not None and owner.id != therapist.id:
        background.later(send_signup_attempt, owner.id)
    else:
        background.later(send_confirmation, therapist.id, email)
    return True, None


def _move_sessions(therapist: Therapist) -> booking.AddressChange | None:
    """Before the therapist's address changes: each upcoming session counts a new version, whose invites
    go to the new address while the old one gets a CANCEL (the caller sends them after the commit)."""
    write_lock(therapist.id)
    sessions = booking.upcoming(therapist=therapist)
    booking.new_version(sessions)
    return booking.AddressChange("therapist", therapist.email, sessions) if sessions else None


def change_password(
    therapist: Therapist, new_password: str, *, keep: LoginSession | None = None, reason: str = "password_changed"
) -> None:
    """Store a new password and end every login session of this therapist but `keep`. The caller commits."""
    therapist.password_hash = hash_password(new_password)
    logins.end_all(therapist, reason, keep=keep)


def set_calendar_delivery(therapist: Therapist, choice: str) -> None:
    """Email invites or the feed for the therapist's own copies; clients always get theirs by email."""
    if choice not in (CalendarDelivery.EMAIL, CalendarDelivery.FEED):
        raise Invalid("Choose email invites or the subscription feed.")
    therapist.calendar_delivery = choice
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
    db.session.add(
        PasswordReset(therapist_id=therapist.id, token_hash=_hash(token), expires_at=utcnow() + RESET_VALID_FOR)
    )
    db.session.commit()
    return therapist, token


def ask_for_reset(email: str) -> None:
    """The forgot-password form: the same quick answer for any address; the link is made and sent after it."""
    background.later(send_reset_link, email)


def reset_url(token: str) -> str:
    """The reset page's address as the outside world reaches it (also from the command line)."""
    return links.external_url("auth.reset_password", token=token)


def send_reset_link(email: str) -> None:
    """Email a reset link if the address has an account; say nothing either way."""
    if started := start_reset(email):
        therapist, token = started
        link = reset_url(token)
        message = mail.compose(
            sender_name="Hearth",
            to=(therapist.name, therapist.email),
            subject="Reset your Hearth password",
            template="password_reset",
            context={"therapist": therapist, "link": link},
        )
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
    change_password(reset.therapist, new_password, reason="password_reset")
    return reset.therapist


INVITATION_VALID_FOR = timedelta(days=7)


def invite(therapist: Therapist) -> str:
    """A new single-use signup link's token, for a colleague while signups are closed."""
    token = links.new_token()
    db.session.add(
        Invitation(therapist_id=therapist.id, token_hash=_hash(token), expires_at=utcnow() + INVITATION_VALID_FOR)
    )
    activity.record(therapist, "invitation_made", commit=False)
    db.session.commit()
    return token


def find_invitation(token: str | None) -> Invitation | None:
    """The unused, unexpired invitation this token opens."""
    if not token:
        return None
    invitation = db.session.scalar(select(Invitation).filter_by(token_hash=_hash(token)))
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= utcnow():
        return None
    return invitation
