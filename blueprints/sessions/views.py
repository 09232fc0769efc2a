from flask import Response, flash, redirect, url_for
from flask_login import current_user, login_required
from htmx_flask import request
from sqlalchemy import select

import booking
import invites
import mail
from blueprints import owned, render
from blueprints.sessions import bp
from blueprints.sessions.forms import BookingForm, ResendForm
from extensions import db
from models import Appointment, Client, utcnow

BOOK = "sessions/book.html"
SHOW = "sessions/show.html"


@bp.before_request
@login_required
def require_login():
    """Booking and every session page are for the logged-in therapist only."""


@bp.get("/")
def index():
    now = utcnow()
    mine = select(Appointment).filter_by(therapist_id=current_user.id).join(Appointment.client)
    upcoming = db.session.scalars(mine.where(Appointment.ends_at > now).order_by(Appointment.starts_at).limit(200))
    past = db.session.scalars(mine.where(Appointment.ends_at <= now).order_by(Appointment.starts_at.desc()).limit(50))
    return render("sessions/index.html", "sessions", upcoming=list(upcoming), past=list(past))


def _booking_form(**kwargs) -> BookingForm:
    form = BookingForm(current_user, **kwargs)
    return form


@bp.get("/book")
def book():
    form = _booking_form(formdata=None)
    preselect = request.args.get("client", type=int)
    if preselect is not None:
        form.client.data = owned(Client, preselect).id
    return render(BOOK, "booking", form=form)


@bp.get("/book/preview")
def preview():
    """The times on both sides, and any problem, while the therapist fills in the form."""
    form = _booking_form(formdata=request.args, meta={"csrf": False})
    ready = form.validate()
    return render(BOOK, "preview", form=form, ready=ready)


@bp.post("/book")
def create():
    # The same form arriving twice (double click, resubmission) shows the first booking again.
    if done := booking.existing_booking(current_user, request.form.get("booking_key", "")):
        return _confirmation(done, [], already=True)
    form = _booking_form()
    if not form.validate():
        return render(BOOK, "booking", 422, form=form)
    try:
        appointment = booking.book(current_user, form.client_row, form.slot, form.booking_key.data)
    except booking.Conflict as error:  # booked by another tab between validation and commit
        form.start_time.errors.append(str(error))
        return render(BOOK, "booking", 422, form=form)
    deliveries = invites.send(appointment)
    return _confirmation(appointment, deliveries, ambiguous=form.slot.ambiguous)


def _confirmation(appointment: Appointment, deliveries, **context):
    return render(BOOK, "booking", appointment=appointment, deliveries=deliveries,
                  delivery_on=mail.delivery_enabled(), resend_form=ResendForm(formdata=None), **context)


@bp.get("/<int:appointment_id>")
def show(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    return render(SHOW, "details", appointment=appointment, resend_form=ResendForm(formdata=None),
                  delivery_on=mail.delivery_enabled())


ROLES = {"both": (invites.CLIENT, invites.THERAPIST), "client": (invites.CLIENT,), "therapist": (invites.THERAPIST,)}


@bp.post("/<int:appointment_id>/resend")
def resend(appointment_id: int):
    """Send the current version again (same UID and SEQUENCE), to either side or both."""
    appointment = owned(Appointment, appointment_id)
    form = ResendForm()
    if not form.validate() or form.send_to.data not in ROLES:
        return render(SHOW, "details", 422, appointment=appointment, resend_form=form, delivery_on=mail.delivery_enabled())
    method = invites.CANCEL if appointment.is_cancelled else invites.REQUEST
    deliveries = invites.send(appointment, method, ROLES[form.send_to.data])
    message = _delivery_summary(deliveries)
    if request.htmx:
        return render(SHOW, "details", appointment=appointment, resend_form=ResendForm(formdata=None),
                      delivery_on=mail.delivery_enabled(), saved=message)
    flash(message)
    return redirect(url_for("sessions.show", appointment_id=appointment.id), 303)


def _delivery_summary(deliveries) -> str:
    failed = [d.recipient for d in deliveries if d.status == "failed"]
    if failed:
        return "Could not send to " + ", ".join(failed) + ". See the invite log."
    if all(d.status == "outbox" for d in deliveries):
        return "Invites placed in your Outbox (email delivery is off)."
    return "Invites sent again."


@bp.get("/<int:appointment_id>/invite.ics")
def download_ics(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    body = invites.calendar(appointment, invites.THERAPIST, method=None)
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="session-{appointment.id}.ics"'})
