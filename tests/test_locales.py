"""Dates and times in the reader's locale (Babel through Flask-Babel): the therapist's choice in Profile, else the
browser's Accept-Language; a client's emails in the client's locale, else the therapist's."""

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import clients
import formats
from dates import PLAIN_TUESDAY
from extensions import db
from models import OutboxMessage, Therapist

DAY = PLAIN_TUESDAY.isoformat()
MOMENT = datetime(2027, 6, 1, 13, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "locale, expected",
    [
        ("en_GB", "Tue, 1 Jun 2027, 15:00"),
        ("en_US", "Tue, Jun 1, 2027, 3:00\u202fPM"),
        ("de_DE", "Di., 1. Juni 2027, 15:00"),
        ("cs_CZ", "út 1. 6. 2027 15:00"),
    ],
)
def test_date_order_and_clock_follow_the_locale(locale, expected):
    assert formats.local_time(MOMENT, ZoneInfo("Europe/Prague"), "%a %-d %b %Y, %H:%M", locale) == expected


def test_formatted_times_are_remembered_by_instant_so_a_time_that_happens_twice_keeps_its_abbreviation():
    """local_time caches what it wrote. Two instants an hour apart read 02:30 in Prague on the night the clocks go
    back; as aware datetimes in that zone they compare equal, so the cache must tell them apart by the instant."""
    prague = ZoneInfo("Europe/Prague")
    summer = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc).astimezone(prague)
    winter = datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc).astimezone(prague)
    assert summer == winter and hash(summer) == hash(winter)  # the same wall clock, an hour apart
    fmt = "%a %-d %b %Y, %H:%M %Z"
    assert formats.local_time(summer, prague, fmt, "en_GB") == "Sun, 25 Oct 2026, 02:30 CEST"
    assert formats.local_time(winter, prague, fmt, "en_GB") == "Sun, 25 Oct 2026, 02:30 CET"
    assert formats.local_time(summer, prague, fmt, "en_US") == "Sun, Oct 25, 2026, 2:30\u202fAM CEST"


def test_the_browser_language_decides_until_the_therapist_chooses(logged_in):
    us = {"Accept-Language": "en-US,en;q=0.9"}
    page = logged_in.get("/account/activity", headers=us).get_data(as_text=True)
    assert re.search(r"\w{3} \d+, \d{4}, \d+:\d\d:\d\d\u202f[AP]M", page)  # the login entry, US style
    assert formats.browser_locale([("de", 1)]) == "de_DE" and formats.browser_locale([("xx", 1)]) is None
    logged_in.post(
        "/account/profile",
        {"name": "Dana Whitfield", "email": "dana@example.com", "timezone": "Europe/Prague", "locale": "de_DE"},
    )
    assert db.session.scalar(select(Therapist)).locale == "de_DE"
    page = logged_in.get("/account/activity", headers=us).get_data(as_text=True)
    assert re.search(r"\d+\. \w+\.? \d{4}, \d\d:\d\d:\d\d", page) and "\u202fPM" not in page


def test_an_unknown_locale_is_refused_with_a_message(logged_in):
    response = logged_in.post(
        "/account/profile",
        {"name": "Dana Whitfield", "email": "dana@example.com", "timezone": "Europe/Prague", "locale": "xx_XX"},
        htmx=True,
    )
    assert response.status_code == 422 and "Choose formats from the list." in response.get_data(as_text=True)


def test_a_clients_emails_use_the_clients_locale_else_the_therapists(logged_in):
    dana = db.session.scalar(select(Therapist))
    dana.locale = "en_US"
    jane = clients.add(dana, name="Jane Doe", email="jane@example.com", timezone="Europe/Prague", locale="de_DE")
    mark = clients.add(dana, name="Mark Twain", email="mark@example.com", timezone="Europe/Prague")
    form = {"date": DAY, "start_time": "14:00", "length": "50"}
    logged_in.post("/sessions/book", {**form, "client": str(jane.id), "booking_key": "k1"})
    logged_in.post("/sessions/book", {**form, "client": str(mark.id), "start_time": "16:00", "booking_key": "k2"})
    subjects = {m.recipient: m.subject for m in db.session.scalars(select(OutboxMessage))}
    assert "Di., " in subjects["jane@example.com"] and ", 14:00" in subjects["jane@example.com"]
    assert "4:00 PM" in subjects["mark@example.com"]  # the therapist's formats (a header: spaces are plain)
    page = logged_in.get(f"/clients/{jane.id}/edit").get_data(as_text=True)
    assert '<option selected value="de_DE">Deutsch (Deutschland) · Di., 1. Juni 2027, 15:00</option>' in page


@pytest.mark.parametrize(
    "locale, first_weekday, full, short",
    [
        ("en_GB", 0, "Tuesday 1 June", "Tue 1 Jun"),
        ("en_US", 6, "Tuesday, June 1", "Tue, Jun 1"),
        ("cs_CZ", 0, "úterý 1. června", "út 1. 6."),
        ("fi_FI", 0, "tiistai 1. kesäkuuta", "ti 1.6."),
    ],
)
def test_days_and_the_first_day_of_the_week_follow_the_locale(locale, first_weekday, full, short):
    """The week view's words: a whole weekday even where the locale has no pattern with one (Babel keeps the
    nearest pattern's "Tue"), and Monday or Sunday first."""
    day = MOMENT.date()
    assert formats.day(day, "%A %-d %B", locale) == full and formats.day(day, "%a %-d %b", locale) == short
    assert formats.first_weekday(locale) == first_weekday
