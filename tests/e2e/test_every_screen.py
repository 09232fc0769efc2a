"""Every screen, logged in and public, at phone and desktop widths: nothing scrolls sideways, nothing logs a
console error (the page fixture fails on any), and axe-core finds no serious or critical accessibility problem.

The list of screens comes from the URL map: a new GET route must be added here as a screen or as a fragment.
"""

from datetime import time as clock
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

import accounts
import booking
import clients
import invites
import reminders
import rooms
import series
from conftest import ROOT
from dates import PLAIN_TUESDAY
from extensions import db
from models import utcnow
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.browser

AXE = (ROOT / "node_modules/axe-core/axe.min.js").read_text()
LONG_NAME = "María-José Núñez-Žáková de la Fuente Østergård-Šimková"

# GET routes that are not screens: fragments htmx swaps into a screen, downloads, polls and assets.
NOT_SCREENS = {
    "static",
    "vendor.static",
    "account.index",
    "account.activity_csv",
    "account.check_slug",
    "clients.new",
    "public.feed",
    "outbox.download_eml",
    "outbox.download_ics",
    "rooms.presence",
    "rooms.lobby",
    "rooms.poll",
    "sessions.download_ics",
    "sessions.client_options",
    "sessions.preview",
    "sessions.reschedule_preview",
    "outbox.message_html",
    "sessions.export_csv",
}
# Screens a visitor sees without logging in.
PUBLIC = {
    "public.index",
    "auth.login",
    "auth.login_code",
    "auth.signup",
    "auth.forgot_password",
    "auth.reset_password",
    "auth.signed_out",
    "rooms.client_page",
    "rooms.visitor_page",
    "public.confirm",
}


@pytest.fixture
def practice(app, therapist):
    """A practice with what every screen can show: a client with a long name in another zone, a booked session
    with its invites in the Outbox, a weekly series, a personal link, a visitor waiting, a password reset under way."""
    jane = clients.add(
        therapist,
        name=LONG_NAME,
        email="maria.jose.nunez.zakova.de.la.fuente@example.com",
        timezone="America/Chicago",
        note="Prefers mornings.",
    )
    clients.add(therapist, name="Jordan Ellis", email="jordan@example.com")
    appointment = booking.book(therapist, jane, booking.slot(therapist, PLAIN_TUESDAY, clock(14, 0), 50))
    invites.send(appointment)
    # A weekly series too: Client details names it with its next session, the lists label its sessions.
    series.book(series.plan(therapist, jane, PLAIN_TUESDAY + timedelta(days=1), clock(9, 0), 50, 1, count=4))
    clients.change_slug(therapist, "dana-whitfield")
    rooms.knock(therapist, "Sam")
    _, reset_token = accounts.start_reset(therapist.email)
    _, confirm_token = reminders.claim(appointment, "24h", utcnow())
    message = db.session.scalars(db.select(__import__("models").OutboxMessage)).first()
    return {
        "client_id": jane.id,
        "appointment_id": appointment.id,
        "token": jane.room_link.token,
        "slug": "dana-whitfield",
        "reset_token": reset_token,
        "message_id": message.id,
        "confirm_token": confirm_token,
    }


def screens(app, practice) -> list[tuple[str, str]]:
    """(endpoint, url) for every screen in the URL map, its arguments filled in from the practice."""
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_SCREENS:
            continue
        special = {"auth.reset_password": "reset_token", "public.confirm": "confirm_token"}
        values = {name: practice[special.get(rule.endpoint, name)] for name in rule.arguments}
        found.append((rule.endpoint, rule.build(values)[1]))
    return sorted(found)


def test_every_get_route_is_a_screen_or_a_known_fragment(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    assert NOT_SCREENS <= endpoints and PUBLIC <= endpoints
    assert len(endpoints - NOT_SCREENS) >= 20


def problems_at(page, width: int, *, run_axe: bool) -> list[str]:
    """What is wrong with the page shown: sideways scroll, and axe's serious and critical violations."""
    problems = []
    overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if overflow[0] > overflow[1]:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
        problems.append(f"{page.url} at {width}px scrolls sideways: {overflow}, widest {wide}")
    if run_axe:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE + "\n;undefined")
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        for violation in result["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"][:3]]
                problems.append(f"{page.url} at {width}px: axe {violation['id']} ({violation['impact']}): {targets}")
    return problems


def visit_all(page, urls, width, shots: Path | None, *, run_axe: bool) -> list[str]:
    problems = []
    page.set_viewport_size({"width": width, "height": 800})
    for endpoint, url in urls:
        page.goto(url)
        page.wait_for_load_state("load")
        expect(page.locator("main")).to_be_visible()
        problems += problems_at(page, width, run_axe=run_axe)
        if shots:
            page.screenshot(path=str(shots / f"{width}-{endpoint}.png"), full_page=True)
    return problems


