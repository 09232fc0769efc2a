from email import message_from_bytes, policy

from flask import Response, render_template
from flask_login import current_user, login_required

import mail
from blueprints import attachment, owned
from blueprints.outbox import bp
from models import OutboxMessage


@bp.before_request
@login_required
def require_login():
    """A therapist's outbox holds their clients' addresses: for them only."""


@bp.get("/")
def index():
    return render_template("outbox/index.html", messages=mail.outbox(current_user), delivery_on=mail.delivery_enabled())


@bp.get("/<int:message_id>.eml")
def download_eml(message_id: int):
    message = owned(OutboxMessage, message_id)
    return attachment(message.raw, "message/rfc822", f"hearth-{message.id}.eml")


@bp.get("/<int:message_id>/invite.ics")
def download_ics(message_id: int):
    message = owned(OutboxMessage, message_id)
    parsed = message_from_bytes(message.raw, policy=policy.default)
    for part in parsed.walk():
        if part.get_content_type() == "text/calendar":
            return attachment(part.get_payload(decode=True), "text/calendar", f"invite-{message.id}.ics")
    return Response("This message holds no invite.", status=404)
