"""The Outbox shows each kept message as its recipient would see it; the HTML part is framed, sandboxed and
served under a CSP that allows nothing but inline styles and data: images."""

import re
from datetime import time as clock

import pytest
from sqlalchemy import select

import booking
import clients
import invites
from dates import PLAIN_TUESDAY
from extensions import db
from models import OutboxMessage, Therapist


@pytest.fixture
def kept(logged_in):
    dana = db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com"))
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    invites.send(booking.book(dana, jane, booking.slot(dana, PLAIN_TUESDAY, clock(14, 0), 50)))
    return db.session.scalar(select(OutboxMessage).filter_by(recipient="jane@example.com"))


def test_the_outbox_lists_subjects_that_open_the_message(logged_in, kept):
    page = logged_in.get("/outbox/").get_data(as_text=True)
    assert f'<a href="/outbox/{kept.id}">{kept.subject}</a>' in page


def test_a_kept_message_shows_its_headers_and_frames_its_html_in_a_sandbox(logged_in, kept):
    page = logged_in.get(f"/outbox/{kept.id}").get_data(as_text=True)
    assert f">{kept.subject}</h1>" in page
    assert "<dt>From</dt><dd>Dana Whitfield via Hearth &lt;" in page
    assert "<dt>To</dt><dd>Jane Doe &lt;jane@example.com&gt;</dd>" in page
    assert "<dt>Reply to</dt><dd>Dana Whitfield &lt;dana@example.com&gt;</dd>" in page
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert f'src="/outbox/{kept.id}/message.html"' in frame and 'sandbox=""' in frame
    assert f'href="/outbox/{kept.id}.eml"' in page and f'href="/outbox/{kept.id}/invite.ics"' in page


def test_the_html_part_is_served_under_a_csp_that_allows_only_styles_and_images(logged_in, kept):
    response = logged_in.get(f"/outbox/{kept.id}/message.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Hello Jane" in response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    assert "frame-ancestors 'self'" in csp and response.headers["X-Frame-Options"] == "SAMEORIGIN"
    # Every other page still refuses to be framed at all.
    assert logged_in.get(f"/outbox/{kept.id}").headers["X-Frame-Options"] == "DENY"


def test_a_message_without_html_shows_its_text(logged_in, kept):
    from email.message import EmailMessage

    text_only = EmailMessage()
    text_only["Subject"], text_only["To"] = "Plain", "jane@example.com"
    text_only.set_content("Plain words only.")
    kept.raw = text_only.as_bytes()
    db.session.commit()
    page = logged_in.get(f"/outbox/{kept.id}").get_data(as_text=True)
    assert '<pre class="mail-text">Plain words only.' in page and "<iframe" not in page
    assert logged_in.get(f"/outbox/{kept.id}/message.html").status_code == 404
