"""A real session in the room, under gunicorn with two workers: it outlives the idle limit, survives a lost
message and a stalled negotiation, ends for an impostor, and both sides can leave and come back; full screen and a
camera switch keep the call going."""

import re
import time

import pytest
from playwright.sync_api import expect

import clients
from tests.e2e.helpers import log_in
from tests.e2e.test_room_browser import expect_call, leave

pytestmark = pytest.mark.browser


@pytest.fixture
def jane(therapist):
    return clients.add(therapist, name="Jane Doe", email="jane@example.com")


@pytest.fixture
def short_idle(app):
    """Sign a therapist out after 6 s without a click (set before gunicorn starts, which reads it)."""
    app.config["IDLE_TIMEOUT"] = 6
    return 6


def in_room(new_page, server, jane, *, route=None, connect_timeout=20_000):
    """Dana in Jane's room, and Jane joining from her link; both connected. `route(page)` prepares each page
    before it opens the room (routes, init scripts)."""
    dana = new_page(server)
    log_in(dana)
    if route:
        route(dana)
    dana.goto(f"/room/client/{jane.id}")
    dana.get_by_role("button", name="Join").click()
    expect(dana.locator("#call-state")).to_have_text("Waiting for Jane to join…")
    client = new_page(server)
    if route:
        route(client)
    client.goto(f"/r/{jane.room_link.token}")
    client.get_by_role("button", name="Join").click()
    expect_call(dana, timeout=connect_timeout)
    expect_call(client, timeout=connect_timeout)
    return dana, client


