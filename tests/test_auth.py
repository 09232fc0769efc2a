"""Sign up, log in, log out, rate limits, CSRF and the logged-in pages."""

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD, login
from extensions import db
from models import Therapist

SIGNUP = {
    "name": "Dana Whitfield",
    "email": "Dana.Whitfield@Example.com",
    "password": PASSWORD,
    "confirm": PASSWORD,
    "timezone": "Europe/Prague",
}


def therapist_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Therapist))


def test_landing_page_offers_sign_up_and_log_in(client):
    page = client.get("/").get_data(as_text=True)
    assert "Sign up" in page and "Log in" in page


def test_signup_creates_a_therapist_who_can_then_log_in(client):
    response = client.post("/signup", SIGNUP)
    assert response.status_code == 303 and response.headers["Location"] == "/signup/done"
    assert "Log in" in client.get("/signup/done").get_data(as_text=True)
    therapist = db.session.scalar(select(Therapist))
    assert therapist.email == "Dana.Whitfield@example.com"
    assert therapist.email_key == "dana.whitfield@example.com"
    assert therapist.password_hash.startswith("$argon2id$")
    assert login(client, email="dana.whitfield@example.com").status_code == 303
    client.forget_csrf()
    shell = client.get("/clients/").get_data(as_text=True)
    assert "Dana Whitfield" in shell and "Account Settings" in shell and "New Session" in shell


@pytest.mark.parametrize("email", ["dana.whitfield@example.com", "DANA.WHITFIELD@EXAMPLE.COM"])
def test_duplicate_email_in_any_case_makes_no_second_account_and_answers_alike(client, email):
    first = client.post("/signup", SIGNUP)
    other = client.__class__(client.client.application.test_client())
    response = other.post("/signup", {**SIGNUP, "email": email})
    assert (response.status_code, response.headers["Location"]) == (first.status_code, first.headers["Location"])
    assert therapist_count() == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": ""}, "Enter name."),
        ({"name": "x" * 201}, "Use at most 200 characters."),
        ({"email": "dana@"}, "There must be something after the @-sign."),
        ({"email": "a" * 250 + "@example.com"}, "Use at most 254 characters."),
        ({"password": "short", "confirm": "short"}, "Use at least 10 characters."),
        ({"password": "password123", "confirm": "password123"}, "too common"),
        ({"confirm": "something else entirely"}, "The passwords do not match."),
        ({"timezone": "Mars/Olympus_Mons"}, "Choose a time zone from the list"),
        ({"name": "Dana\x00"}, "characters that cannot be used"),
    ],
)
def test_bad_signup_input_gets_a_message_and_changes_nothing(client, change, message):
    response = client.post("/signup", {**SIGNUP, **change})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert therapist_count() == 0


