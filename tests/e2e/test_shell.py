"""A new therapist signs up, finds their way around the shell and Account Settings, and logs out."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from extensions import db
from models import Therapist
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def test_sign_up_change_time_zone_and_log_out(page, screenshot):
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    # The browser's zone (the context runs in Europe/Prague) is preselected.
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Prague")
    page.get_by_label("Name").fill("Dana Whitfield")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Password", exact=True).fill("quiet harbour lantern")
    page.get_by_label("Confirm password").fill("quiet harbour lantern")
    page.get_by_role("button", name="Sign up").click()
    # The same answer for any address (it tells no one who has an account); then a normal login.
    expect(page.get_by_role("heading", name="Your account is ready")).to_be_visible()
    page.get_by_role("link", name="Log in").last.click()
    log_in(page, password="quiet harbour lantern")

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Clients")).to_be_visible()
    expect(nav.get_by_role("link", name="Sessions")).to_be_visible()
    expect(nav.get_by_role("button", name="New Session")).to_be_visible()
    screenshot("shell")

    nav.get_by_role("button", name="Dana Whitfield").click()
    expect(page.get_by_role("link", name="Account Settings")).to_be_visible()
    screenshot("name-menu")
    page.get_by_role("link", name="Account Settings").click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()

    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    screenshot("profile-saved")
    db.session.expire_all()
    assert db.session.scalar(select(Therapist)).timezone == "America/New_York"

    page.get_by_role("button", name="Dana Whitfield").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.goto("/account/profile")
    expect(page.get_by_role("heading", name="Log in to Hearth")).to_be_visible()


def test_settings_tabs_swap_in_place_and_push_the_url(page, therapist):
    log_in(page)
    page.goto("/account/profile")
    page.get_by_role("link", name="Personal Link").click()
    expect(page.get_by_role("heading", name="Personal Link")).to_be_focused()
    assert page.url.endswith("/account/personal-link")
    expect(page.get_by_role("link", name="Personal Link")).to_have_attribute("aria-current", "page")
    page.reload()
    expect(page.get_by_role("heading", name="Personal Link")).to_be_visible()


def test_the_zone_picker_puts_the_browsers_zone_first_and_finds_a_city(page, therapist):
    log_in(page)
    page.goto("/account/profile")
    picker = page.get_by_label("Time zone", exact=True)
    assert picker.locator("option").first.get_attribute("value") == "Europe/Prague"  # the context's zone
    expect(picker.locator("option").first).to_have_text("Central European Time (Prague)")
    page.get_by_label("Find a zone by city").fill("chicago")
    expect(picker).to_have_value("America/Chicago")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(select(Therapist)).timezone == "America/Chicago"


def test_an_unconfirmed_therapist_sees_why_invites_wait_in_the_outbox(app, page, smtp, screenshot):
    from conftest import make_therapist

    make_therapist(confirmed=False)
    log_in(page)
    banner = page.get_by_role("region", name="Confirm your email address")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("keeps session invites in your Outbox")
    screenshot("confirm-banner")
    banner.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text("We sent a new confirmation link to dana@example.com.")).to_be_visible()
    assert len(smtp.to("dana@example.com")) == 1


def test_closed_signups_and_an_invitation_link_from_account_settings(app, therapist, new_page, tmp_path):
    app.config["SIGNUP"] = "closed"
    colleague = new_page()
    colleague.goto("/signup")
    expect(colleague.get_by_role("heading", name="Signups are closed")).to_be_visible()

    page = new_page()
    log_in(page)
    page.goto("/account/invitations")
    page.get_by_role("button", name="Make an invitation link").click()
    link = page.get_by_label("Invitation link")
    expect(link).to_have_value(re.compile(r"/signup\?invite="))
    page.screenshot(path=str(tmp_path / "invitation.png"), full_page=True)

    colleague.goto(link.input_value())
    expect(colleague.get_by_role("heading", name="Create your Hearth account")).to_be_visible()
    colleague.get_by_label("Name").fill("Olga Novak")
    colleague.get_by_label("Email").fill("olga@example.com")
    colleague.get_by_label("Password", exact=True).fill("quiet harbour lantern")
    colleague.get_by_label("Confirm password").fill("quiet harbour lantern")
    colleague.get_by_role("button", name="Sign up").click()
    expect(colleague.get_by_role("heading", name="Your account is ready")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(select(Therapist).filter_by(email_key="olga@example.com")) is not None
