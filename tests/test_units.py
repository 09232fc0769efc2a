"""Fast unit tests: passwords, emails, time zones, text checks, links, config."""

import math
import string

import pytest

import config
import links
from accounts import hasher
from validation import Invalid, check_password, check_text, check_timezone, normalise_email


def test_passwords_are_hashed_with_argon2id_at_or_above_owasp_minimum():
    encoded = hasher.hash("a long enough passphrase")
    assert encoded.startswith("$argon2id$")
    params = dict(part.split("=") for part in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2
    assert hasher.verify(encoded, "a long enough passphrase")


@pytest.mark.parametrize(
    "password, message",
    [
        ("short", "at least 10"),
        ("x" * 129, "at most 128"),
        ("1234567890", "too common"),
        ("Password123", "too common"),
    ],
)
def test_password_policy_refuses_short_long_and_common(password, message):
    with pytest.raises(Invalid, match=message):
        check_password(password)


def test_password_policy_accepts_a_passphrase():
    assert check_password("quiet harbour lantern") == "quiet harbour lantern"


def test_email_is_normalised():
    assert normalise_email("  Jane.Doe@EXAMPLE.com ") == "Jane.Doe@example.com"


@pytest.mark.parametrize("address", ["", "jane", "jane@example", "jane@@example.com", "a" * 250 + "@example.com"])
def test_malformed_email_is_refused(address):
    with pytest.raises(Invalid):
        normalise_email(address)


def test_known_time_zone_is_accepted_and_unknown_refused():
    assert check_timezone("America/New_York") == "America/New_York"
    with pytest.raises(Invalid, match="time zone"):
        check_timezone("Mars/Olympus_Mons")


@pytest.mark.parametrize("value", ["bad\x00byte", "bell\x07", "undecodable \ufffd", "bidi\u202e"])
def test_control_characters_are_refused(value):
    with pytest.raises(Invalid):
        check_text(value)


def test_newlines_are_fine_in_multiline_text():
    assert check_text("line one\nline two", multiline=True)


def test_tokens_carry_at_least_128_bits():
    tokens = {links.new_token() for _ in range(200)}
    assert len(tokens) == 200
    alphabet = set().union(*tokens)
    # URL-safe base64 only, and 200 tokens use (nearly) all 64 symbols: each one carries 6 bits.
    assert alphabet <= set(string.ascii_letters + string.digits + "-_") and len(alphabet) >= 60
    assert all(len(token) * math.log2(64) >= 128 for token in tokens)


def test_default_slug_has_the_name_and_an_unguessable_suffix():
    first, second = links.default_slug("Dana Whitfield"), links.default_slug("Dana Whitfield")
    assert first.startswith("dana-whitfield-") and first != second
    assert links.slug_problem(first) is None


@pytest.mark.parametrize("slug", ["ab", "a" * 41, "has space", "Upper", "-edge", "edge-", "dou--ble", "ünï"])
def test_bad_slugs_are_refused(slug):
    assert links.slug_problem(slug)


def test_config_defaults(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_URL", "MAIL_SERVER", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = config.from_environment(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'hearth.db'}"
    assert settings["PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert settings["MAIL_SERVER"] is None
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"
    assert settings["SESSION_COOKIE_HTTPONLY"] and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not settings["SESSION_COOKIE_SECURE"]
    # The generated secret is kept in instance/ and reused.
    assert len(settings["SECRET_KEY"]) >= 32
    assert config.from_environment(str(tmp_path))["SECRET_KEY"] == settings["SECRET_KEY"]


def test_config_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://user@db.example.com/hearth")
    monkeypatch.setenv("PUBLIC_URL", "https://hearth.example.com/")
    settings = config.from_environment(str(tmp_path))
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://user@db.example.com/hearth"
    assert settings["PUBLIC_URL"] == "https://hearth.example.com"
    assert settings["SESSION_COOKIE_SECURE"] and settings["REMEMBER_COOKIE_SECURE"]


def test_compiled_templates_are_kept_on_disk_for_the_next_worker(tmp_path):
    from app import create_app

    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "JINJA_CACHE_DIR": str(tmp_path / "jinja")}
    create_app(settings).jinja_env.get_template("errors/error.html")
    kept = list((tmp_path / "jinja").iterdir())
    assert kept  # the first process compiled and stored the template
    later = create_app(settings).jinja_env
    loaded = []
    original = later.bytecode_cache.load_bytecode
    later.bytecode_cache.load_bytecode = lambda bucket: (original(bucket), loaded.append(bucket.code))[0]
    later.get_template("errors/error.html")
    assert loaded and loaded[0] is not None  # a new process loads it instead of compiling


def test_a_sqlite_database_runs_in_wal_and_syncs_every_commit(tmp_path):
    """WAL (a commit appends to the log) with synchronous=FULL (and syncs it: a booking whose invites went out
    survives a power loss)."""
    from sqlalchemy import create_engine, text

    import database  # noqa: F401  (registers the connect hook)

    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    memory = create_engine("sqlite://")  # no WAL in memory
    with memory.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "memory"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    memory.dispose()
