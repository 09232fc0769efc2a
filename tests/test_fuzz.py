"""Bad input at scale (Hypothesis): generated input through every endpoint that takes input.

No input makes a 500, and an input that is refused leaves every table exactly as it was.
Six endpoints x 200 examples: 1,200 generated inputs on each database.
"""

import json
import re
import time
import urllib.parse
from datetime import date, timedelta
from datetime import time as clock

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import booking
import clients
import rooms
from conftest import dump
from dates import EU_AUTUMN, EU_SPRING, PLAIN_TUESDAY
from extensions import db

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=260),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\u202e",
            "a" * 100_000,
            "Jane Doe",
            "jane@example.com",
            "Europe/Prague",
            "'; DROP TABLE clients; --",
            "<script>alert(1)</script>",
            "%FF%FE",
        ]
    ),
)
dates = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from([d.isoformat() for d in (EU_SPRING, EU_AUTUMN, PLAIN_TUESDAY)]),
    texts,
)
clock_times = st.one_of(
    st.times().map(lambda t: t.strftime("%H:%M")), st.sampled_from(["02:00", "02:30", "02:59", "03:00"]), texts
)
lengths = st.one_of(st.integers(-10_000, 10_000).map(str), texts)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def refused_changes_nothing(response, before, accepted=(200, 201, 303)):
    assert response.status_code < 500
    if response.status_code not in accepted:
        assert dump() == before


@pytest.fixture
def fresh(app, client):
    return lambda: client.__class__(app.test_client())


@pytest.fixture
def setup(logged_in, therapist):
    jane = clients.add(therapist, name="Jane Doe", email="jane@example.com", timezone="America/New_York")
    session = booking.book(
        therapist, jane, booking.slot(therapist, PLAIN_TUESDAY + timedelta(days=30), clock(9, 0), 50)
    )
    return {"client": logged_in, "jane": jane, "session": session, "therapist": therapist}


def test_signup(app, fresh):
    @FUZZ
    @given(
        name=texts,
        email=st.one_of(st.emails().map(str), texts),
        password=texts,
        timezone=st.one_of(texts, st.just("UTC")),
    )
    def run(name, email, password, timezone):
        browser = fresh()
        before = dump()
        response = browser.post(
            "/signup", {"name": name, "email": email, "password": password, "confirm": password, "timezone": timezone}
        )
        refused_changes_nothing(response, before, accepted=(303,))

    run()


def test_add_client(setup):
    browser = setup["client"]

    @FUZZ
    @given(name=texts, email=texts, phone=texts, timezone=texts, note=texts)
    def run(name, email, phone, timezone, note):
        before = dump()
        response = browser.post(
            "/clients/",
            {"add-name": name, "add-email": email, "add-phone": phone, "add-timezone": timezone, "add-note": note},
            htmx=True,
        )
        refused_changes_nothing(response, before)

    run()


def test_booking(setup):
    browser, jane = setup["client"], setup["jane"]

    @FUZZ
    @given(
        client=st.one_of(st.just(str(jane.id)), st.integers(-5, 10**12).map(str), texts),
        day=dates,
        start=clock_times,
        length=lengths,
        key=st.one_of(st.just(""), texts),
    )
    def run(client, day, start, length, key):
        before = dump()
        response = browser.post(
            "/sessions/book",
            {"client": client, "date": day, "start_time": start, "length": length, "booking_key": key},
            htmx=True,
        )
        refused_changes_nothing(response, before)

    run()


def test_reschedule(setup):
    browser, session = setup["client"], setup["session"]

    @FUZZ
    @given(day=dates, start=clock_times, length=lengths, version=st.one_of(st.just("0"), texts))
    def run(day, start, length, version):
        before = dump()
        response = browser.post(
            f"/sessions/{session.id}/reschedule",
            {"date": day, "start_time": start, "length": length, "version": version},
            htmx=True,
        )
        refused_changes_nothing(response, before)

    run()


def test_client_search_and_public_links(setup, fresh):
    browser, guest = setup["client"], fresh()

    @FUZZ
    @given(query=texts, token=texts)
    def run(query, token):
        assert browser.get("/clients/", query_string={"q": query}, htmx=True).status_code < 500
        assert browser.get("/sessions/book", query_string={"client": query}).status_code < 500
        for path in ("/r/", "/u/", "/feed/", "/reset-password/"):
            assert guest.get(path + urllib.parse.quote(token, safe="")).status_code < 500

    run()


def test_personal_link_slug(setup):
    browser = setup["client"]

    @FUZZ
    @given(slug=st.one_of(texts, st.from_regex(r"[a-z0-9-]{1,45}", fullmatch=True)))
    def run(slug):
        before = dump()
        assert browser.get("/account/personal-link/check", query_string={"slug": slug}, htmx=True).status_code < 500
        response = browser.post("/account/personal-link", {"slug": slug}, htmx=True)
        refused_changes_nothing(response, before)

    run()


