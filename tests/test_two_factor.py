"""Two-factor login with TOTP: setup, login with a code, recovery codes, turning it off, REQUIRE_2FA, limits."""

import re
import time

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import security
from conftest import PASSWORD, HearthClient, login
from extensions import db
from models import Activity, RecoveryCode, Therapist


def secret_on_page(page: str) -> str:
    return re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)


def codes_on_page(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page)


def start_setup(client) -> str:
    response = client.post("/account/security/two-factor/start", {})
    assert response.status_code == 303
    return secret_on_page(client.get("/account/security").get_data(as_text=True))


def enable(client) -> tuple[str, list[str]]:
    """Turn two-factor login on as a person would; the secret and the recovery codes shown once."""
    secret = start_setup(client)
    # A code from the step before: login codes (the current step) stay unused for the tests that follow.
    response = client.post("/account/security/two-factor", {"code": pyotp.TOTP(secret).at(time.time() - 30)})
    assert response.status_code == 200
    return secret, codes_on_page(response.get_data(as_text=True))


def actions() -> list[str]:
    return list(db.session.scalars(select(Activity.action).order_by(Activity.id)))


def dana() -> Therapist:
    db.session.expire_all()
    return db.session.scalar(select(Therapist))


def password_step(client, **kwargs):
    client.forget_csrf()
    return client.post("/login", {"email": "dana@example.com", "password": PASSWORD}, **kwargs)


def test_setup_shows_a_csp_safe_qr_code_and_the_secret(logged_in):
    secret = start_setup(logged_in)
    page = logged_in.get("/account/security").get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", page, re.DOTALL).group(0)
    assert 'role="img"' in svg and "<title>" in svg
    assert "style" not in svg and "<script" not in svg  # the CSP forbids inline style and script
    assert len(secret) == 32
    assert dana().totp_secret is None  # nothing is on until a code confirms the app works


def test_setup_needs_a_valid_code(logged_in):
    secret = start_setup(logged_in)
    response = logged_in.post("/account/security/two-factor", {"code": "123456"})
    assert response.status_code == 422 and "This code is not right" in response.get_data(as_text=True)
    assert dana().totp_secret is None
    setup_code = pyotp.TOTP(secret).now()
    response = logged_in.post("/account/security/two-factor", {"code": setup_code})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Two-factor login is on" in page and "shown only now" in page
    assert dana().totp_secret == secret
    # The code that confirmed the setup is spent: someone who saw it cannot log in with it.
    logged_in.post("/logout", {})
    password_step(logged_in)
    logged_in.forget_csrf()
    assert logged_in.post("/login/code", {"code": setup_code}).status_code == 422
    assert actions()[:4] == ["login", "two_factor_setup_started", "two_factor_failed", "two_factor_enabled"]


