"""Unguessable tokens and slugs for room links, personal links and feeds; whether links can be opened at all."""

import ipaddress
import re
import secrets
import unicodedata
from urllib.parse import quote, urlsplit, urlunsplit

from slugify import slugify

TOKEN_BYTES = 24  # 192 bits, above the 128-bit floor
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")
SLUG_SUFFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def external_url(endpoint: str, **values) -> str:
    """An absolute link into Hearth for an email, an invite or a copy field, built from the URL map with the
    scheme, host and path of PUBLIC_URL: the same in a request, after the answer, and in the worker."""
    from flask import current_app

    public = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(public.netloc, script_name=public.path or "/", url_scheme=public.scheme)
    return adapter.build(endpoint, values, force_external=True)


def new_token() -> str:
    """A URL-safe random token for a link that must not be guessable."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def default_slug(name: str) -> str:
    """A personal-link slug from the name plus a random suffix, so the name alone does not find it."""
    suffix = "".join(secrets.choice(SLUG_SUFFIX_ALPHABET) for _ in range(8))
    base = slugify(name, max_length=30, word_boundary=True) or "room"
    return f"{base}-{suffix}"


def slug_problem(slug: str) -> str | None:
    """Why a slug cannot be used, or None when its form is fine (uniqueness is checked elsewhere)."""
    if not 3 <= len(slug) <= 40:
        return "Use 3 to 40 characters."
    if not SLUG_PATTERN.match(slug) or "--" in slug:
        return "Use lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
    return None


LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def unreachable_host(public_url: str) -> str | None:
    """The host of PUBLIC_URL when clients elsewhere cannot open it (loopback, private, link-local), else None."""
    host = urlsplit(public_url).hostname or ""
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: whether it resolves publicly is for DNS to say
    if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
        return host
    return None


def local_path(target: str | None) -> str | None:
    """`target` as a path on this site ("/sessions/?x=1"), or None when it could lead anywhere else.

    Control characters are removed first, as browsers do, so "/\t/evil.example" cannot become
    "//evil.example" after the check; then only a path starting with a single "/" is accepted.
    """
    cleaned = "".join(char for char in target or "" if unicodedata.category(char)[0] not in "CZ" or char == " ").strip()
    if "\\" in cleaned:  # browsers read a backslash as a slash
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    # Percent-encode what a Location header cannot carry (spaces, non-ASCII), keeping what is already encoded.
    return urlunsplit(
        ("", "", quote(parts.path, safe="/%:@!$&'()*+,;=-._~"), quote(parts.query, safe="/%:@!$&'()*+,;=-._~?"), "")
    )
