"""Clients, room links, the personal link, and who may see what."""

import re

import pytest
from sqlalchemy import func, select

import clients
from conftest import make_therapist
from extensions import db
from models import Client, RoomLink, Therapist

JANE = {
    "add-name": "Jane Doe",
    "add-email": "jane@example.com",
    "add-phone": "+1 212 555 0100",
    "add-timezone": "America/New_York",
    "add-note": "Prefers mornings.",
}


def client_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Client))


def add_jane(logged_in, **changes):
    response = logged_in.post("/clients/", {**JANE, **changes})
    assert response.status_code == 303, response.get_data(as_text=True)
    return db.session.scalar(select(Client).order_by(Client.id.desc()))


def room_path(page: str) -> str:
    return re.search(r'value="http://127\.0\.0\.1:5000(/r/[\w-]+)"', page).group(1)


# Domain functions


def test_a_new_client_gets_a_room_link_and_replacing_it_keeps_history(app, therapist):
    client = clients.add(therapist, name="Jane Doe", email="jane@example.com")
    first = client.room_link
    assert len(first.token) >= 22
    assert clients.open_room(first.token).id == client.id

    second, sessions = clients.replace_room_link(client)
    assert sessions == []
    assert second.token != first.token
    assert first.replaced_at is not None and second.replaced_at is None
    assert clients.open_room(first.token) is None
    assert clients.open_room(second.token).id == client.id
    assert db.session.scalar(select(func.count()).select_from(RoomLink)) == 2


def test_search_is_scoped_sorted_and_paginated(app, therapist, other_therapist):
    for number in range(60):
        clients.add(therapist, name=f"Client {number:02d}")
    clients.add(other_therapist, name="Client 99 of another practice")
    first = clients.search(therapist)
    assert first.total == 60 and len(first.items) == 50
    assert [c.name for c in first.items[:2]] == ["Client 00", "Client 01"]
    assert [c.name for c in clients.search(therapist, "client 5").items] == [f"Client 5{n}" for n in range(10)]
    assert clients.search(therapist, "another").total == 0
    assert clients.search(therapist, "%").total == 0  # a wildcard is just a character


def test_search_finds_any_part_of_name_or_email_and_follows_changes(app, therapist, other_therapist):
    jane = clients.add(therapist, name="Jane Doe", email="jd@harbour.example")
    clients.add(therapist, name="Mark Twain", email="mark@example.com")
    clients.add(other_therapist, name="Jane Doering", email="jane@harbour.example")

    def names(query):
        return [c.name for c in clients.search(therapist, query).items]

    assert (
        names("ane d") == ["Jane Doe"]
        and names("HARBOUR") == ["Jane Doe"]
        and names("example") == ["Jane Doe", "Mark Twain"]
    )
    clients.update(jane, name="Janet Moss", email="janet@moss.example")  # the index follows the row
    assert names("doe") == [] and names("harbour") == [] and names("t mo") == ["Janet Moss"]
    assert names("moss.ex") == ["Janet Moss"]
    assert names('"x" OR j*') == [] and names("%_%") == []  # search syntax and wildcards are plain characters


@pytest.mark.parametrize(
    "query, found",
    [("j", ["Jane Doe", "jo lower"]), ("JA", ["Jane Doe"]), ("jo", ["jo lower"]), ("oe", []), ("m", []), ("%", [])],
)
def test_one_or_two_characters_match_the_start_of_the_name(app, therapist, query, found):
    clients.add(therapist, name="Jane Doe", email="mark@example.com")
    clients.add(therapist, name="jo lower")
    assert [c.name for c in clients.search(therapist, query).items] == found


def test_archived_clients_leave_the_list_and_their_link_stops(app, therapist):
    client = clients.add(therapist, name="Jane Doe")
    clients.archive(client)
    assert clients.search(therapist).total == 0
    assert clients.search(therapist, archived=True).total == 1
    assert clients.open_room(client.room_link.token) is None
    clients.restore(client)
    assert clients.open_room(client.room_link.token).id == client.id


def test_slug_rules(app, therapist, other_therapist):
    with pytest.raises(clients.SlugTaken):
        clients.check_slug(therapist, other_therapist.personal_slug)
    with pytest.raises(clients.Invalid):
        clients.check_slug(therapist, "Has Spaces")
    clients.change_slug(therapist, "dana-room")
    assert clients.therapist_by_slug("dana-room").id == therapist.id


def test_short_name_is_first_name_and_last_initial(app, therapist):
    assert clients.add(therapist, name="Jane Mary Doe").short_name == "Jane D."
    assert clients.add(therapist, name="Cher").short_name == "Cher"


# Through the app


def test_add_client_swaps_in_details_and_the_new_row(logged_in):
    response = logged_in.post("/clients/", JANE, htmx=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    client = db.session.scalar(select(Client))
    assert response.headers["HX-Push-Url"] == f"/clients/{client.id}"
    assert 'id="client-pane"' in page and 'id="client-results" hx-swap-oob="true"' in page
    assert "Client added." in page and "Copy link" in page
    assert (client.email, client.timezone, client.note) == ("jane@example.com", "America/New_York", "Prefers mornings.")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"add-name": ""}, "Enter name."),
        ({"add-name": "x" * 201}, "Use at most 200 characters."),
        ({"add-email": "jane@example"}, "It should have a period."),
        ({"add-timezone": "Mars/Olympus_Mons"}, "Choose a time zone from the list"),
        ({"add-phone": "call me maybe"}, "Use digits"),
        ({"add-note": "x" * 5001}, "Use at most 5000 characters."),
    ],
)
def test_bad_client_input_gets_a_message_and_changes_nothing(logged_in, change, message):
    response = logged_in.post("/clients/", {**JANE, **change}, htmx=True)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#add-client"
    assert message in response.get_data(as_text=True)
    assert client_count() == 0


