"""Issue 15: Hearth cannot be used to phish, flood or probe. Hostile input, redirects, caching, limits, uniform answers."""

import json
import os
import re
import secrets
import subprocess
import sys
from datetime import time, timedelta

import pytest
from sqlalchemy import select

import booking
import clients
from conftest import PASSWORD, ROOT, dump
from dates import PLAIN_TUESDAY
from extensions import db

HUGE = "9" * 309


@pytest.fixture
def jane(therapist):
    return clients.add(therapist, name="Jane Doe", email="jane@example.com", timezone="America/New_York")


@pytest.fixture
def appointment(therapist, jane):
    return booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY + timedelta(days=30), time(9, 0), 50))


# No 500 from hostile input


NOT_PAGES = ["²", "٣", "１２", "𝟗", "1" * 309, "1" * 7, "-1", "0", " ", "1e3", "0x1F", "2 pages", "\u2028"]


@pytest.mark.parametrize("page", NOT_PAGES)
@pytest.mark.parametrize("path", ["/clients/", "/clients/{id}", "/clients/{id}/edit", "/clients/new"])
def test_a_page_number_that_is_not_an_ascii_number_from_1_is_a_400_that_says_so(logged_in, jane, page, path):
    """Every Clients screen draws the paged list, so each reads `page` the same way: no guess, no 500."""
    before = dump()
    for htmx in (False, True):
        response = logged_in.get(path.format(id=jane.id), query_string={"page": page}, htmx=htmx)
        assert response.status_code == 400, (page, htmx)
        text = response.get_data(as_text=True)
        assert "The page number in this address must be a whole number from 1 to 999999" in text
        assert "Jane Doe" not in text
    assert dump() == before


@pytest.mark.parametrize("page", ["1", " 2 ", "999999", ""])
def test_an_ascii_page_number_or_none_shows_the_list(logged_in, jane, page):
    response = logged_in.get("/clients/", query_string={"page": page})
    assert response.status_code == 200
    assert ("Jane Doe" in response.get_data(as_text=True)) == (page.strip() in ("1", ""))


def test_the_second_page_of_clients_is_the_second_fifty(logged_in, therapist, jane):
    for number in range(clients.PAGE_SIZE):
        clients.add(therapist, name=f"Zed {number:02}", email=f"zed{number}@example.com")
    text = logged_in.get("/clients/", query_string={"page": "2"}).get_data(as_text=True)
    assert "Page 2 of 2" in text and "Zed 49" in text and "Jane Doe" not in text


@pytest.mark.parametrize("value", ["²", "٣", "9" * 309, "0", "x"])
def test_a_client_number_in_the_booking_address_that_is_not_one_is_a_400(logged_in, jane, value):
    response = logged_in.get("/sessions/book", query_string={"client": value})
    assert response.status_code == 400
    assert "The client number in this address must be a whole number" in response.get_data(as_text=True)
    assert logged_in.get("/sessions/book", query_string={"client": str(jane.id)}).status_code == 200


@pytest.mark.parametrize("length", [HUGE, "²", "٥٠", "1e3", " "])
def test_a_length_that_is_not_a_short_ascii_number_gets_a_message_on_book_preview_and_reschedule(
    logged_in, jane, appointment, length
):
    fields = {
        "client": jane.id,
        "date": (PLAIN_TUESDAY + timedelta(days=31)).isoformat(),
        "start_time": "10:00",
        "length": length,
    }
    preview = logged_in.get("/sessions/book/preview", query_string=fields, htmx=True)
    assert preview.status_code == 200 and "Enter the length in minutes" in preview.get_data(as_text=True)
    before = dump()
    for url in ("/sessions/book", f"/sessions/{appointment.id}/reschedule"):
        response = logged_in.post(url, {**fields, "version": appointment.sequence}, htmx=True)
        assert response.status_code == 422, url
        assert "Enter the length in minutes" in response.get_data(as_text=True)
    moved = logged_in.get(f"/sessions/{appointment.id}/reschedule/preview", query_string=fields, htmx=True)
    assert moved.status_code == 200 and "Enter the length in minutes" in moved.get_data(as_text=True)
    assert dump() == before


def test_poll_refuses_superscript_digits(logged_in):
    assert logged_in.get("/room/peer/x/poll?after=²").status_code in (400, 404)