def test_signalling(setup, fresh):
    jane, therapist = setup["jane"], setup["therapist"]
    guest = fresh()
    rooms.join(rooms.client_room(jane), therapist, rooms.THERAPIST, therapist.name, jane)
    visit = guest.open(clients.room_url(jane).split("5000", 1)[1] + "/join", method="POST", json={}).get_json()

    bodies = st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "kind": st.one_of(st.sampled_from(["description", "candidate", "state"]), json_values),
                "data": json_values,
                "seq": st.one_of(st.integers(-3, 10**6), json_values),
            }
        ).map(lambda v: json.dumps(v).encode()),
        st.just(b"{" + b" " * (70 * 1024) + b"}"),
    )

    @FUZZ
    @given(body=bodies)
    def run(body):
        before = dump()
        response = guest.open(visit["signal"], method="POST", data=body, content_type="application/json")
        assert response.status_code in (201, 400, 409, 413), response.status_code
        if response.status_code != 201:
            assert dump() == before
            assert "error" in response.get_json()

    run()


# Every form field of every endpoint, found from the URL map rather than listed by hand.
#
# Every GET route is opened (with real ids and tokens), and every form and htmx request in what comes
# back is collected with its fields. Each field then gets hostile text while the others keep the page's
# values, and Hypothesis mixes hostile values in all fields at once. No answer may be a 500.

import html.parser  # noqa: E402

from test_security import routes  # noqa: E402

import accounts  # noqa: E402
from extensions import limiter  # noqa: E402

HOSTILE = [
    "²",
    "¹⁰",
    "٣",
    "１２",
    "𝟗",
    "9" * 309,
    "-" + "9" * 400,
    "1e309",
    "0x1F",  # digits that are not ASCII, and huge numbers
    "",
    " ",
    "\t",
    "\u3000",
    "\u00a0",
    "\n\n",  # nothing but whitespace
    "\u2028",
    "\u2029",
    "Jane\u2028Doe",
    "a\u2029b",  # line and paragraph separators (Zl, Zp)
    "=?utf-8?b?SGVhcnRoIFNlY3VyaXR5?=",
    "=?utf-8?q?Support?= <evil@example.com>",
    "x\r\nBcc: evil@example.com",
    "\x00",
    "\ufeff",
    "\u202e",
    "%FF",
    "😀" * 70,
    "a" * 5000,
    "both ",
    " client",
]
hostile_texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Zs", "Zl", "Zp", "Cc", "Cf"]), max_size=12),
    st.integers(min_value=10**300, max_value=10**320).map(str),
    st.text(max_size=30),
)
QUERY_NAMES = {
    "page",
    "q",
    "archived",
    "add",
    "cancel",
    "client",
    "client_filter",
    "slug",
    "next",
    "after",
    "join",
    "invite",
    "date",
    "start_time",
    "length",
}
JSON_ONLY = {
    "rooms.client_join",
    "rooms.knock",
    "rooms.signal",
    "rooms.leave",
    "rooms.poll",  # test_signalling
    "rooms.therapist_join_client",
    "rooms.therapist_join_personal",
    "rooms.remove",  # room.js posts to the URL a poll answer names: test_removing_someone_takes_no_input
}  # JSON, no fields
# Forms the world below does not reach, each with the reason.
NOT_SEEDED: set[str] = set()


class _Forms(html.parser.HTMLParser):
    """The forms on a page, and htmx requests from fields and buttons: (method, url, {field: value})."""

    def __init__(self):
        super().__init__()
        self.found, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.stack.append(
                {
                    "method": (attrs.get("method") or "get").upper(),
                    "url": attrs.get("action"),
                    "fields": {},
                    "extra": [],
                }
            )
        form = self.stack[-1] if self.stack else None
        name = attrs.get("name")
        if form is not None and tag in ("input", "select", "textarea") and name and name != "csrf_token":
            if attrs.get("type") not in ("radio", "checkbox") or "checked" in attrs or name not in form["fields"]:
                form["fields"][name] = attrs.get("value") or ""
        for attribute, method in (("hx-get", "GET"), ("data-hx-get", "GET"), ("hx-post", "POST")):
            if attrs.get(attribute) and tag != "form":
                if form is not None:
                    form["extra"].append((method, attrs[attribute]))
                elif tag in ("button", "input"):
                    self.found.append((method, attrs[attribute], {}))

    def handle_endtag(self, tag):
        if tag == "form" and self.stack:
            form = self.stack.pop()
            if form["url"]:
                self.found.append((form["method"], form["url"], form["fields"]))
            self.found += [(method, url, form["fields"]) for method, url in form["extra"]]


def _forms_in(page: str):
    parser = _Forms()
    parser.feed(page)
    return [(method, html.unescape(url), fields) for method, url, fields in parser.found]