def test_edit_archive_and_restore(logged_in):
    client = add_jane(logged_in)
    form = logged_in.get(f"/clients/{client.id}/edit", htmx=True).get_data(as_text=True)
    assert 'value="Jane Doe"' in form
    response = logged_in.post(
        f"/clients/{client.id}/edit", {"edit-name": "Jane Q. Doe", "edit-email": "", "edit-timezone": ""}, htmx=True
    )
    assert response.status_code == 200
    assert (client.name, client.email, client.timezone) == ("Jane Q. Doe", None, None)
    assert client.zone.key == "Europe/Prague"  # the therapist's zone

    bad = logged_in.post(f"/clients/{client.id}/edit", {"edit-name": ""}, htmx=True)
    assert bad.status_code == 422 and "Enter name." in bad.get_data(as_text=True)
    assert client.name == "Jane Q. Doe"

    logged_in.post(f"/clients/{client.id}/archive", {}, htmx=True)
    assert client.archived_at is not None
    assert "Jane" not in logged_in.get("/clients/", htmx=True).get_data(as_text=True)
    assert "Jane" in logged_in.get("/clients/?archived=1", htmx=True).get_data(as_text=True)
    logged_in.post(f"/clients/{client.id}/restore", {})
    assert client.archived_at is None


def test_search_answers_the_results_fragment(logged_in):
    add_jane(logged_in)
    add_jane(logged_in, **{"add-name": "Mark Twain", "add-email": "mark@example.com"})
    fragment = logged_in.get("/clients/?q=twa", htmx=True).get_data(as_text=True)
    assert "Mark Twain" in fragment and "Jane Doe" not in fragment and "<html" not in fragment
    full = logged_in.get("/clients/?q=twa").get_data(as_text=True)
    assert "<html" in full and "Mark Twain" in full and 'value="twa"' in full


def test_room_link_opens_a_room_page_with_nothing_personal(logged_in, client):
    jane = add_jane(logged_in)
    details = logged_in.get(f"/clients/{jane.id}").get_data(as_text=True)
    path = room_path(details)
    visitor = client.__class__(client.client.application.test_client())
    response = visitor.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dana Whitfield" in page
    for private in ("Jane", "jane@example.com", "Prefers mornings", "555"):
        assert private not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert "Set-Cookie" not in response.headers  # no session for visitors


def test_replaced_link_and_archived_client_answer_404(logged_in, client):
    jane = add_jane(logged_in)
    old = room_path(logged_in.get(f"/clients/{jane.id}").get_data(as_text=True))
    response = logged_in.post(f"/clients/{jane.id}/room-link", {}, htmx=True)
    assert "The old link no longer works." in response.get_data(as_text=True)
    new = room_path(response.get_data(as_text=True))
    assert new != old
    visitor = client.__class__(client.client.application.test_client())
    gone = visitor.get(old)
    assert gone.status_code == 404
    assert "This link is no longer valid" in gone.get_data(as_text=True)
    assert "ask your therapist for a new link" in gone.get_data(as_text=True).lower()
    assert visitor.get(new).status_code == 200
    logged_in.post(f"/clients/{jane.id}/archive", {})
    assert visitor.get(new).status_code == 404


def test_unknown_tokens_and_slugs_are_rate_limited(client):
    for attempt in range(10):
        assert client.get(f"/r/guess{attempt}").status_code == 404
    assert client.get("/r/guess-eleven").status_code == 429
    assert client.get("/u/some-slug").status_code == 429


def test_personal_link_opens_the_lobby_and_follows_slug_changes(logged_in, client):
    therapist = db.session.scalar(select(Therapist))
    old_slug = therapist.personal_slug
    tab = logged_in.get("/account/personal-link").get_data(as_text=True)
    assert f"http://127.0.0.1:5000/u/{old_slug}" in tab and "Copy link" in tab
    visitor = client.__class__(client.client.application.test_client())
    lobby = visitor.get(f"/u/{old_slug}")
    assert lobby.status_code == 200 and "Dana Whitfield" in lobby.get_data(as_text=True)
    assert 'for="visitor-name"' in lobby.get_data(as_text=True)
    assert "Set-Cookie" not in lobby.headers

    response = logged_in.post("/account/personal-link", {"slug": "dana-room"}, htmx=True)
    assert response.status_code == 200 and "/u/dana-room" in response.get_data(as_text=True)
    assert visitor.get(f"/u/{old_slug}").status_code == 404
    assert visitor.get("/u/dana-room").status_code == 200


@pytest.mark.parametrize(
    "slug, message, live_message",
    [
        ("Dana Room", "lowercase", "lowercase"),
        ("ab", "3 to 40", "3 to 40"),
        # The form's length limit speaks first on save; the live check as you type gives the range.
        ("a" * 41, "at most 40", "3 to 40"),
        ("olga-room", "already taken", "already taken"),
    ],
)
def test_bad_or_taken_slug_is_refused(logged_in, slug, message, live_message):
    clients.change_slug(make_therapist(name="Olga", email="olga@example.com"), "olga-room")
    before = db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com")).personal_slug
    response = logged_in.post("/account/personal-link", {"slug": slug}, htmx=True)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(Therapist).filter_by(email_key="dana@example.com")).personal_slug == before
    check = logged_in.get(f"/account/personal-link/check?slug={slug}", htmx=True).get_data(as_text=True)
    assert live_message in check


def test_client_actions_need_the_csrf_token(logged_in):
    jane = add_jane(logged_in)
    response = logged_in.post(f"/clients/{jane.id}/archive", {}, csrf=False)
    assert response.status_code == 400
    assert jane.archived_at is None