@pytest.mark.parametrize("width", [360, 390, 768, 1280])
def test_every_screen_fits_the_width_and_passes_axe(new_page, app, practice, width, tmp_path):
    """Logged-in screens as the therapist, public pages as a visitor with no cookie."""
    found = screens(app, practice)
    private = [(e, u) for e, u in found if e not in PUBLIC]
    public = [(e, u) for e, u in found if e in PUBLIC] + [("dead-link", "/r/no-such-link-1234567890")]
    run_axe = width in (360, 1280)
    shots = tmp_path if width in (360, 1280) else None

    visitor = new_page()
    problems = visit_all(visitor, public, width, shots, run_axe=run_axe)
    therapist = new_page()
    therapist.set_viewport_size({"width": width, "height": 800})
    log_in(therapist)
    problems += visit_all(therapist, private, width, shots, run_axe=run_axe)
    print(f"screenshots in {tmp_path}")
    assert problems == [], "\n".join(problems)


def test_read_a_kept_invite_in_the_outbox_as_the_client_sees_it(page, practice, screenshot, tmp_path):
    log_in(page)
    page.get_by_role("button", name="Dana Whitfield").click()
    page.get_by_role("link", name="Outbox").click()
    page.get_by_role("link", name="Session with Dana Whitfield").click()
    expect(page.get_by_role("heading", name="Session with Dana Whitfield")).to_be_visible()
    expect(page.get_by_text("maria.jose.nunez.zakova.de.la.fuente@example.com").first).to_be_visible()
    mail = page.frame_locator("iframe[title^='The email as']")
    expect(mail.get_by_role("link", name="Join session")).to_be_visible()
    # The framed message runs no script: the sandbox has no allow-scripts.
    frame = page.frames[1]
    assert frame.evaluate("document.querySelectorAll('script').length") == 0
    expect(page.get_by_role("link", name="Download invite (.ics)")).to_be_visible()
    screenshot("outbox-reader")
    page.set_viewport_size({"width": 360, "height": 800})
    expect(mail.get_by_role("link", name="Join session")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot("outbox-reader-phone")
    # Full-page shots leave the sandboxed frame (another process) blank at this size: take the frame itself too.
    page.locator("iframe").screenshot(path=str(tmp_path / "outbox-reader-phone-mail.png"))


def test_copied_is_a_toast_that_stays_three_seconds(page, practice):
    log_in(page)
    page.goto(f"/clients/{practice['client_id']}")
    page.get_by_role("button", name="Copy link").first.click()
    toast = page.get_by_role("status").filter(has_text="Copied")
    expect(toast).to_be_visible()
    box = toast.bounding_box()
    assert (
        box["height"] > 30
        and page.evaluate("getComputedStyle(document.querySelector('[data-copy-status]')).position") == "fixed"
    )
    # How long it stays: from now (it is already shown) until its text is cleared.
    shown_for = page.evaluate("""() => new Promise(resolve => {
        const status = document.querySelector('[data-copy-status]'), start = performance.now();
        new MutationObserver((changes, observer) => {
          if (!status.textContent) { observer.disconnect(); resolve(performance.now() - start); }
        }).observe(status, {childList: true, characterData: true, subtree: true}); })""")
    assert 2700 < shown_for < 3500
    expect(toast).to_be_hidden()


def test_the_open_client_stays_highlighted_when_another_is_chosen(page, practice):
    log_in(page)
    page.goto(f"/clients/{practice['client_id']}")
    results = page.locator("#client-results")
    expect(results.get_by_role("link", name=LONG_NAME)).to_have_attribute("aria-current", "page")
    results.get_by_role("link", name="Jordan Ellis").click()
    expect(page.get_by_role("heading", name="Jordan Ellis")).to_be_visible()
    expect(results.get_by_role("link", name="Jordan Ellis")).to_have_attribute("aria-current", "page")
    expect(results.get_by_role("link", name=LONG_NAME)).not_to_have_attribute("aria-current", "page")


@pytest.mark.parametrize("width", [360, 1280])
def test_the_call_screen_fits_and_passes_axe_once_both_have_joined(new_page, practice, width):
    dana, client = new_page(), new_page()
    for page in (dana, client):
        page.set_viewport_size({"width": width, "height": 800})
    log_in(dana)
    dana.goto(f"/room/client/{practice['client_id']}")
    dana.get_by_role("button", name="Join").click()
    client.goto(f"/r/{practice['token']}")
    client.get_by_role("button", name="Join").click()
    for page in (dana, client):
        expect(page.locator("#call-state")).to_have_text("Connected", timeout=20_000)
    problems = problems_at(dana, width, run_axe=True) + problems_at(client, width, run_axe=True)
    assert problems == [], "\n".join(problems)


def test_fields_stay_in_line_when_an_error_appears_under_one(page, practice):
    log_in(page)
    page.goto(f"/sessions/book?client={practice['client_id']}")
    page.get_by_label("Date").fill(PLAIN_TUESDAY.isoformat())
    page.get_by_role("button", name="Book session").click()
    expect(page.get_by_text("Enter a start time.")).to_be_visible()
    date, start = page.get_by_label("Date").bounding_box(), page.get_by_label("Start time").bounding_box()
    assert (date["y"], date["height"]) == (start["y"], start["height"])
    # The preview asks only for what is missing, not "Choose a client, a date…" again.
    expect(page.locator("#booking-preview")).to_have_text("Choose a start time to see the session in both time zones.")
