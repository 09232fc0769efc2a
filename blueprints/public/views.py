import hashlib
from datetime import timezone

from flask import Response, redirect, render_template, request, url_for
from flask_login import current_user

import accounts
import booking
import clients
import invites
from blueprints.public import bp
from extensions import limiter

# Wrong tokens and slugs count against the visitor, across both kinds of link: links cannot be found by trying many.
link_misses = limiter.shared_limit("10 per minute", scope="link-miss", deduct_when=lambda r: r.status_code == 404)


def _link_page(template: str, status: int = 200, **context):
    """Room and lobby pages: no referrer leaks the link, search engines keep out."""
    headers = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
    return render_template(template, **context), status, headers


def _dead_link():
    return _link_page(
        "public/dead_link.html",
        404,
        title="This link is no longer valid",
        message="Ask your therapist for a new link.",
    )


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("sessions.index"))
    return render_template("public/index.html")


@bp.get("/r/<token>")
@link_misses
def room(token: str):
    client = clients.open_room(token)
    if client is None:
        return _dead_link()
    return _link_page("public/room.html", therapist=client.therapist, client_zone=client.zone,
                      next_session=clients.next_session(client))


@bp.get("/u/<slug>")
@link_misses
def lobby(slug: str):
    therapist = clients.therapist_by_slug(slug)
    if therapist is None:
        return _dead_link()
    return _link_page("public/lobby.html", therapist=therapist)


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
