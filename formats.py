"""How times and zones read on screens and in emails. Zone names come from Babel (CLDR), not from zone IDs."""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timezone
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

import flask_babel
from babel import Locale
from babel.dates import (
    format_date,
    format_time,
    get_datetime_format,
    get_timezone_location,
    get_timezone_name,
    match_skeleton,
)

DEFAULT_LOCALE = "en"


@cache
def canonical_zones() -> tuple[str, ...]:
    """The zones tzdata's zone.tab lists (one per country and region, no deprecated aliases such as
    Asia/Calcutta), plus UTC."""
    table = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    zones = {line.split("\t")[2] for line in table.splitlines() if line and not line.startswith("#")}
    return tuple(sorted(zones | {"UTC"}))


@cache
def zone_name(zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """ "Central European Time (Prague)", "Central Time (Chicago)": the zone's name and its city."""
    if zone == "UTC":
        return "Coordinated Universal Time (UTC)"
    try:
        name = get_timezone_name(zone, locale=locale)
        city = get_timezone_location(zone, locale=locale, return_city=True)
    except (LookupError, ValueError):
        return zone
    # CLDR has no name for some newer IDs and falls back to "Argentina (Argentina/Buenos Aires) Time".
    name = re.sub(r" \([^)]*/[^)]*\)", "", name)
    city = city.rsplit("/", 1)[-1].replace("_", " ")
    return f"{name} ({city})"


@cache
def zone_city(zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """ "Prague time", "New York time": the short form for a subject line, where the full name is too long."""
    if zone == "UTC":
        return "UTC"
    try:
        city = get_timezone_location(zone, locale=locale, return_city=True)
    except (LookupError, ValueError):
        return zone
    return f"{city.rsplit('/', 1)[-1].replace('_', ' ')} time"


# Times and dates in the reader's locale: the order of day and month, 12- or 24-hour clocks, the words.

LOCALES = (
    "en_GB",
    "en_US",
    "en_CA",
    "en_AU",
    "en_IE",
    "de_DE",
    "de_AT",
    "de_CH",
    "fr_FR",
    "fr_CA",
    "es_ES",
    "es_MX",
    "it_IT",
    "nl_NL",
    "pt_PT",
    "pt_BR",
    "pl_PL",
    "cs_CZ",
    "sk_SK",
    "sv_SE",
    "da_DK",
    "nb_NO",
    "fi_FI",
)
FALLBACK = "en_GB"  # when neither the account nor the browser says

# Templates and emails pass these patterns (the ones Hearth used before locales) as names of Babel formats:
# a CLDR date skeleton, and whether the time carries seconds. No pattern is applied as written.
FORMATS = {
    "%a %-d %b %Y, %H:%M": ("yMMMEd", "short"),
    "%a %-d %b, %H:%M": ("MMMEd", "short"),
    "%a %-d %b %H:%M": ("MMMEd", "short"),
    "%-d %b %Y, %H:%M": ("yMMMd", "short"),
    "%-d %b %Y, %H:%M:%S": ("yMMMd", "medium"),
    "%-d %b, %H:%M": ("MMMd", "short"),
    "%A %-d %B": ("MMMMEEEEd", None),
    "%a %H:%M": ("E", "short"),
    "%H:%M": (None, "short"),
    # Dates without a time (the week's days)
    "%a %-d %b": ("MMMEd", None),
    "%a %-d %b %Y": ("yMMMEd", None),
    "%-d %B %Y": ("yMMMMd", None),
}

_forced: ContextVar[str | None] = ContextVar("hearth_locale", default=None)


def supported(tag: str | None) -> str | None:
    """The supported locale a stored or typed tag names ("en-us" and "en_US" alike), else None."""
    if not tag:
        return None
    wanted = tag.replace("-", "_").lower()
    return next((code for code in LOCALES if code.lower() == wanted), None)


def current_locale() -> str:
    """The locale times are written in now: an email's recipient's, else the request's (Flask-Babel)."""
    if forced := _forced.get():
        return forced
    try:
        locale = flask_babel.get_locale()
    except (RuntimeError, KeyError):  # no app or request: a CLI command, a domain test
        locale = None
    return str(locale) if locale else FALLBACK


@contextmanager
def writing_for(locale: str | None):
    """Write times for someone else (an email's recipient) inside the block."""
    token = _forced.set(supported(locale) or current_locale())
    try:
        yield
    finally:
        _forced.reset(token)


def select_locale() -> str:
    """Flask-Babel's locale selector: the therapist's choice, else the browser's Accept-Language, else FALLBACK."""
    from flask import request
    from flask_login import current_user

    if current_user and current_user.is_authenticated and supported(getattr(current_user, "locale", None)):
        return supported(current_user.locale)
    return browser_locale(request.accept_languages) or FALLBACK


def browser_locale(accept_languages) -> str | None:
    """The first supported locale the browser asks for; a bare language ("de") takes its first region."""
    for tag, _quality in accept_languages:
        if code := supported(tag):
            return code
        language = tag.split("-")[0].split("_")[0].lower()
        if code := next((c for c in LOCALES if c.split("_")[0] == language), None):
            return code
    return None


def local_time(moment: datetime, zone: ZoneInfo, fmt: str, locale: str | None = None) -> str:
    """An aware or zone-converted moment in `locale` (default: the current one), in one of FORMATS; a trailing
    " %Z" adds the zone's abbreviation (CEST), which says which of a twice-happening time is meant."""
    if moment.tzinfo is None:  # Babel and `astimezone` would each guess a zone for it, and differently
        raise ValueError(f"A moment needs its zone: {moment!r}")
    # Cached by the instant in UTC: an aware datetime in `zone` compares by wall clock, which a fold would confuse.
    return _local_time(moment.astimezone(timezone.utc), zone, fmt, locale or current_locale())


@lru_cache(maxsize=4096)  # pure; a screen writes the same few times on every request
def _local_time(moment: datetime, zone: ZoneInfo, fmt: str, locale: str) -> str:
    if fmt.endswith(" %Z"):
        return f"{_local_time(moment, zone, fmt[:-3], locale)} {moment.astimezone(zone):%Z}"
    babel_locale = _babel_locale(locale)
    skeleton, time_width = FORMATS.get(fmt, FORMATS["%a %-d %b %Y, %H:%M"])
    time_text = format_time(moment, time_width, tzinfo=zone, locale=babel_locale) if time_width else None
    date_text = (
        format_date(moment.astimezone(zone).date(), _pattern(skeleton, locale), locale=babel_locale)
        if skeleton
        else None
    )
    if date_text is None or time_text is None:
        return date_text or time_text
    glue = get_datetime_format("medium", locale=babel_locale).replace("'", "")
    return glue.replace("{1}", date_text).replace("{0}", time_text)


@lru_cache(maxsize=64)
def _babel_locale(locale: str) -> Locale:
    """Babel's Locale for a tag, parsed once per process rather than on every call that formats with it."""
    return Locale.parse(locale)


def day(value: date, fmt: str = "%a %-d %b", locale: str | None = None) -> str:
    """A calendar date (no time, no zone) in the locale, in one of FORMATS: "Tue 3 Mar", "Tue, Mar 3"."""
    locale = locale or current_locale()
    return format_date(value, _pattern(FORMATS.get(fmt, FORMATS["%a %-d %b"])[0], locale), locale=locale)


@lru_cache(maxsize=512)
def _pattern(skeleton: str, locale: str) -> str:
    """The locale's pattern for a CLDR skeleton. Babel picks the nearest skeleton but keeps its field widths, so
    "EEEE" (Tuesday) would come out as "Tue" where the locale has no full-weekday pattern: widen it as ICU does."""
    skeletons = _babel_locale(locale).datetime_skeletons
    pattern = skeletons[skeleton if skeleton in skeletons else match_skeleton(skeleton, skeletons)].pattern
    if "EEEE" in skeleton and not re.search("EEEE|cccc", pattern):
        pattern = re.sub(r"E+|c+", lambda field: field.group()[0] * 4, pattern)  # c: a stand-alone weekday (fi)
    return pattern


def first_weekday(locale: str | None = None) -> int:
    """The day a week starts on in the locale, as date.weekday() counts: 0 (Monday, en_GB, cs) or 6 (Sunday, en_US)."""
    return Locale.parse(locale or current_locale()).first_week_day


def clock(moment: datetime | time, locale: str | None = None) -> str:
    """A wall-clock time already in the viewer's zone ("14:00", "2:00 PM") in the locale's short format: what
    the Today and week screens compute once per row. Cached, as a day has few distinct times."""
    return _clock(moment.hour, moment.minute, locale or current_locale())


@lru_cache(maxsize=4096)
def _clock(hour: int, minute: int, locale: str) -> str:
    return format_time(time(hour, minute), "short", locale=locale)


def locale_label(code: str) -> str:
    """ "English (United States) · Tue, Jun 1, 2027, 3:00 PM": a locale's name in its own words, with a sample."""
    sample = datetime(2027, 6, 1, 15, 0, tzinfo=ZoneInfo("UTC"))
    name = Locale.parse(code).get_display_name(code)
    return f"{name[:1].upper()}{name[1:]} · {local_time(sample, ZoneInfo('UTC'), '%a %-d %b %Y, %H:%M', code)}"
