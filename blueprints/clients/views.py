import functools

from flask import url_for
from flask_login import current_user, login_required
from htmx_flask import request
from jinja2_fragments.flask import render_blocks
from sqlalchemy.orm import joinedload
from werkzeug.local import LocalProxy

import booking
import clients
import invites
import reminders
import schedule
import series
from blueprints import committing, delivery_summary, note, number_arg, owned, render, saved
from blueprints.clients import bp
from blueprints.clients.forms import ArchiveForm, ClientForm
from formats import zone_name
from models import Client
from validation import Invalid

SCREEN = "clients/index.html"


@bp.before_request
@login_required
def require_login():
    """The client list and every client action are for the logged-in therapist only."""


def _list_args() -> dict:
    return {
        "query": request.args.get("q", "").strip()[:200],
        "archived": request.args.get("archived") == "1",
        "page": number_arg("page", "page number", 1),
    }


def _client_form(client: Client | None = None, **kwargs) -> ClientForm:
    form = ClientForm(obj=client, prefix="edit" if client else "add", **kwargs)
    form.timezone.blank_label = f"Same as mine: {zone_name(current_user.timezone)}"
    return form


def _context(client: Client | None = None, **context) -> dict:
    """Everything the Clients screen shows: the list as the URL asks for it, and one client's details."""
    args = _list_args()
    # Loaded only if the list is drawn: a Client details fragment does not need it.
    listing = LocalProxy(functools.cache(lambda: clients.search(current_user, **args)))
    upcoming, past = schedule.client_sessions(client) if client else ([], [])
    # The booked sessions a Replace link or an Archive would touch, named in their confirmations.
    booked = LocalProxy(functools.cache(lambda: booking.upcoming(client, deliveries=True) if client else []))
    context.setdefault("archive_form", ArchiveForm(formdata=None))
    return {
        "listing": listing,
        **args,
        "client": client,
        "upcoming": upcoming,
        "past": past,
        "series_labels": series.labels(upcoming + past),
        # Each series still going on, with its next session: "Weekly on Tuesdays at 10:00 · next Tue 8 Dec".
        "ongoing_series": series.ongoing(client, current_user.zone) if client else [],
        "booked": booked,
        **context,
    }


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
    client = clients.add(
        current_user, before_commit=lambda new: note("client_added", new.name, commit=False), **form.client_data()
    )
    return _after_change(client, "Client added.")


# Client details show the room link: it comes with the client, in one statement.
WITH_ROOM_LINK = joinedload(Client.active_room_link)


@bp.get("/<int:client_id>")
def show(client_id: int):
    client = owned(Client, client_id, WITH_ROOM_LINK)
    return render(SCREEN, "details", **_context(client))


@bp.get("/<int:client_id>/edit")
def edit(client_id: int):
    client = owned(Client, client_id, WITH_ROOM_LINK)
    return render(SCREEN, "details", **_context(client, edit_form=_client_form(client, formdata=None)))


def _after_change(client: Client, message: str):
    """htmx gets the refreshed fragments; a plain form post goes back to the client's page."""
    return saved(message, lambda **notice: _fragments(client, **notice), url_for("clients.show", client_id=client.id))


@bp.post("/<int:client_id>/edit")
def update(client_id: int):
    client = owned(Client, client_id)
    form = _client_form(client)
    if form.validate():
        ready = []  # the messages, made before the commit: one that cannot be written saves nothing
        try:
            change = clients.update(
                client,
                before_commit=committing(
                    ready,
                    lambda moved: invites.prepare_address_change(moved) if moved else None,
                    "client_changed",
                    lambda _: client.name,
                ),
                **form.client_data(),
            )
        except Invalid as error:  # no address for booked sessions, or an invite that cannot be written
            form.email.errors.append(str(error))
        else:
            message = "Changes saved."
            if change:
                deliveries = _sent(invites.deliver(ready))
                message += (
                    f" {_count(change.sessions)} moved to {client.email}: a cancellation went to {change.old}"
                    f" and the invites to the new address. " + delivery_summary(deliveries, "Invites")
                )
            return _after_change(client, message)
    return render(SCREEN, "details", 422, **_context(client, edit_form=form))


