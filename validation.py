"""Checks shared by forms and domain functions: emails, time zones, passwords, plain text."""

import unicodedata
import zoneinfo
from functools import cache

from email_validator import EmailNotValidError, validate_email
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from formats import canonical_zones

PASSWORD_MIN = 10
PASSWORD_MAX = 128
NAME_MAX = 200
EMAIL_MAX = 254


class Invalid(ValueError):
    """A value a person typed that cannot be used; the message is shown beside the field."""


@cache
def _all_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_choices() -> list[str]:
    """IANA zone names offered in time zone pickers: canonical ones only (any known zone is still accepted)."""
    return list(canonical_zones())


def check_timezone(name: str) -> str:
    """Return the zone name if it is a known IANA zone, else raise Invalid."""
    name = (name or "").strip()
    if name not in _all_zones():
        raise Invalid("Choose a time zone from the list (an IANA name such as Europe/Prague).")
    return name


def normalise_email(address: str) -> str:
    """The normalised form of an email address, or Invalid with the reason.

    Hearth must be able to put the address in a mail header: a non-ASCII domain goes there as IDNA
    (see ascii_email), but a non-ASCII part before the @ would need SMTPUTF8 everywhere on the way.
    """
    address = (address or "").strip()
    if len(address) > EMAIL_MAX:
        raise Invalid(f"An email address has at most {EMAIL_MAX} characters.")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise Invalid(str(error)) from None
    if result.ascii_email is None:
        raise Invalid(
            "Use an address whose part before the @ has only plain letters (a–z), digits and . _ + -: "
            "many mail servers cannot deliver to accented letters there, so invites would not arrive."
        )
    if len(result.ascii_email) > EMAIL_MAX:
        raise Invalid(
            f"An email address has at most {EMAIL_MAX} characters (counted as mail servers spell the domain)."
        )
    return result.normalized


def ascii_email(address: str) -> str:
    """The address as it goes into mail headers and mailto: URIs: the domain in IDNA (xn--) form.

    Raises Invalid for an address that cannot be written in ASCII (refused by normalise_email, so
    only data stored before that check can get here).
    """
    if address.isascii():
        return address
    try:
        ascii_form = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError as error:
        raise Invalid(str(error)) from None
    if ascii_form is None:
        raise Invalid(f"{address} cannot be written in a mail header (accented letters before the @).")
    return ascii_form


def email_key(address: str) -> str:
    """The case-insensitive key under which an address is unique."""
    return address.lower()


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str) -> str:
    """Return the password if it meets the policy, else raise Invalid."""
    if len(password) < PASSWORD_MIN:
        raise Invalid(f"Use at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise Invalid(f"Use at most {PASSWORD_MAX} characters.")
    if password.lower() in _common_passwords():
        raise Invalid("This password is too common. Choose one that is harder to guess.")
    return password


# Control and format characters, surrogates, private use, and the line and paragraph separators
# (U+2028/2029), which Python's header folding and some calendar parsers treat as line breaks.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def _noncharacter(char: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE...)."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def check_text(value: str, *, multiline: bool = False) -> str:
    """Refuse control characters, line separators, noncharacters and undecodable bytes (U+FFFD)."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for char in value:
        if char in allowed:
            continue
        if char == "\ufffd" or _noncharacter(char) or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise Invalid("This contains characters that cannot be used here.")
    return value


def check_name(value: str) -> str:
    """A person's name, which goes into mail headers: plain text and no encoded-word sequences."""
    check_text(value)
    # "=?" starts an RFC 2047 encoded-word (=?charset?q?text?=); no real name needs it.
    if "=?" in value:
        raise Invalid("A name cannot contain “=?” … “?=” sequences (mail software would read them as encoded text).")
    return value
