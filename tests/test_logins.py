"""Login sessions on the server: Log out, idle and absolute expiry, remember-me, devices, recovery without mail."""

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import security
from conftest import PASSWORD, HearthClient, dump, login
from extensions import db
from models import Activity, LoginSession, OutboxMessage, PasswordReset

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"


def remembered_login(client, **kwargs):
    client.forget_csrf()
    response = client.post("/login", {"email": "dana@example.com", "password": PASSWORD, "remember": "y"}, **kwargs)
    assert response.status_code == 303
    client.forget_csrf()
    return response


def device(app, user_agent=FIREFOX, ip="203.0.113.9") -> HearthClient:
    """Another browser: its own cookies, its own address and User-Agent."""
    other = HearthClient(app.test_client())
    other.client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": ip})
    return other


def cookie(client, name):
    found = client.client.get_cookie(name)
    return found.value if found else None


def only_cookie(app, name, value) -> HearthClient:
    """A fresh browser holding just one copied cookie, as someone who took it would."""
    other = HearthClient(app.test_client())
    other.client.set_cookie(name, value)
    return other


def rows() -> list[LoginSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(LoginSession).order_by(LoginSession.id)))


def test_every_login_is_a_row_with_device_details(app, client, therapist):
    client.client.environ_base.update({"HTTP_USER_AGENT": FIREFOX, "REMOTE_ADDR": "198.51.100.4"})
    remembered_login(client)
    (row,) = rows()
    assert (row.therapist_id, row.ip, row.user_agent, row.remember) == (therapist.id, "198.51.100.4", FIREFOX, True)
    assert row.remember_until - row.created_at == timedelta(days=30)
    assert row.ended_at is None
    # The cookie names the row; nothing in it names the therapist alone.
    assert client.get("/clients/").status_code == 200


def test_remember_me_then_log_out_deletes_the_cookie_and_logs_out(app, client, therapist):
    remembered_login(client)
    remember = cookie(client, "remember_token")
    assert remember is not None
    # Without the session cookie (browser closed and reopened), remember-me brings the login back.
    assert only_cookie(app, "remember_token", remember).get("/clients/").status_code == 200

    response = client.post("/logout", {})
    assert response.status_code == 303
    assert cookie(client, "remember_token") is None  # deleted by the response
    assert "remember_token=;" in response.headers.get("Set-Cookie", "") or any(
        h.startswith("remember_token=;") for h in response.headers.getlist("Set-Cookie")
    )
    assert client.get("/clients/").status_code == 302
    # A copy of the remember-me cookie kept from before opens nothing: its row has ended.
    assert only_cookie(app, "remember_token", remember).get("/clients/").status_code == 302
    assert rows()[0].ended_reason == "logout"


def test_idle_expiry_ends_a_remembered_login_too(app, client, therapist, monkeypatch):
    now = time.time()
    monkeypatch.setattr(security, "_now", lambda: now)
    remembered_login(client)
    remember = cookie(client, "remember_token")
    monkeypatch.setattr(security, "_now", lambda: now + 31 * 60)
    response = client.get("/clients/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/signed-out")
    assert cookie(client, "remember_token") is None
    assert client.get("/clients/").status_code == 302  # and the next request does not log in again
    assert only_cookie(app, "remember_token", remember).get("/clients/").status_code == 302
    assert rows()[0].ended_reason == "idle"


def test_a_remembered_login_still_ends_12_hours_after_login(app, client, therapist, monkeypatch):
    now = time.time()
    monkeypatch.setattr(security, "_now", lambda: now)
    remembered_login(client)
    remember = cookie(client, "remember_token")
    for minutes in range(20, 12 * 60, 20):
        monkeypatch.setattr(security, "_now", lambda m=minutes: now + m * 60)
        assert client.get("/clients/").status_code == 200
    monkeypatch.setattr(security, "_now", lambda: now + 12 * 3600 + 60)
    assert only_cookie(app, "remember_token", remember).get("/clients/").status_code == 302
    assert client.get("/clients/").status_code == 302
    assert rows()[0].ended_reason == "lifetime"


def test_the_remember_me_lifetime_is_configured(app, client, therapist):
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=7)
    remembered_login(client)
    assert rows()[0].remember_until - rows()[0].created_at == timedelta(days=7)
    expires = client.client.get_cookie("remember_token").expires
    assert (
        timedelta(days=6, hours=23)
        < expires - rows()[0].created_at.replace(tzinfo=expires.tzinfo)
        <= timedelta(days=7, minutes=1)
    )