def _forms_on(browser, path):
    return _forms_in(browser.get(path).get_data(as_text=True))


@pytest.fixture
def world(app, setup, fresh, monkeypatch, smtp):
    """One of everything a page can show: a client, an archived one, a session, an Outbox message, a visitor,
    links, and the banner of an address still to confirm (mail delivery on).

    Forms that show only in some state are reached from `states` (a browser and a page): a past session
    (attendance), an undelivered reminder (Send now) and its client's confirm link, a failed invite (Resend
    failed invites), another signed-in device, two-factor setup, two-factor on (and the recovery codes shown
    once), and a login waiting for its code.
    """
    import invites
    import reminder_state
    import reminders
    from conftest import PASSWORD, add_session, login, make_therapist
    from models import DeliveryStatus, LoginSession, OutboxMessage, ReminderStatus

    monkeypatch.setattr(limiter, "enabled", False)  # limits answer 429 before the fields are read
    jane, session, therapist = setup["jane"], setup["session"], setup["therapist"]
    therapist.email_confirmed_at = None
    archived = clients.add(therapist, name="Old Client", email="old@example.com")
    clients.archive(archived)
    invites.send(session)  # kept in the Outbox until the address is confirmed
    visitor = rooms.knock(therapist, "Alex")
    _, reset = accounts.start_reset(therapist.email)

    past = add_session(therapist, jane, reminder_state.now() - timedelta(days=2))
    _, confirm_token = reminders.claim(session, "24h", reminder_state.now())
    failed_reminder, _ = reminders.claim(session, "1h", reminder_state.now())
    failed_reminder.status, failed_reminder.error = ReminderStatus.FAILED, "The mail server refused it."
    delivery = session.latest_deliveries()[0]
    delivery.status, delivery.error = DeliveryStatus.FAILED, "The mail server refused it."
    db.session.add(LoginSession(therapist_id=therapist.id, ip="192.0.2.7", user_agent="Firefox on Android"))
    db.session.commit()

    browsers = {"therapist": setup["client"], "guest": fresh()}
    for name in ("tess", "uma", "pending"):
        browsers[name] = fresh()
    make_therapist(name="Tess Setup", email="tess@example.com")
    make_therapist(name="Uma Twofactor", email="uma@example.com")
    for name in ("tess", "uma"):
        assert login(browsers[name], f"{name}@example.com").status_code == 303
        browsers[name].forget_csrf()
        assert browsers[name].post("/account/security/two-factor/start", {}).status_code == 303
    page = browsers["uma"].get("/account/security").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    shown_once = browsers["uma"].post("/account/security/two-factor", {"code": pyotp.TOTP(secret).at(time.time() - 30)})
    assert "recovery-codes.txt" in shown_once.get_data(as_text=True)
    assert login(browsers["pending"], "uma@example.com", PASSWORD).status_code == 303

    values = {
        "client_id": jane.id,
        "appointment_id": session.id,
        "participant_id": visitor.id,
        "message_id": db.session.scalar(select(OutboxMessage.id)),
        "slug": therapist.personal_slug,
        "peer_id": visitor.peer_id,
        "token": None,
    }
    tokens = {
        "rooms.client_page": jane.room_link.token,
        "rooms.client_join": jane.room_link.token,
        "public.feed": accounts.feed_token(therapist),
        "public.confirm": confirm_token,
        "auth.reset_password": reset,
        "auth.confirm_email": "no-such-token",
    }
    states = [
        ("therapist", f"/sessions/{past.id}"),
        ("tess", "/account/security"),
        ("uma", "/account/security"),
        ("pending", "/login/code"),
    ]
    shown = [("uma", method, url, fields) for method, url, fields in _forms_in(shown_once.get_data(as_text=True))]
    return {
        **setup,
        "guest": browsers["guest"],
        "browsers": browsers,
        "values": values,
        "tokens": tokens,
        "archived": archived.id,
        "states": states,
        "shown": shown,
    }


def _pages(app, world):
    """Every GET route, built with real ids and tokens; static files aside."""
    # A token kept under an endpoint that no longer exists would leave its page fuzzed with a dead token only.
    assert set(world["tokens"]) <= {rule.endpoint for rule in app.url_map.iter_rules()}
    for rule, method in routes(app):
        if method != "GET" or rule.endpoint in ("static", "vendor.static"):
            continue
        values = {name: world["values"][name] for name in rule.arguments if name != "token"}
        if "token" in rule.arguments:
            values["token"] = world["tokens"].get(rule.endpoint, "no-such-token")
        yield rule, rule.build(values)[1]
        if "client_id" in rule.arguments:  # an archived client's page offers other forms (Restore)
            yield rule, rule.build({**values, "client_id": world["archived"]})[1]