def test_a_call_outlives_the_idle_limit(new_page, jane, short_idle, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    start = dana.evaluate("Date.now()")
    # Twice the idle limit with no click: the call's own polls keep Dana's login alive.
    dana.wait_for_function(f"() => Date.now() > {start} + {short_idle * 2 * 1000}", timeout=20_000)
    expect_call(dana)
    expect_call(client)
    other_tab = dana.context.new_page()
    other_tab.goto(gunicorn_server + "/sessions/")
    expect(other_tab.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()  # still logged in
    expect(dana.get_by_role("link", name="Sign in again to keep using Hearth")).to_have_count(0)


def test_after_the_login_ends_the_call_goes_on_and_asks_to_sign_in_again(new_page, jane, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    other_tab = dana.context.new_page()
    other_tab.goto(gunicorn_server + "/sessions/")
    other_tab.get_by_role("button", name="Dana Whitfield").click()
    other_tab.get_by_role("button", name="Log out").click()
    sign_in = dana.get_by_role("link", name="Sign in again to keep using Hearth")
    expect(sign_in).to_be_visible(timeout=10_000)
    expect(sign_in).to_have_attribute("href", "/login")  # from the URL map, via the page (a prefix would show here)
    expect_call(dana)
    expect_call(client)


def test_a_lost_first_signal_still_connects(new_page, jane, gunicorn_server):
    """Each side's first offer or answer is lost on the way (the request fails): the call still connects."""
    aborted = []

    def lose_first_description(page):
        lost = []

        def handle(route):
            if not lost and '"kind":"description"' in (route.request.post_data or ""):
                lost.append(route.request.post_data)
                route.abort()
            else:
                route.continue_()

        page.route(re.compile(r".*/signal$"), handle)
        aborted.append(lost)

    in_room(new_page, gunicorn_server, jane, route=lose_first_description)
    assert all(aborted)


def test_the_watchdog_restarts_a_negotiation_that_stalled(new_page, jane, gunicorn_server):
    """Each side's first offer is silently lost: Hearth seems to take it (a 201 that never reaches the server),
    so send() has nothing to retry, and both sides wait for an answer that never comes. Only the watchdog, 15 s
    after both are present, can roll the hanging offer back and restart ICE; its new offers get through."""
    lost = []

    def lose_first_description(page):
        def handle(route):
            if not any(p is page for p, _ in lost) and '"kind":"description"' in (route.request.post_data or ""):
                lost.append((page, time.monotonic()))
                route.fulfill(status=201, json={"id": 0})
            else:
                route.continue_()

        page.route(re.compile(r".*/signal$"), handle)

    dana, client = in_room(new_page, gunicorn_server, jane, route=lose_first_description, connect_timeout=35_000)
    connected = time.monotonic()
    assert len(lost) == 2, lost
    # Nothing but the watchdog rescued it: the call connected only once it had fired.
    assert connected - min(t for _, t in lost) > 12, connected - min(t for _, t in lost)


def test_full_screen_keeps_the_controls_at_hand(page, jane):
    """Full screen takes the whole call: Exit full screen, Mute and Leave stay on screen and can be clicked."""
    page.goto(f"/r/{jane.room_link.token}")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#call-state")).to_have_text("Waiting for Dana Whitfield to join…")
    page.get_by_role("button", name="Full screen", exact=True).click()
    page.wait_for_function("() => document.fullscreenElement === document.querySelector('[data-room]')")
    exit_button = page.get_by_role("button", name="Exit full screen")
    # The video fills the screen, and the call's controls stay in view and usable.
    size = page.evaluate("[innerHeight, document.getElementById('videos').getBoundingClientRect().height]")
    assert size[1] > size[0] * 0.6, size
    for name in ("Mute", "Camera off", "Exit full screen", "Leave"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport(ratio=1)
    exit_button.click()
    page.wait_for_function("() => document.fullscreenElement === null")
    expect(page.get_by_role("button", name="Full screen", exact=True)).to_be_visible()
    # Leaving full screen the browser's way (Escape, which headless Chromium does not pass to the page) is the same
    # event for the page: the label follows the document, not the button.
    page.get_by_role("button", name="Full screen", exact=True).click()
    expect(exit_button).to_be_visible()
    page.evaluate("document.exitFullscreen()")
    expect(page.get_by_role("button", name="Full screen", exact=True)).to_be_visible()


KEEP_PEERS = """
(() => {
  const Real = window.RTCPeerConnection;
  window.peers = [];
  window.RTCPeerConnection = class extends Real {
    constructor(...args) { super(...args); window.peers.push(this); }
  };
})();
"""
SENT_VIDEO = """() => { const sender = window.peers.at(-1).getSenders().find((s) => s.track && s.track.kind === "video");
  return sender && { id: sender.track.id, label: sender.track.label, live: sender.track.readyState === "live" }; }"""
SENDERS_LIVE = "() => window.peers.at(-1).getSenders().every((s) => s.track && s.track.readyState === 'live')"
FRAMES_DECODED = """async () => { let frames = 0;
  (await window.peers.at(-1).getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded; });
  return frames; }"""


def test_switching_camera_in_a_call_replaces_what_is_sent(new_page, jane, live_server):
    """Choosing another camera mid-call replaces the track being sent; the other side keeps getting live video."""
    dana, client = in_room(new_page, live_server, jane, route=lambda page: page.add_init_script(KEEP_PEERS))
    client.get_by_text("Camera and microphone", exact=True).click()
    camera = client.get_by_label("Camera")
    expect(camera.locator("option")).to_have_count(2)  # Chromium's fake devices, two of them (tests/conftest.py)
    before = client.evaluate(SENT_VIDEO)
    other = next(o for o in camera.locator("option").all_text_contents() if o != before["label"])
    camera.select_option(label=other)
    client.wait_for_function(
        f"() => {{ const v = ({SENT_VIDEO})(); return v && v.live && v.id !== {before['id']!r} && v.label === {other!r}; }}"
    )
    assert client.evaluate(SENDERS_LIVE)  # the microphone was replaced as well: nothing stopped is sent
    expect(camera).to_have_value(
        client.evaluate("document.getElementById('local-video').srcObject.getVideoTracks()[0].getSettings().deviceId")
    )
    # Dana keeps receiving live video, now from the other camera: frames go on being decoded after the switch.
    frames = dana.evaluate(FRAMES_DECODED)
    dana.wait_for_function(f"async () => ({FRAMES_DECODED})().then((n) => n > {frames} + 20)", polling=200)
    expect_call(dana)  # the new stream (setStreams) renegotiated, and the call is still connected and playing
    expect_call(client)


def test_an_impostor_is_ended_by_replacing_the_link_and_the_real_client_connects(new_page, jane, gunicorn_server):
    dana, impostor = in_room(new_page, gunicorn_server, jane)
    settings = dana.context.new_page()
    settings.goto(f"{gunicorn_server}/clients/{jane.id}")
    settings.get_by_text("Replace link…").click()
    settings.get_by_role("button", name="Replace link").click()
    expect(impostor.locator("#call-state")).to_contain_text("This visit has ended", timeout=10_000)
    expect(impostor.get_by_role("button", name="Rejoin")).to_be_hidden()
    expect(dana.locator("#call-state")).to_have_text("Waiting for Jane to join…", timeout=10_000)

    new_link = settings.get_by_label("Room link").input_value()
    real = new_page(gunicorn_server)
    real.goto(new_link)
    real.get_by_role("button", name="Join").click()
    expect_call(real)
    expect_call(dana)


def test_remove_from_room(new_page, jane, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    dana.get_by_role("button", name="Remove from room").click()
    dana.get_by_role("dialog", name="Remove Jane from the room?").get_by_role("button", name="Remove").click()
    expect(client.locator("#call-state")).to_contain_text("This visit has ended", timeout=10_000)
    expect(dana.get_by_text("Jane has left.")).to_be_visible(timeout=10_000)
    expect(dana.get_by_role("button", name="Remove from room")).to_be_hidden()


def test_rejoin_after_leave_on_both_sides(new_page, jane, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    leave(client)
    expect(dana.get_by_text("Jane has left.")).to_be_visible(timeout=10_000)
    client.get_by_role("button", name="Rejoin").click()
    expect(dana.get_by_text("Jane is back.")).to_be_visible(timeout=10_000)
    expect_call(dana)
    expect_call(client)

    leave(dana)
    expect(client.get_by_text("Dana Whitfield has left.")).to_be_visible(timeout=10_000)
    dana.get_by_role("button", name="Rejoin").click()
    expect(client.get_by_text("Dana Whitfield is back.")).to_be_visible(timeout=10_000)
    expect_call(dana)
    expect_call(client)


def test_a_navigation_during_the_call_asks_first(new_page, jane, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    dana.get_by_role("link", name="Clients").click()
    dialog = dana.get_by_role("dialog", name="Leave the session?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Stay").click()
    expect_call(dana)
    dana.get_by_role("link", name="Clients").click()
    dialog.get_by_role("button", name="Leave the session").click()
    expect(dana.get_by_role("heading", name="Clients")).to_be_visible()
    expect(client.get_by_text("Dana Whitfield has left.")).to_be_visible(timeout=10_000)


def test_the_therapist_is_told_a_booked_client_is_waiting(new_page, jane, gunicorn_server):
    dana = new_page(gunicorn_server)
    log_in(dana)
    dana.goto("/sessions/")
    client = new_page(gunicorn_server)
    client.goto(f"/r/{jane.room_link.token}")
    client.get_by_role("button", name="Join").click()
    notice = dana.locator("#lobby-notices")
    expect(notice).to_contain_text("Jane Doe is in their room", timeout=10_000)
    expect(dana).to_have_title(re.compile(r"^\(1\) "))
    notice.get_by_role("link", name="Join").focus()
    for _ in range(2):  # two polls later
        with dana.expect_response(lambda r: r.url.endswith("/room/lobby"), timeout=10_000):
            pass
    dana.evaluate("new Promise(requestAnimationFrame)")  # and what the last one brought is in the page
    assert dana.evaluate("document.activeElement.textContent") == "Join"  # polling keeps the focus
    notice.get_by_role("link", name="Join").click()
    expect_call(dana)  # straight into the call, no second Join
    expect_call(client)
    expect(notice).not_to_contain_text("Jane Doe", timeout=10_000)
    expect(dana).not_to_have_title(re.compile(r"^\(1\) "))


def test_screen_sharing_is_seen_on_the_other_side(new_page, jane, gunicorn_server):
    dana, client = in_room(new_page, gunicorn_server, jane)
    before = dana.evaluate("document.getElementById('remote-video').videoWidth")
    client.get_by_role("button", name="Share screen").click()
    expect(client.get_by_role("button", name="Stop sharing")).to_be_visible()
    expect(dana.locator("#remote-state")).to_have_text("Jane is sharing their screen.", timeout=10_000)
    dana.wait_for_function(f"() => document.getElementById('remote-video').videoWidth !== {before}", timeout=15_000)
    client.get_by_role("button", name="Stop sharing").click()
    expect(dana.locator("#remote-state")).to_have_text("", timeout=10_000)


def session_now(jane):
    """A 50-minute session that started ten minutes ago."""
    from datetime import timedelta

    from conftest import add_session
    from models import utcnow

    add_session(jane.therapist, jane, utcnow().replace(second=0, microsecond=0) - timedelta(minutes=10))


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_call_screen_fits_with_its_controls_in_view(new_page, jane, gunicorn_server, tmp_path, width, height):
    session_now(jane)
    dana, client = in_room(new_page, gunicorn_server, jane)
    expect(dana.get_by_text("Ends at")).to_be_visible()
    for page in (dana, client):  # the call's own clock runs on both sides
        expect(page.locator("#elapsed")).to_have_text(re.compile(r"^\d+:\d\d elapsed$"), timeout=10_000)
        expect(page.locator("#elapsed")).not_to_have_text(page.locator("#elapsed").inner_text(), timeout=3_000)
    client.get_by_role("button", name="Mute").click()
    expect(dana.locator("#remote-state")).to_have_text("Jane’s microphone is off.")
    for who, page in (("therapist", dana), ("client", client)):
        page.set_viewport_size({"width": width, "height": height})
        for name in ("Mute" if who == "therapist" else "Unmute", "Camera off", "Share screen", "Full screen", "Leave"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport(ratio=1)
        expect(page.locator("#remote-video")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollHeight") <= height + 1, who  # no scrolling needed
        videos = page.locator("#videos")
        expect(videos.get_by_text("Jane" if who == "therapist" else "Dana Whitfield", exact=True)).to_be_visible()
        expect(videos.get_by_text("You", exact=True)).to_be_visible()
        page.screenshot(path=str(tmp_path / f"call-{who}-{width}x{height}.png"))
    print(tmp_path)


BLOCK_CAMERA_ONCE = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let blocked = false;
  navigator.mediaDevices.getUserMedia = (constraints) => {
    if (!blocked) { blocked = true; return Promise.reject(new DOMException("Permission denied", "NotAllowedError")); }
    return real(constraints);
  };
})();
"""


def test_blocked_camera_help_and_try_again_and_the_device_picker(page, jane):
    page.add_init_script(BLOCK_CAMERA_ONCE)
    page.goto(f"/r/{jane.room_link.token}")
    help_box = page.get_by_role("alert").filter(has_text="Hearth cannot use your camera or microphone")
    expect(help_box).to_contain_text("Your browser has blocked them for this page.")
    expect(help_box).to_contain_text("choose Allow for camera and microphone")
    expect(page.locator("body")).not_to_contain_text("NotAllowedError")
    help_box.get_by_role("button", name="Try again").click()
    expect(help_box).to_be_hidden()
    page.wait_for_function("() => document.getElementById('local-video').videoWidth > 0")
    page.get_by_text("Camera and microphone", exact=True).click()
    expect(page.get_by_label("Camera").locator("option")).not_to_have_count(0)
    expect(page.get_by_label("Microphone").locator("option")).not_to_have_count(0)


def test_the_watchdog_restarts_ice_when_no_candidate_arrives(new_page, jane, gunicorn_server):
    """Offers and answers arrive, but every ICE candidate sent in the first 8 s is silently lost on both sides
    (all of the first attempt's, glare included): the connection has nowhere to go. The watchdog, at 15 s, restarts
    ICE from a stable state (new credentials, new candidates), and those get through."""
    lost = []

    def lose_early_candidates(page):
        def handle(route):
            if '"kind":"candidate"' in (route.request.post_data or ""):
                first = min((t for p, t in lost if p is page), default=time.monotonic())
                if time.monotonic() - first < 8:
                    lost.append((page, time.monotonic()))
                    route.fulfill(status=201, json={"id": 0})
                    return
            route.continue_()

        page.route(re.compile(r".*/signal$"), handle)

    dana, client = in_room(new_page, gunicorn_server, jane, route=lose_early_candidates, connect_timeout=35_000)
    assert {id(p) for p, _ in lost} == {id(dana), id(client)}
    assert time.monotonic() - min(t for _, t in lost) > 12  # not connected before the watchdog fired