def test_recovery_codes_are_ten_hashed_shown_once_and_downloadable(logged_in):
    _, codes = enable(logged_in)
    assert len(codes) == len(set(codes)) == 10
    stored = list(db.session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert not any(code.replace("-", "") in hashed for code in codes for hashed in stored)
    assert codes_on_page(logged_in.get("/account/security").get_data(as_text=True)) == []  # never shown again
    assert "10 of 10 recovery codes are unused" in logged_in.get("/account/security").get_data(as_text=True)

    download = logged_in.post("/account/security/recovery-codes.txt", {"code": codes})
    assert download.mimetype == "text/plain" and "attachment" in download.headers["Content-Disposition"]
    assert all(code in download.get_data(as_text=True) for code in codes)
    assert db.session.scalar(select(Activity).filter_by(action="recovery_codes_downloaded")) is not None
    # The download only echoes the therapist's own unused codes, never made-up text.
    assert (
        logged_in.post("/account/security/recovery-codes.txt", {"code": ["aaaaa-bbbbb", "<script>"]}).status_code == 404
    )


def test_login_asks_for_the_code_after_the_password(app, client, therapist):
    login(client)
    client.forget_csrf()
    secret, _ = enable(client)
    client.post("/logout", {})

    response = password_step(client)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login/code")
    assert client.get("/clients/").status_code == 302  # the password alone opens nothing
    client.forget_csrf()
    wrong = client.post("/login/code", {"code": "000000"})
    assert wrong.status_code == 422 and "This code is not right" in wrong.get_data(as_text=True)
    code = pyotp.TOTP(secret).now()
    response = client.post("/login/code", {"code": code})
    assert response.status_code == 303 and response.headers["Location"] == "/sessions/today"
    assert client.get("/clients/").status_code == 200
    login_entry = db.session.scalars(select(Activity).filter_by(action="login").order_by(Activity.id.desc())).first()
    assert login_entry.detail == "with an app code"

    # The same code cannot be used twice, even for a new login within its 30 seconds.
    other = HearthClient(app.test_client())
    password_step(other)
    other.forget_csrf()
    assert other.post("/login/code", {"code": code}).status_code == 422


def test_recovery_code_works_once_then_is_refused(app, logged_in):
    _, codes = enable(logged_in)
    logged_in.post("/logout", {})
    password_step(logged_in)
    logged_in.forget_csrf()
    response = logged_in.post("/login/code", {"code": codes[3].upper().replace("-", " ")})  # typed loosely
    assert response.status_code == 303
    assert "9 are left" in logged_in.get("/sessions/today").get_data(as_text=True)
    login_entry = db.session.scalars(select(Activity).filter_by(action="login").order_by(Activity.id.desc())).first()
    assert login_entry.detail == "with a recovery code"
    logged_in.forget_csrf()
    logged_in.post("/logout", {})

    password_step(logged_in)
    logged_in.forget_csrf()
    again = logged_in.post("/login/code", {"code": codes[3]})
    assert again.status_code == 422
    assert logged_in.get("/clients/").status_code == 302
    assert logged_in.post("/login/code", {"code": codes[4]}).status_code == 303


def test_the_code_step_expires_after_five_minutes(logged_in, monkeypatch):
    secret, _ = enable(logged_in)
    logged_in.post("/logout", {})
    now = time.time()
    monkeypatch.setattr(security, "_now", lambda: now)
    password_step(logged_in)
    monkeypatch.setattr(security, "_now", lambda: now + 5 * 60 + 1)
    logged_in.forget_csrf()
    response = logged_in.post("/login/code", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert logged_in.get("/clients/").status_code == 302


def test_code_page_without_a_password_step_sends_to_login(client):
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_eleventh_wrong_code_answers_429_from_any_address(app, logged_in):
    enable(logged_in)
    logged_in.post("/logout", {})
    for attempt in range(10):
        browser = HearthClient(app.test_client())
        browser.client.environ_base["REMOTE_ADDR"] = f"203.0.113.{attempt}"
        password_step(browser)
        browser.forget_csrf()
        assert browser.post("/login/code", {"code": "000000"}).status_code == 422, attempt
    browser = HearthClient(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = "198.51.100.1"
    password_step(browser)
    browser.forget_csrf()
    response = browser.post("/login/code", {"code": "111111"})
    assert response.status_code == 429 and "Too many attempts" in response.get_data(as_text=True)
    assert "an hour" in response.get_data(as_text=True)
    assert actions().count("two_factor_failed") == 10


def test_wrong_codes_at_setup_and_at_turning_off_count_against_the_same_limit(logged_in):
    start_setup(logged_in)
    for _ in range(5):
        assert logged_in.post("/account/security/two-factor", {"code": "000000"}).status_code == 422
    secret, _ = enable(logged_in)  # a right code costs nothing
    for _ in range(5):
        wrong = logged_in.post("/account/security/two-factor/off", {"password": PASSWORD, "code": "123456"})
        assert wrong.status_code == 422
    code = pyotp.TOTP(secret).now()
    response = logged_in.post("/account/security/two-factor/off", {"password": PASSWORD, "code": code})
    assert response.status_code == 429 and "Too many attempts" in response.get_data(as_text=True)
    assert dana().two_factor  # still on: the eleventh try is refused whatever it holds


def test_wrong_recovery_codes_count_against_the_same_limit(app, logged_in):
    enable(logged_in)
    logged_in.post("/logout", {})
    password_step(logged_in)
    logged_in.forget_csrf()
    for _ in range(10):
        assert logged_in.post("/login/code", {"code": "aaaaa-bbbbb"}).status_code == 422
    assert logged_in.post("/login/code", {"code": "aaaaa-ccccc"}).status_code == 429


def test_turning_it_off_needs_the_password_and_a_code(logged_in):
    secret, _ = enable(logged_in)
    code = pyotp.TOTP(secret).now()
    wrong_password = logged_in.post("/account/security/two-factor/off", {"password": "not my password", "code": code})
    assert wrong_password.status_code == 422 and "This is not your password." in wrong_password.get_data(as_text=True)
    wrong_code = logged_in.post("/account/security/two-factor/off", {"password": PASSWORD, "code": "123456"})
    assert wrong_code.status_code == 422 and "This code is not right" in wrong_code.get_data(as_text=True)
    assert dana().two_factor
    response = logged_in.post("/account/security/two-factor/off", {"password": PASSWORD, "code": code})
    assert response.status_code == 303
    assert not dana().two_factor
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert actions()[-3:] == ["two_factor_failed", "two_factor_failed", "two_factor_disabled"]
    # Logging in asks for the password only again.
    logged_in.post("/logout", {})
    assert password_step(logged_in).headers["Location"] == "/sessions/today"


def test_require_2fa_makes_setup_mandatory_at_the_next_login(app, client, therapist):
    app.config["REQUIRE_2FA"] = True
    login(client)
    client.forget_csrf()
    for path in ("/clients/", "/sessions/", "/account/profile", "/outbox/"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/security"), path
    assert "requires two-factor login" in client.get("/account/security").get_data(as_text=True)
    assert client.post("/clients/", {"add-name": "Jane Doe"}).status_code == 302  # nothing else may be done
    enable(client)
    assert client.get("/clients/").status_code == 200
    client.post("/logout", {})
    assert password_step(client).headers["Location"].startswith("/login/code")


def test_require_2fa_comes_from_the_environment(tmp_path, monkeypatch):
    import config

    assert config.from_environment(str(tmp_path))["REQUIRE_2FA"] is False
    monkeypatch.setenv("REQUIRE_2FA", "1")
    assert config.from_environment(str(tmp_path))["REQUIRE_2FA"] is True


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "x" * 21])
def test_malformed_codes_get_a_message_and_change_nothing(logged_in, code):
    start_setup(logged_in)
    response = logged_in.post("/account/security/two-factor", {"code": code})
    assert response.status_code == 422
    assert dana().totp_secret is None


def test_the_code_step_keeps_where_the_therapist_was_going(logged_in):
    secret, _ = enable(logged_in)
    logged_in.post("/logout", {})
    logged_in.forget_csrf()
    response = logged_in.post("/login?next=/clients/", {"email": "dana@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/login/code?next=/clients/"
    logged_in.forget_csrf()
    response = logged_in.post("/login/code?next=/clients/", {"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"] == "/clients/"


codes = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", " ", "\x00", "１２３４５６", "000000", "aaaaa-bbbbb", "12345678901234567890x", "%FF", "<script>"]
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(code=codes)
def test_no_code_input_makes_a_500_or_turns_anything_on(logged_in, code):
    start_setup(logged_in)
    response = logged_in.post("/account/security/two-factor", {"code": code})
    assert response.status_code in (422, 429)
    assert dana().totp_secret is None and db.session.scalars(select(RecoveryCode)).all() == []
