"""Logging out on a shared computer, and two-factor login, as a therapist does them in the browser."""

import time

import pyotp
import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser


def reopen(new_page, page):
    """Quit the browser and start it again: session cookies are gone, lasting ones (remember-me) stay."""
    lasting = [cookie for cookie in page.context.cookies() if cookie["expires"] != -1]
    again = new_page()
    again.context.add_cookies(lasting)
    return again


def log_out(page):
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Dana Whitfield").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_remember_me_then_log_out_then_reopening_shows_the_login_page(new_page, therapist, screenshot):
    page = new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Remember me").check()
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients")).to_be_visible()

    # Remembered: the browser was closed and opened again, and Hearth is still open.
    reopened = reopen(new_page, page)
    reopened.goto("/sessions/")
    expect(reopened.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()

    log_out(reopened)
    assert not [c for c in reopened.context.cookies() if c["name"] == "remember_token"]

    later = reopen(new_page, reopened)
    later.goto("/sessions/")
    expect(later.get_by_role("heading", name="Log in to Hearth")).to_be_visible()
    # The first window shares that login: it is over there too.
    page.goto("/clients/")
    expect(page.get_by_role("heading", name="Log in to Hearth")).to_be_visible()


def test_enable_two_factor_then_log_in_with_a_code(page, therapist, screenshot, tmp_path):
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Dana Whitfield").click()
    page.get_by_role("link", name="Account Settings").click()
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Security")).to_be_visible()
    expect(page.get_by_text("This device")).to_be_visible()
    page.get_by_role("button", name="Set up two-factor login").click()

    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.get_by_label("Secret key").inner_text()
    screenshot("two-factor-setup")
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor login").click()

    expect(page.get_by_text("Two-factor login is on.")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    screenshot("recovery-codes")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download recovery codes (.txt)").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert codes.first.inner_text() in saved.read_text()

    log_out(page)
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    screenshot("login-code")
    # The setup code is spent; the app's next code (30 s ahead, still accepted) logs in without waiting.
    page.get_by_label("Code from your app, or a recovery code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients")).to_be_visible()