def _endpoint(app, method, url):
    path = url.split("?", 1)[0]
    return app.url_map.bind("localhost").match(path, method=method)[0]


def _discover(app, world):
    """Every form on every page, for the therapist and a visitor; then the forms only a state shows
    (each state adds only endpoints not reached already, so no form is fuzzed twice over)."""
    forms = {}
    for who in ("therapist", "guest"):
        for rule, path in _pages(app, world):
            if rule.endpoint == "auth.logout":
                continue
            for method, url, fields in _forms_on(world["browsers"][who], path):
                forms.setdefault((who, method, url), {}).update(fields)
    reached = {_endpoint(app, method, url) for _, method, url in forms}
    found = [
        (who, method, url, fields)
        for who, path in world["states"]
        for method, url, fields in _forms_on(world["browsers"][who], path)
    ]
    for who, method, url, fields in found + world["shown"]:
        if _endpoint(app, method, url) not in reached:
            forms.setdefault((who, method, url), {}).update(fields)
    return [(who, method, url, fields) for (who, method, url), fields in forms.items()]


def _fuzzable(app, forms):
    """All but logout, which only ends the session the rest needs."""
    return [form for form in forms if _endpoint(app, form[1], form[2]) != "auth.logout"]


def _send(world, who, method, url, fields, htmx=False):
    browser = world["browsers"][who]
    if method == "GET":
        path, _, query = url.partition("?")
        return browser.get(path, query_string={**dict(urllib.parse.parse_qsl(query)), **fields}, htmx=htmx)
    return browser.post(url, fields, htmx=htmx)


def test_every_form_field_of_every_endpoint_takes_hostile_text_without_a_500(app, world):
    forms = _discover(app, world)
    covered = {_endpoint(app, method, url) for _, method, url, _ in forms}
    posts = {rule.endpoint for rule, method in routes(app) if method == "POST"}
    # Every route that takes a form is reached from some page.
    assert posts - covered - JSON_ONLY - NOT_SEEDED == set(), posts - covered - JSON_ONLY - NOT_SEEDED
    forms = _fuzzable(app, forms)
    assert {
        "sessions.preview",
        "sessions.reschedule_preview",
        "sessions.client_options",
        "account.check_slug",
        "clients.index",
    } <= covered
    fields_seen = sum(len(fields) for *_, fields in forms)
    assert fields_seen >= 30, forms

    failures = []
    for who, method, url, fields in forms:
        for name in fields:
            for value in HOSTILE:
                response = _send(world, who, method, url, {**fields, name: value}, htmx=value == "²")
                if response.status_code >= 500:
                    failures.append((method, url, name, value))
    assert failures == []

    @FUZZ
    @given(data=st.data())
    def run(data):
        who, method, url, fields = data.draw(st.sampled_from(forms))
        values = {name: data.draw(hostile_texts) for name in fields}
        response = _send(world, who, method, url, values, htmx=data.draw(st.booleans()))
        assert response.status_code < 500, (method, url, values)

    run()
    # No hostile code turned two-factor login on or off, or finished the login waiting for its code.
    from models import LoginSession, Therapist

    db.session.expire_all()
    tess, uma = (db.session.scalar(select(Therapist).filter_by(name=name)) for name in ("Tess Setup", "Uma Twofactor"))
    assert not tess.two_factor and uma.two_factor
    assert len(db.session.scalars(select(LoginSession).filter_by(therapist_id=uma.id)).all()) == 1


def test_every_get_route_takes_hostile_query_values_without_a_500(app, world):
    """Query names the pages read (page, q, next, slug…), each hostile value on every GET route."""
    for rule, path in _pages(app, world):
        if rule.endpoint == "auth.logout":
            continue
        for value in HOSTILE:
            query = {name: value for name in QUERY_NAMES}
            for browser in (world["client"], world["guest"]):
                assert browser.get(path, query_string=query).status_code < 500, (path, value)


def test_removing_someone_takes_no_input(setup, fresh, other_therapist):
    """rooms.remove reads nothing but the id in its URL: fields sent along change nothing, other ids are 404."""
    browser, therapist = setup["client"], setup["therapist"]
    alex = rooms.knock(therapist, "Alex")
    theirs = rooms.knock(other_therapist, "Olga's visitor")
    for participant_id in (theirs.id, alex.id + 1000, 2**31 - 1, 2**31, 10**12):
        before = dump()
        assert browser.post(f"/room/participants/{participant_id}/remove", {"id": str(alex.id)}).status_code == 404
        assert dump() == before
    hostile = {name: value for name, value in zip(("id", "participant", "name", "end"), HOSTILE, strict=False)}
    assert browser.post(f"/room/participants/{alex.id}/remove", hostile).get_json() == {"removed": "Alex"}
    assert browser.post(f"/room/participants/{alex.id}/remove", {}).status_code == 404  # once
