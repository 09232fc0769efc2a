import hashlib
from datetime import timezone

from flask import Response, redirect, render_template, request, url_for
from flask_login import current_user

import accounts
import booking
import clients
import invites
import reminders
from blueprints import link_misses, link_page
from extensions import csrf
from blueprints.public import bp



def _dead_link():
    return link_page(
        "public/dead_link.html",
        404,
        title="This link is no longer valid",
        message="Ask your therapist for a new link.",
    )


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("sessions.today"))
    return render_template("public/index.html")


@bp.get("/r/<token>")
@link_misses
def room(token: str):
    client = clients.open_room(token)
    if client is None:
        return _dead_link()
    therapist = client.therapist
    return link_page("rooms/room.html", call=True, title=f"Your session room with {therapist.name}", host_name=therapist.name,
                     other_name=therapist.name, room_key=f"r-{token[:8]}", join_url=url_for("rooms.client_join", token=token),
                     waiting_text=f"Waiting for {therapist.name} to join…", client_zone=client.zone,
                     next_session=clients.next_session(client))


@bp.get("/u/<slug>")
@link_misses
def lobby(slug: str):
    therapist = clients.therapist_by_slug(slug)
    if therapist is None:
        return _dead_link()
    return link_page("rooms/room.html", call=True, title=f"{therapist.name}’s room", host_name=therapist.name,
                     other_name=therapist.name, room_key=f"u-{slug}", knock_url=url_for("rooms.knock", slug=slug),
                     waiting_text=f"Waiting for {therapist.name} to join…")


@bp.get("/feed/<token>.ics")
@link_misses
def feed(token: str):
    """The therapist's private calendar subscription, with ETag and Last-Modified for polite polling."""
    therapist = accounts.by_feed_token(token)
    if therapist is None:
        return _dead_link()
    sessions = booking.feed_sessions(therapist)
    body = invites.feed(sessions)
    response = Response(body, mimetype="text/calendar")
    response.set_etag(hashlib.sha256(body).hexdigest())
    if sessions:
        response.last_modified = max(s.updated_at for s in sessions).replace(tzinfo=timezone.utc)
    response.headers.update({"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer",
                             "X-Robots-Tag": "noindex, nofollow"})
    return response.make_conditional(request)


# "Confirm I'll be there", from a reminder email. The unguessable token is what authorises the POST
# (no cookie is involved, so CSRF does not apply); a GET only shows the page, so mail scanners that
# follow links confirm nothing.

def _confirm_page(reminder, token: str, done: bool = False):
    appointment = reminder.appointment
    return link_page("public/confirm.html", token=token, appointment=appointment, zone=appointment.client.zone.key,
                     therapist=appointment.therapist, done=done)


@bp.get("/confirm/<token>")
@link_misses
def confirm(token: str):
    reminder = reminders.find_confirmation(token)
    if reminder is None:
        return link_page("public/dead_link.html", 404, title="This link is no longer valid",
                         message="It was used already, or the session has changed. Reply to your reminder email to reach your therapist.")
    return _confirm_page(reminder, token)


@bp.post("/confirm/<token>")
@csrf.exempt
@link_misses
def confirm_post(token: str):
    reminder = reminders.find_confirmation(token)
    if reminder is None or not reminders.confirm(reminder):
        return link_page("public/dead_link.html", 404, title="This link is no longer valid",
                         message="It was used already, or the session has changed. Reply to your reminder email to reach your therapist.")
    return _confirm_page(reminder, token, done=True)
