"""Checks shared by forms and domain functions: emails, time zones, passwords, plain text."""
import unicodedata
import zoneinfo
from functools import cache

from email_validator import EmailNotValidError, validate_email
from formats import canonical_zones
from zxcvbn.frequency_lists import FREQUENCY_LISTS

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
    """The normalised form of an email address, or Invalid with the reason."""
    address = (address or "").strip()
    if len(address) > EMAIL_MAX:
        raise Invalid(f"An email address has at most {EMAIL_MAX} characters.")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise Invalid(str(error)) from None


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


def check_text(value: str, *, multiline: bool = False) -> str:
    """Refuse control characters and undecodable bytes (which arrive as U+FFFD)."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for char in value:
        if char == "\ufffd" or (unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"} and char not in allowed):
            raise Invalid("This contains characters that cannot be used here.")
    return value
