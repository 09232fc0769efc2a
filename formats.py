"""How times and zones read on screens and in emails. Zone names come from Babel (CLDR), not from zone IDs."""
from __future__ import annotations

import re
from functools import cache
from importlib import resources

from babel.dates import get_timezone_location, get_timezone_name

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
