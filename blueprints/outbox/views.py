from flask import Response, render_template
from flask_login import current_user, login_required

import mail
from blueprints import attachment, owned
from blueprints.outbox import bp
from models import OutboxMessage

# The HTML part of a kept email is shown in a sandboxed iframe (no scripts, its own opaque origin). Its own page
# may use the inline styles emails are made of and data: images, and nothing else: no script, no font, no request
# out, and only Hearth's pages may frame it.
MESSAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)


@bp.before_request
@login_required
def require_login():
    """A therapist's outbox holds their clients' addresses: for them only."""


@bp.get("/")
def index():
    return render_template("outbox/index.html", messages=mail.outbox(current_user), delivery_on=mail.delivery_enabled())


@bp.get("/<int:message_id>")
def show(message_id: int):
    """One kept message, as the recipient would see it."""
    message = owned(OutboxMessage, message_id)
    return render_template("outbox/show.html", message=message, email=mail.read(message))


@bp.get("/<int:message_id>/message.html")
def message_html(message_id: int):
    """The message's HTML part, for the reader's sandboxed iframe."""
    html = mail.read(owned(OutboxMessage, message_id))["html"]
    if html is None:
        return Response("This message has no HTML part.", status=404, mimetype="text/plain")
    return Response(
        html,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": MESSAGE_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@bp.get("/<int:message_id>.eml")
def download_eml(message_id: int):
    message = owned(OutboxMessage, message_id)
    return attachment(message.raw, "message/rfc822", f"hearth-{message.id}.eml")


@bp.get("/<int:message_id>/invite.ics")
def download_ics(message_id: int):
    message = owned(OutboxMessage, message_id)
    invite = message.invite()
    if invite is None:
        return render_template(
            "errors/error.html", title="This message holds no invite", message="Download the email (.eml) instead."
        ), 404
    return attachment(invite, "text/calendar", f"invite-{message.id}.ics")
