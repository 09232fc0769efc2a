"""Time zones by name and city; the picker offers canonical zones only."""

import re

import formats
from conftest import login, make_therapist


def test_zone_names_read_as_name_and_city():
    assert formats.zone_name("America/Chicago") == "Central Time (Chicago)"
    assert formats.zone_name("Europe/Prague") == "Central European Time (Prague)"
    assert formats.zone_name("America/Argentina/Buenos_Aires") == "Argentina Time (Buenos Aires)"
    assert formats.zone_name("UTC") == "Coordinated Universal Time (UTC)"


def test_the_picker_lists_canonical_zones_by_name(logged_in):
    page = logged_in.get("/account/profile").get_data(as_text=True)
    options = re.findall(r'<option (?:selected )?value="([^"]+)">([^<]+)</option>', page)
    options = [(value, label) for value, label in options if value not in formats.LOCALES]  # the zone picker's
    values = [value for value, _ in options]
    assert ("Asia/Kolkata", "India Time (Kolkata)") in options and "Asia/Calcutta" not in values
    assert "US/Eastern" not in values and "Europe/Oslo" in values and "UTC" in values
    assert len(values) < 430
    assert "data-zone-picker" in page


def test_a_deprecated_zone_already_chosen_stays_chosen(app, client):
    make_therapist(email="old@example.com", timezone="Asia/Calcutta")
    login(client, email="old@example.com")
    page = client.get("/account/profile").get_data(as_text=True)
    assert '<option selected value="Asia/Calcutta">' in page