def test_a_choice_with_spaces_around_it_is_the_choice(logged_in, appointment, smtp):
    response = logged_in.post(f"/sessions/{appointment.id}/resend", {"send_to": " therapist\n"}, htmx=True)
    assert response.status_code == 200
    assert len(smtp.to("dana@example.com")) == 1 and smtp.to("jane@example.com") == []


def test_preview_answers_404_for_any_client_id_that_is_not_this_therapists(logged_in, other_therapist):
    theirs = clients.add(other_therapist, name="Private Person", email="private@example.com")
    fields = {"date": (PLAIN_TUESDAY + timedelta(days=31)).isoformat(), "start_time": "10:00", "length": "50"}
    answers = []
    for client_id in (theirs.id, theirs.id + 1000, 2**31 - 1):
        response = logged_in.get("/sessions/book/preview", query_string={**fields, "client": client_id}, htmx=True)
        answers.append((response.status_code, response.get_data(as_text=True)))
    assert {status for status, _ in answers} == {404}
    # The same page for all three; its CSRF token carries a timestamp, which may tick between requests.
    pages = {re.sub(r'"X-CSRFToken": "[^"]+"', "TOKEN", page) for _, page in answers}
    assert len(pages) == 1 and "TOKEN" in pages.pop()


# Redirects after login


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/phish",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%E2%80%A8/evil.example",
        "javascript:alert(1)",
        "%20//evil.example",
        "evil.example",
    ],
)
def test_login_next_never_leaves_the_site_and_never_fails(client, therapist, target):
    client.forget_csrf()
    response = client.post(f"/login?next={target}", {"email": "dana@example.com", "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sessions/today"


@pytest.mark.parametrize(
    "target, location",
    [
        ("/clients/%3Fq%3Dx", "/clients/?q=x"),
        ("/clients/%3Fq%3DJ%25C3%25A4ne", "/clients/?q=J%C3%A4ne"),
        ("/clients/%3Fq%3DJ%C3%A4ne", "/clients/?q=J%C3%A4ne"),
        ("/account/profile", "/account/profile"),
    ],
)
def test_login_next_keeps_a_path_on_this_site(client, therapist, target, location):
    client.forget_csrf()
    response = client.post(f"/login?next={target}", {"email": "dana@example.com", "password": PASSWORD})
    assert response.headers["Location"] == location


# Caching


def test_no_store_on_every_route_but_static_files_generated_from_the_url_map(
    app, logged_in, therapist, jane, appointment
):
    from test_security import build, routes

    import invites
    from models import OutboxMessage

    invites.send(appointment)  # into the Outbox: no mail server
    message = db.session.scalar(select(OutboxMessage))
    ids = {"client_id": jane.id, "appointment_id": appointment.id, "message_id": message.id, "participant_id": 1}
    checked = set()
    for rule, method in routes(app):
        if rule.endpoint in ("static", "vendor.static", "auth.logout"):
            continue
        response = logged_in.open(
            build(rule, ids),
            method=method,
            headers={"X-CSRFToken": logged_in.csrf_token()},
            data={} if method == "POST" else None,
        )
        assert "no-store" in response.headers.get("Cache-Control", ""), (method, rule, response.status_code)
        checked.add(rule.endpoint)
    assert {
        "sessions.download_ics",
        "outbox.download_eml",
        "account.activity_csv",
        "clients.show",
        "rooms.client_page",
    } <= checked
    assert "no-store" not in logged_in.get("/static/hearth.css").headers.get("Cache-Control", "")


# Limits keyed on the account, however its address is spelled

SPELLINGS = [
    "dana@example.com",
    "DANA@Example.com",
    "dana@ｅxample.com",
    " dana@EXAMPLE.COM ",
    "dana@ｅｘａｍｐｌｅ.com",
]


def post_from(client, url, data, ip):
    return client.open(
        url, method="POST", data={**data, "csrf_token": client.csrf_token()}, environ_base={"REMOTE_ADDR": ip}
    )


def test_fullwidth_and_other_spellings_share_one_login_count(client, therapist):
    for attempt in range(10):
        email = SPELLINGS[attempt % len(SPELLINGS)]
        assert (
            post_from(
                client, "/login", {"email": email, "password": "wrong password"}, f"203.0.113.{attempt}"
            ).status_code
            == 422
        )
    # Even the right password, under yet another spelling and from a new address, waits now.
    response = post_from(client, "/login", {"email": "dana@ｅxample.com", "password": PASSWORD}, "198.51.100.7")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_the_fullwidth_spelling_is_the_same_account_when_logging_in(client, therapist):
    assert (
        post_from(client, "/login", {"email": "dana@ｅxample.com", "password": PASSWORD}, "198.51.100.7").status_code
        == 303
    )


def test_reset_requests_share_one_count_per_account_across_spellings_and_addresses(client, therapist):
    for attempt in range(5):
        response = post_from(client, "/forgot-password", {"email": SPELLINGS[attempt]}, f"203.0.113.{attempt}")
        assert response.status_code == 200
    assert post_from(client, "/forgot-password", {"email": "dana@ｅxample.com"}, "198.51.100.7").status_code == 429


def test_reset_requests_are_limited_per_ip_too(client):
    for attempt in range(5):
        assert (
            post_from(client, "/forgot-password", {"email": f"x{attempt}@example.com"}, "203.0.113.9").status_code
            == 200
        )
    assert post_from(client, "/forgot-password", {"email": "y@example.com"}, "203.0.113.9").status_code == 429


def test_signup_is_limited_to_5_an_hour_per_ip(app, client):
    from models import Therapist

    fields = {"name": "Someone", "password": PASSWORD, "confirm": PASSWORD, "timezone": "UTC"}

    def sign_up(number, ip):
        browser = client.__class__(app.test_client())  # a new visitor each time, from the same address
        return post_from(browser, "/signup", {**fields, "email": f"new{number}@example.com"}, ip)

    for attempt in range(5):
        assert sign_up(attempt, "203.0.113.5").status_code == 303
    response = sign_up(5, "203.0.113.5")
    assert response.status_code == 429
    assert len(db.session.scalars(select(Therapist)).all()) == 5
    assert sign_up(6, "203.0.113.6").status_code == 303


def test_the_slug_check_is_limited_like_misses_on_personal_links(logged_in, other_therapist):
    for attempt in range(10):
        response = logged_in.get(
            "/account/personal-link/check", query_string={"slug": f"free-name-{attempt}"}, htmx=True
        )
        assert response.status_code == 200 and "is available" in response.get_data(as_text=True)
    assert (
        logged_in.get(
            "/account/personal-link/check", query_string={"slug": other_therapist.personal_slug}, htmx=True
        ).status_code
        == 429
    )
    assert logged_in.get(f"/u/{other_therapist.personal_slug}x").status_code == 429  # one count with /u/ misses


# Limits shared by every worker through Redis

INSTANCE = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from app import create_app
app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
                  "RATELIMIT_STORAGE_URI": os.environ["RATELIMIT_STORAGE_URI"],
                  "RATELIMIT_KEY_PREFIX": os.environ["RATELIMIT_KEY_PREFIX"]})
