"""Configuration read from the environment, with safe defaults for local use."""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def database_url(url: str) -> str:
    """Accept the common postgres:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(instance_path: str) -> dict:
    """Build the app's settings from environment variables."""
    env = os.environ.get
    public_url = env("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
    https = public_url.startswith("https://")
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(
            env("DATABASE_URL", "sqlite:///" + str(Path(instance_path) / "hearth.db"))
        ),
        "PUBLIC_URL": public_url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        # Under https, the __Host- prefix pins cookies to this host, path / and a secure connection.
        "SESSION_COOKIE_NAME": "__Host-session" if https else "session",
        "REMEMBER_COOKIE_NAME": "__Host-remember_token" if https else "remember_token",
        "IDLE_TIMEOUT": int(env("IDLE_TIMEOUT", str(30 * 60))),  # seconds without a request
        "SESSION_LIFETIME": int(env("SESSION_LIFETIME", str(12 * 3600))),  # seconds after login, at most
        # A remembered login may come back after the browser is closed, for this long at most (and within the limits above).
        "REMEMBER_COOKIE_DURATION": timedelta(days=int(env("REMEMBER_DAYS", "30"))),
        # Operators can make two-factor login mandatory: everyone sets it up at their next login.
        "REQUIRE_2FA": _bool("REQUIRE_2FA"),
        "TRUSTED_PROXIES": int(env("TRUSTED_PROXIES", "0")),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": https,
        "MAIL_SERVER": env("MAIL_SERVER") or None,
        "MAIL_PORT": int(env("MAIL_PORT", "25")),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL"),
        "MAIL_USERNAME": env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "hearth@example.com"),
        "MAIL_SUPPRESS_SEND": False,  # Flask-Mail would otherwise stay silent under TESTING
        "MAIL_TIMEOUT": float(env("MAIL_TIMEOUT", "10")),
        "MAIL_DAILY_CAP": int(env("MAIL_DAILY_CAP", "200")),  # emails a day on behalf of one account
        # open: anyone may create an account; closed: only with an invitation link from a therapist.
        "SIGNUP": "closed" if env("SIGNUP", "open").strip().lower() == "closed" else "open",
        "ICE_SERVERS": json.loads(env("ICE_SERVERS") or "[]"),
        "TURN_URLS": [url.strip() for url in (env("TURN_URLS") or "").split(",") if url.strip()],
        "TURN_SECRET": env("TURN_SECRET") or None,
        "TURN_TTL": int(env("TURN_TTL", "3600")),
        "RATELIMIT_STORAGE_URI": env("RATELIMIT_STORAGE_URI", "memory://"),
        # Background jobs (jobs.py): Redis when REDIS_URL is set, else this SQLite file.
        "REDIS_URL": env("REDIS_URL") or None,
        "HUEY_SQLITE": env("HUEY_SQLITE", str(Path(instance_path) / "huey.db")),
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAX_CONTENT_LENGTH": 1024 * 1024,  # no form or message needs more
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the login session
    }
