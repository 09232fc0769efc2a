import hashlib

from flask import Response, redirect, render_template, request, url_for
from flask_login import current_user

import accounts
import booking
import invites
import reminders
from blueprints import dead_link, link_misses, link_page
from blueprints.public import bp
from extensions import csrf


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("sessions.today"))
    return render_template("public/index.html")


@bp.get("/feed/<token>.ics")
@link_misses
def feed(token: str):
    """The therapist's private calendar subscription, with ETag and Last-Modified for polite polling."""
    therapist = accounts.by_feed_token(token)
    if therapist is None:
        return dead_link()
    sessions = booking.feed_sessions(therapist)
    body = invites.feed(sessions)
    response = Response(body, mimetype="text/calendar")
    response.set_etag(hashlib.sha256(body).hexdigest())
    if sessions:
        response.last_modified = max(s.updated_at for s in sessions)
    response.headers.update(
        {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}
    )
    return response.make_conditional(request)


# "Confirm I'll be there", from a reminder email. The unguessable token is what authorises the POST
# (no cookie is involved, so CSRF does not apply); a GET only shows the page, so mail scanners that
# follow links confirm nothing.


def _confirm_page(reminder, token: str, done: bool = False):
    appointment = reminder.appointment
    return link_page(
        "public/confirm.html",
        token=token,
        appointment=appointment,
        zone=appointment.client.zone.key,
        therapist=appointment.therapist,
        done=done,
    )


@bp.get("/confirm/<token>")
@link_misses
def confirm(token: str):
    reminder = reminders.find_confirmation(token)
    if reminder is None:
        return link_page(
            "public/dead_link.html",
            404,
            title="This link is no longer valid",
            message="It was used already, or the session has changed. Reply to your reminder email to reach your therapist.",
        )
    return _confirm_page(reminder, token)


@bp.post("/confirm/<token>")
@csrf.exempt
@link_misses
def confirm_post(token: str):
    reminder = reminders.find_confirmation(token)
    if reminder is None or not reminders.confirm(reminder):
        return link_page(
            "public/dead_link.html",
            404,
            title="This link is no longer valid",
            message="It was used already, or the session has changed. Reply to your reminder email to reach your therapist.",
        )
    return _confirm_page(reminder, token, done=True)