browser = app.test_client()
statuses = [browser.post("/login", data={"email": "dana@example.com", "password": "wrong password"},
                         environ_base={"REMOTE_ADDR": f"203.0.113.{attempt}"}).status_code
            for attempt in range(int(sys.argv[1]))]
print(json.dumps(statuses))
"""


@pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"),
    reason="TEST_REDIS_URL is not set (CI sets redis://127.0.0.1:6379/15): the shared-count test needs a real Redis",
)
def test_two_app_instances_share_one_login_count_through_redis(app, therapist):
    import redis

    url = os.environ["TEST_REDIS_URL"]
    prefix = "hearth-test-" + secrets.token_hex(6)  # only this test's keys, removed afterwards

    def instance(attempts: int, storage: str = url) -> list[int]:
        """A separate process with its own app, as a second gunicorn worker or a second server would be."""
        env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": prefix,
        }
        run = subprocess.run(
            [sys.executable, "-c", INSTANCE, str(attempts)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads(run.stdout.strip().splitlines()[-1])

    try:
        assert instance(6) == [422] * 6
        assert instance(5) == [422] * 4 + [429]  # the second instance saw the first one's six failures
        assert instance(1, storage="memory://") == [422]  # without the shared store each process counts alone
    finally:
        store = redis.Redis.from_url(url)
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
