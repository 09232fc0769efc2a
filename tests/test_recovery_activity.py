"""Forgot password, and the activity log."""

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from conftest import PASSWORD, login
from extensions import db
from models import PasswordReset


def reset_link(inbox) -> str:
    (message,) = inbox.to("dana@example.com")
    return re.search(r"http://[^/\s]+(/reset-password/[\w-]+)", message.get_body(("plain",)).get_content()).group(1)


def test_the_answer_is_the_same_whether_or_not_the_email_exists(client, therapist, smtp):
    pages = [
        client.post("/forgot-password", {"email": email}).get_data(as_text=True)
        for email in ("dana@example.com", "nobody@example.com")
    ]
    assert all("If an account exists for that address" in page for page in pages)

    def without_tokens(page: str) -> str:  # CSRF tokens carry a timestamp; everything else must match
        return re.sub(r'(value="|"X-CSRFToken": ")[^"]+"', "", page)

    assert without_tokens(pages[0]) == without_tokens(pages[1])
    assert len(smtp.messages) == 1


def test_reset_link_works_once_and_only_its_hash_is_stored(app, client, therapist, smtp):
    client.post("/forgot-password", {"email": "DANA@example.com"})
    link = reset_link(smtp)
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(select(PasswordReset))
    assert stored.token_hash != token and token not in stored.token_hash and len(stored.token_hash) == 64

    other_device = client.__class__(app.test_client())
    login(other_device)
    response = client.post(link, {"password": "a fresh passphrase", "confirm": "a fresh passphrase"})
    assert response.status_code == 303
    assert other_device.get("/sessions/").status_code == 302  # every session ended
    assert login(client, password="a fresh passphrase").status_code == 303
    assert client.get(link).status_code == 404  # used up
    assert "no longer valid" in client.get(link).get_data(as_text=True)


def test_reset_link_expires_after_an_hour(client, therapist, smtp):
    client.post("/forgot-password", {"email": "dana@example.com"})
    link = reset_link(smtp)
    stored = db.session.scalar(select(PasswordReset))
    stored.expires_at -= timedelta(hours=1, seconds=1)
    db.session.commit()
    assert client.get(link).status_code == 404
    assert login(client).status_code == 303  # the old password still works


def test_reset_refuses_a_weak_password_and_changes_nothing(client, therapist, smtp):
    client.post("/forgot-password", {"email": "dana@example.com"})
    response = client.post(reset_link(smtp), {"password": "password123", "confirm": "password123"})
    assert response.status_code == 422 and "too common" in response.get_data(as_text=True)
    assert login(client, password=PASSWORD).status_code == 303


def test_forgot_password_is_rate_limited(client, therapist):
    for _ in range(5):
        assert client.post("/forgot-password", {"email": "dana@example.com"}).status_code == 200
    assert client.post("/forgot-password", {"email": "dana@example.com"}).status_code == 429


def test_activity_log_records_changes_and_exports_csv(logged_in):
    logged_in.post("/clients/", {"add-name": "=Jane Doe", "add-email": "jane@example.com"})
    logged_in.post("/account/profile", {"name": "Dana W", "email": "dana@example.com", "timezone": "Europe/Prague"})
    page = logged_in.get("/account/activity").get_data(as_text=True)
    for words in ("Logged in", "Client added", "Profile changed", "127.0.0.1"):
        assert words in page
    response = logged_in.get("/account/activity.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["time_utc", "ip", "action", "detail"]
    assert [row[2] for row in rows[1:]] == ["Logged in", "Client added", "Profile changed"]
    assert rows[2][3] == "'=Jane Doe"  # no formula runs when the file is opened in a spreadsheet


def test_activity_log_has_no_way_to_edit(app):
    for rule in app.url_map.iter_rules():
        if "activity" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}