def _count(sessions) -> str:
    return f"{len(sessions)} upcoming session{'' if len(sessions) == 1 else 's'}"


def _sent(deliveries):
    """Log what was sent, in the activity log, with the change it follows."""
    if deliveries:
        note("invites_sent", "; ".join(f"{d.method} to {d.recipient} ({d.status})" for d in deliveries))
    return deliveries


@bp.post("/<int:client_id>/archive")
def archive(client_id: int):
    client = owned(Client, client_id)
    form = ArchiveForm()
    cancel_sessions = request.form.get("cancel_sessions") == "1"
    if not form.validate():
        return render(SCREEN, "details", 422, **_context(client, archive_form=form, confirm_archive=True))
    ready = []  # the cancellations, made before the commit: one that cannot be written archives nothing
    message = form.message.data or None

    def announce(sessions):
        """The cancellations, built, and the log's entries, stored with the archive in one commit."""
        ready.extend(invites.prepare_updates(sessions, invites.CANCEL, note=message))
        note("client_archived", client.name, commit=False)
        for appointment in sessions:
            when = booking.local_time(appointment.starts_at, current_user.timezone)
            note("session_cancelled", f"{client.name}, {when}", commit=False)

    try:
        cancelled = clients.archive(client, cancel_sessions=cancel_sessions, before_commit=announce)
    except (clients.HasUpcoming, invites.Unbuildable) as error:  # booked since the page was drawn, or no choice
        return render(
            SCREEN, "details", 422, **_context(client, archive_form=form, confirm_archive=True, problem=str(error))
        )
    message = "Client archived. Their room link no longer opens."
    if cancelled:
        deliveries = _sent(invites.deliver(ready))
        message += f" {_count(cancelled)} cancelled. " + delivery_summary(deliveries, "Cancellations")
    return _after_change(client, message)


@bp.post("/<int:client_id>/restore")
def restore(client_id: int):
    client = owned(Client, client_id)
    clients.restore(client, before_commit=lambda: note("client_restored", client.name, commit=False))
    return _after_change(client, "Client restored, with a new room link.")


@bp.post("/<int:client_id>/room-link")
def replace_room_link(client_id: int):
    client = owned(Client, client_id)
    ready = []  # the updates, made before the commit: one that cannot be written keeps the old link
    try:
        _, updated = clients.replace_room_link(
            client,
            before_commit=committing(
                ready,
                lambda sessions: invites.prepare_updates(sessions, reason=invites.NEW_LINK),
                "room_link_replaced",
                lambda _: client.name,
            ),
        )
    except invites.Unbuildable as error:
        return render(SCREEN, "details", 422, **_context(client, link_problem=str(error)))
    message = "New room link issued. The old link no longer works."
    if updated:
        deliveries = _sent(invites.deliver(ready))
        message += f" {_count(updated)} updated with the new link. " + delivery_summary(deliveries, "Updates")
    return _after_change(client, message)


@bp.post("/<int:client_id>/resend-failed")
def resend_failed(client_id: int):
    """Send again, to whoever did not get it, the current version of each upcoming session."""
    client = owned(Client, client_id)
    count, deliveries = invites.resend_failed(booking.upcoming(client, deliveries=True))
    _sent(deliveries)
    if not deliveries:
        return _after_change(client, "Every invite reached the mail server already; nothing was sent again.")
    return _after_change(
        client,
        f"{count} upcoming session{'' if count == 1 else 's'} sent again. " + delivery_summary(deliveries, "Invites"),
    )


@bp.post("/<int:client_id>/reminders")
def set_reminders(client_id: int):
    """Exclude a client from reminder emails, or include them again."""
    client = owned(Client, client_id)
    off = request.form.get("reminders") == "off"
    note("client_reminders_changed", f"{client.name}: {'off' if off else 'on'}", commit=False)
    reminders.set_client_opt_out(client, off)
    return _after_change(client, f"No reminders for {client.name}." if off else f"{client.name} gets reminders again.")
