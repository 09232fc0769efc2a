import functools

from flask import url_for
from flask_login import current_user, login_required
from htmx_flask import request
from jinja2_fragments.flask import render_blocks
from werkzeug.local import LocalProxy

import clients
import reminders
import schedule
from blueprints import note, owned, render, saved, small_number
from blueprints.clients import bp
from blueprints.clients.forms import ClientForm
from models import Client

SCREEN = "clients/index.html"


@bp.before_request
@login_required
def require_login():
    """The client list and every client action are for the logged-in therapist only."""


def _list_args() -> dict:
    page = small_number(request.args.get("page"), 1)
    return {
        "query": request.args.get("q", "").strip()[:200],
        "archived": request.args.get("archived") == "1",
        "page": max(page, 1),
    }


def _client_form(client: Client | None = None, **kwargs) -> ClientForm:
    form = ClientForm(obj=client, prefix="edit" if client else "add", **kwargs)
    form.timezone.blank_label = f"Same as mine ({current_user.timezone})"
    return form


def _context(client: Client | None = None, **context) -> dict:
    """Everything the Clients screen shows: the list as the URL asks for it, and one client's details."""
    args = _list_args()
    # Loaded only if the list is drawn: a Client details fragment does not need it.
    listing = LocalProxy(functools.cache(lambda: clients.search(current_user, **args)))
    upcoming, past = schedule.client_sessions(client) if client else ([], [])
    return {"listing": listing, **args, "client": client, "upcoming": upcoming, "past": past, **context}


def _fragments(client: Client, status: int = 200, **context):
    """After a change: the client's details, with the list and the add form refreshed out of band."""
    body = render_blocks(SCREEN, ["details", "results", "add_form"], **_context(client, oob=True, **context))
    return body, status, {"HX-Push-Url": url_for("clients.show", client_id=client.id)}


@bp.get("/")
def index():
    context = _context()
    if request.args.get("add") == "1":
        context["add_form"] = _client_form(formdata=None)
    return render(SCREEN, "results", **context)


@bp.get("/new")
def new():
    form = None if request.args.get("cancel") else _client_form(formdata=None)
    return render(SCREEN, "add_form", **_context(add_form=form))


@bp.post("/")
def create():
    form = _client_form()
    if not form.validate():
        response = render(SCREEN, "add_form", 422, **_context(add_form=form))
        response[2].update({"HX-Retarget": "#add-client", "HX-Reswap": "outerHTML"})
        return response
    client = clients.add(current_user, **form.client_data())
    note("client_added", client.name)
    return _after_change(client, "Client added.")


@bp.get("/<int:client_id>")
def show(client_id: int):
    client = owned(Client, client_id)
    return render(SCREEN, "details", **_context(client))


@bp.get("/<int:client_id>/edit")
def edit(client_id: int):
    client = owned(Client, client_id)
    return render(SCREEN, "details", **_context(client, edit_form=_client_form(client, formdata=None)))


def _after_change(client: Client, message: str):
    """htmx gets the refreshed fragments; a plain form post goes back to the client's page."""
    return saved(message, lambda **notice: _fragments(client, **notice), url_for("clients.show", client_id=client.id))


@bp.post("/<int:client_id>/edit")
def update(client_id: int):
    client = owned(Client, client_id)
    form = _client_form(client)
    if not form.validate():
        return render(SCREEN, "details", 422, **_context(client, edit_form=form))
    clients.update(client, **form.client_data())
    note("client_changed", client.name)
    return _after_change(client, "Changes saved.")


@bp.post("/<int:client_id>/archive")
def archive(client_id: int):
    client = owned(Client, client_id)
    clients.archive(client)
    note("client_archived", client.name)
    return _after_change(client, "Client archived. Their room link no longer opens.")


@bp.post("/<int:client_id>/restore")
def restore(client_id: int):
    client = owned(Client, client_id)
    clients.restore(client)
    note("client_restored", client.name)
    return _after_change(client, "Client restored.")


@bp.post("/<int:client_id>/room-link")
def replace_room_link(client_id: int):
    client = owned(Client, client_id)
    clients.replace_room_link(client)
    note("room_link_replaced", client.name)
    return _after_change(client, "New room link issued. The old link no longer works.")


@bp.post("/<int:client_id>/reminders")
def set_reminders(client_id: int):
    """Exclude a client from reminder emails, or include them again."""
    client = owned(Client, client_id)
    off = request.form.get("reminders") == "off"
    note("client_reminders_changed", f"{client.name}: {'off' if off else 'on'}", commit=False)
    reminders.set_client_opt_out(client, off)
    return _after_change(client, f"No reminders for {client.name}." if off else f"{client.name} gets reminders again.")