def test_non_utf8_bytes_get_a_message_not_a_500(client):
    body = (
        b"csrf_token="
        + client.csrf_token().encode()
        + b"&name=Dana%FF%FE&email=dana%40example.com&password=correct+horse+battery&confirm=correct+horse+battery&timezone=UTC"
    )
    response = client.open("/signup", method="POST", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422
    assert "characters that cannot be used" in response.get_data(as_text=True)
    assert therapist_count() == 0


def test_login_and_logout(client, therapist):
    response = login(client, email="DANA@example.com")
    assert response.status_code == 303
    assert client.get("/account/profile").status_code == 200
    client.forget_csrf()
    assert client.post("/logout", {}).status_code == 303
    assert client.get("/account/profile").status_code == 302


def test_remember_me_sets_a_lasting_cookie(client, therapist):
    client.forget_csrf()
    client.post("/login", {"email": "dana@example.com", "password": PASSWORD, "remember": "y"})
    assert client.client.get_cookie("remember_token") is not None


def test_wrong_password_says_only_that_email_or_password_is_incorrect(client, therapist):
    for email in ("dana@example.com", "nobody@example.com"):
        response = login(client, email=email, password="not the password")
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "Email or password is incorrect." in page
        assert "no account" not in page.lower()


def test_eleventh_bad_login_from_one_ip_answers_429(client, therapist):
    for attempt in range(10):
        assert login(client, email=f"person{attempt}@example.com", password="wrong password").status_code == 422
    response = login(client, email="another@example.com", password="wrong password")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_eleventh_bad_login_for_one_email_answers_429_from_any_ip(client, therapist):
    for attempt in range(10):
        env = {"REMOTE_ADDR": f"203.0.113.{attempt}"}
        assert login_from(client, env).status_code == 422
    assert login_from(client, {"REMOTE_ADDR": "198.51.100.7"}).status_code == 429


def login_from(client, environ):
    return client.open(
        "/login",
        method="POST",
        data={"email": "Dana@example.com", "password": "wrong password", "csrf_token": client.csrf_token()},
        environ_base=environ,
    )


def test_post_without_csrf_token_answers_400_and_changes_nothing(client):
    response = client.post("/signup", SIGNUP, csrf=False)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert therapist_count() == 0


def test_profile_changes_name_email_and_time_zone(logged_in):
    response = logged_in.post(
        "/account/profile", {"name": "Dana W.", "email": "dana.w@example.com", "timezone": "Asia/Tokyo"}, htmx=True
    )
    assert response.status_code == 200
    assert "Profile saved." in response.get_data(as_text=True)
    therapist = db.session.scalar(select(Therapist))
    assert (therapist.name, therapist.email_key, therapist.timezone) == ("Dana W.", "dana.w@example.com", "Asia/Tokyo")


def test_profile_refuses_an_email_in_use_and_unknown_zone(logged_in, other_therapist):
    response = logged_in.post(
        "/account/profile", {"name": "Dana", "email": "OLGA@example.com", "timezone": "Europe/Prague"}, htmx=True
    )
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    response = logged_in.post(
        "/account/profile", {"name": "Dana", "email": "dana@example.com", "timezone": "Nowhere"}, htmx=True
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com")).timezone == "Europe/Prague"


def test_password_change_needs_the_current_password_and_ends_other_sessions(app, logged_in):
    other_device = logged_in.__class__(app.test_client())
    login(other_device)
    assert other_device.get("/account/profile").status_code == 200

    wrong = logged_in.post(
        "/account/security/password",
        {"current_password": "nope nope nope", "new_password": "a brand new phrase", "confirm": "a brand new phrase"},
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.get_data(as_text=True)

    right = logged_in.post(
        "/account/security/password",
        {"current_password": PASSWORD, "new_password": "a brand new phrase", "confirm": "a brand new phrase"},
    )
    assert right.status_code == 303
    assert logged_in.get("/account/profile").status_code == 200  # this session goes on
    assert other_device.get("/account/profile").status_code == 302  # the other one has ended
    assert login(other_device, password="a brand new phrase").status_code == 303


def test_settings_tabs_answer_a_fragment_to_htmx_and_a_page_otherwise(logged_in):
    full = logged_in.get("/account/security").get_data(as_text=True)
    fragment = logged_in.get("/account/security", htmx=True).get_data(as_text=True)
    assert "<html" in full and "Account Settings" in full
    assert "<html" not in fragment and "Change password" in fragment and "Signed-in devices" in fragment
    assert "Change password" not in logged_in.get("/account/profile").get_data(as_text=True)  # moved to Security


def logged_in_pages(app):
    """Every GET page behind login, generated from the URL map so a new one cannot be missed."""
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint.split(".")[0] in {"account", "clients"}:
            yield rule.build({name: 1 for name in rule.arguments})[1]


def test_every_logged_in_page_redirects_to_login_when_logged_out(app, client):
    pages = list(logged_in_pages(app))
    assert "/account/profile" in pages and "/clients/" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"], path


def test_login_next_only_goes_to_paths_on_this_site(client, therapist):
    client.forget_csrf()
    response = client.post("/login?next=//evil.example.com/", {"email": "dana@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/sessions/today"