def test_remember_days_comes_from_the_environment(tmp_path, monkeypatch):
    import config

    assert config.from_environment(str(tmp_path))["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)
    monkeypatch.setenv("REMEMBER_DAYS", "3")
    assert config.from_environment(str(tmp_path))["REMEMBER_COOKIE_DURATION"] == timedelta(days=3)


def test_a_session_cookie_replayed_after_logout_is_refused_and_changes_nothing(app, logged_in):
    stolen = cookie(logged_in, "session")
    token = logged_in.csrf_token()
    logged_in.post("/logout", {})
    before = dump()
    replay = only_cookie(app, "session", stolen)
    for path in ("/clients/", "/outbox/", "/account/security"):
        response = replay.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    response = replay.post("/account/calendar/replace", {"csrf_token": token}, csrf=False)
    assert response.status_code in (302, 400)
    assert dump() == before  # no new feed link, no activity entry, no refreshed "last seen"


def test_sign_out_another_device(app, therapist):
    laptop, phone = device(app, FIREFOX, "203.0.113.9"), device(app, SAFARI, "10.0.0.7")
    login(laptop)
    login(phone)
    assert phone.get("/clients/").status_code == 200
    page = laptop.get("/account/security").get_data(as_text=True)
    assert "Firefox on Windows" in page and "Safari on iPhone" in page and "Local network" in page
    assert "This device" in page and "Sign out everywhere else" in page

    phone_row = next(row for row in rows() if row.user_agent == SAFARI)
    laptop.forget_csrf()
    response = laptop.post(f"/account/security/devices/{phone_row.id}/sign-out", {})
    assert response.status_code == 303
    assert "Safari on iPhone is signed out." in laptop.get("/account/security").get_data(as_text=True)
    assert phone.get("/clients/").status_code == 302  # logged out at its next request
    assert laptop.get("/clients/").status_code == 200
    assert "Signed out a device" in laptop.get("/account/activity").get_data(as_text=True)


def test_sign_out_everywhere_else_keeps_only_this_device(app, therapist):
    laptop, phone, tablet = (
        device(app),
        device(app, SAFARI),
        device(app, "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"),
    )
    for each in (laptop, phone, tablet):
        login(each)
    laptop.forget_csrf()
    assert laptop.post("/account/security/devices/sign-out-others", {}).status_code == 303
    assert [each.get("/clients/").status_code for each in (laptop, phone, tablet)] == [200, 302, 302]
    assert [row.ended_reason for row in rows()] == [None, "signed_out", "signed_out"]


def test_signing_out_this_device_from_the_list_logs_out(app, logged_in):
    (row,) = rows()
    response = logged_in.post(f"/account/security/devices/{row.id}/sign-out", {})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert logged_in.get("/clients/").status_code == 302


def test_an_ended_device_cannot_be_signed_out_again(app, logged_in):
    phone = device(app, SAFARI)
    login(phone)
    phone_row = rows()[1]
    assert logged_in.post(f"/account/security/devices/{phone_row.id}/sign-out", {}).status_code == 303
    assert logged_in.post(f"/account/security/devices/{phone_row.id}/sign-out", {}).status_code == 404


def test_password_change_ends_the_other_rows_and_keeps_this_one(app, logged_in):
    phone = device(app, SAFARI)
    login(phone)
    response = logged_in.post(
        "/account/security/password",
        {"current_password": PASSWORD, "new_password": "a brand new phrase", "confirm": "a brand new phrase"},
    )
    assert response.status_code == 303
    assert [row.ended_reason for row in rows()] == [None, "password_changed"]
    assert phone.get("/clients/").status_code == 302 and logged_in.get("/clients/").status_code == 200


def test_eleventh_wrong_current_password_answers_429_from_any_address(app, therapist):
    devices = [device(app, ip=f"203.0.113.{n}") for n in range(3)]
    for each in devices:
        login(each)
        each.forget_csrf()
    wrong = {"current_password": "not it at all", "new_password": "a brand new phrase", "confirm": "a brand new phrase"}
    for attempt in range(10):
        response = devices[attempt % 3].post("/account/security/password", wrong)
        assert response.status_code == 422, attempt
    response = devices[0].post("/account/security/password", wrong)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    # Even the right password waits: the budget is the account's.
    right = {**wrong, "current_password": PASSWORD}
    assert devices[1].post("/account/security/password", right).status_code == 429


def test_weak_new_passwords_do_not_use_up_the_wrong_password_budget(logged_in):
    weak = {"current_password": PASSWORD, "new_password": "password123", "confirm": "password123"}
    for _ in range(11):
        assert logged_in.post("/account/security/password", weak).status_code == 422


def test_cli_reset_link_works_once(app, client, therapist):
    other = device(app)
    login(other)
    result = app.test_cli_runner().invoke(args=["reset-password", "DANA@Example.com"])
    assert result.exit_code == 0, result.output
    link = re.search(r"http://127\.0\.0\.1:5000(/reset-password/\S+)", result.output).group(1)
    assert "valid once for one hour" in result.output
    assert client.get(link).status_code == 200
    response = client.post(link, {"password": "a fresh passphrase", "confirm": "a fresh passphrase"})
    assert response.status_code == 303
    assert other.get("/clients/").status_code == 302  # every device signed out
    assert rows()[0].ended_reason == "password_reset"
    assert login(client, password="a fresh passphrase").status_code == 303
    assert client.get(link).status_code == 404  # used up
    client.forget_csrf()
    assert client.post(link, {"password": "another passphrase", "confirm": "another passphrase"}).status_code == 404


def test_cli_reset_for_an_unknown_email_says_so(app, therapist):
    result = app.test_cli_runner().invoke(args=["reset-password", "nobody@example.com"])
    assert result.exit_code == 1 and "No account uses the email nobody@example.com" in result.output
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 0


def test_forgot_password_with_delivery_off_tells_the_truth_for_any_email(client, therapist):
    assert "Email delivery is off on this server" in client.get("/forgot-password").get_data(as_text=True)
    pages = [
        client.post("/forgot-password", {"email": email}).get_data(as_text=True)
        for email in ("dana@example.com", "nobody@example.com")
    ]

    def without_tokens(page: str) -> str:
        return re.sub(r'(value="|"X-CSRFToken": ")[^"]+"', "", page)

    assert "Email delivery is off on this server: ask the person who runs it for a reset link" in pages[0]
    assert "we have sent" not in pages[0]
    assert without_tokens(pages[0]) == without_tokens(pages[1])
    # Nothing was made that no one could reach: no reset link, no outbox message.
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_outbox_offers_an_ics_only_for_messages_with_one(logged_in, therapist):
    import clients

    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    logged_in.post(
        "/sessions/book",
        {"client": str(jane.id), "date": "2030-06-04", "start_time": "14:00", "length": "50", "booking_key": "k1"},
    )
    plain = OutboxMessage(
        therapist_id=therapist.id,
        recipient="dana@example.com",
        subject="Reset your Hearth password",
        raw=b"From: a@example.com\r\nSubject: Reset\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
    )
    db.session.add(plain)
    db.session.commit()
    page = logged_in.get("/outbox/").get_data(as_text=True)
    assert page.count("Invite (.ics)") == 2 and page.count("Email (.eml)") == 3
    assert f"/outbox/{plain.id}/invite.ics" not in page
    response = logged_in.get(f"/outbox/{plain.id}/invite.ics")
    assert response.status_code == 404 and "This message holds no invite" in response.get_data(as_text=True)


def test_logout_is_in_the_activity_log(logged_in):
    logged_in.post("/logout", {})
    actions = list(db.session.scalars(select(Activity.action).order_by(Activity.id)))
    assert actions == ["login", "logout"]


@pytest.mark.parametrize(
    "agent, name",
    [
        (FIREFOX, "Firefox on Windows"),
        (SAFARI, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.0", "Unknown browser"),
        ("", "Unknown browser"),
    ],
)
def test_device_names(agent, name):
    import logins

    assert logins.device_name(agent) == name


def test_the_login_and_its_therapist_load_in_one_statement(client, therapist):
    """Every logged-in request runs this: the therapist comes joined to the login session, not by a second query."""
    from test_queries import counting

    import logins

    login(client)
    token = db.session.scalars(select(LoginSession.token)).one()
    db.session.expunge_all()
    with counting() as statements:
        row = logins.find(token)
        assert row.therapist.email == "dana@example.com"
    assert len(statements) == 1


def test_a_logged_in_page_view_writes_no_cookie(client, therapist):
    """Nothing changed in the session, so nothing is sent back: no cookie write on every page view."""
    login(client)
    client.get("/clients/")
    for path in ("/clients/", "/sessions/", "/account/profile"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers.getlist("Set-Cookie") == [], path
