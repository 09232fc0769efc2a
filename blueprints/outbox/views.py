from flask import render_template
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
    invite = message.invite()
    if invite is None:
        return render_template("errors/error.html", title="This message holds no invite",
                               message="Download the email (.eml) instead."), 404
    return attachment(invite, "text/calendar", f"invite-{message.id}.ics")
