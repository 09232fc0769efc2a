from datetime import date, time, timedelta

from flask import redirect, url_for
from flask_login import current_user, login_required
from htmx_flask import request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.local import LocalProxy

import booking
import clients
import invites
import mail
import quota
import reminders
import schedule
import series
from blueprints import attachment, committing, delivery_summary, local_time, note, number_arg, owned, render, saved
from blueprints.sessions import bp
from blueprints.sessions.forms import BookingForm, CancelForm, RescheduleForm, ResendForm
from extensions import db
from formats import zone_city
from models import Appointment, Client, DeliveryStatus, ReminderStatus, SessionStatus, utcnow
from validation import Invalid

BOOK = "sessions/book.html"
SHOW = "sessions/show.html"
START_SESSION_EARLY = timedelta(minutes=15)  # "Start session" shows this long before the start
RESEND_LIMIT = "3 per hour"  # per session
ROLES = {"both": (invites.CLIENT, invites.THERAPIST), "client": (invites.CLIENT,), "therapist": (invites.THERAPIST,)}


@bp.before_request
@login_required
def require_login():
    """Booking and every session page are for the logged-in therapist only."""


def _iso_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None


def _urls(endpoint: str, *keys: str, **values):
    """url_for(endpoint, key=…, …) for the many rows of one page: built once with markers, then filled in by
    position (url_for itself costs more than the rest of a row of Today or of the week)."""
    # Valid ids (the converter's largest) whose digits appear nowhere else in the URL.
    markers = [str(2**31 - 1 - n) for n in range(len(keys))]
    pattern = url_for(endpoint, **dict(zip(keys, markers, strict=True)), **values)
    for n, marker in enumerate(markers):
        pattern = pattern.replace(marker, f"{{{n}}}")
    return pattern.format


def _shows_all() -> bool:
    """?all=1: Today and the week with every session of a day over schedule.DAY_LIMIT."""
    return request.args.get("all") == "1"


@bp.get("/today")
def today():
    """The home page: today's sessions with Start session, the countdown, who is in a room, first steps.
    A day over schedule.DAY_LIMIT shows the sessions around now, and all of them with ?all=1."""
    now = utcnow()
    show_all = _shows_all()  # kept by the 30 s refresh and by marking attendance
    kept = {"all": 1} if show_all else {}
    return render(
        "sessions/today.html",
        "today",
        day=schedule.today(current_user, now, limit=None if show_all else schedule.DAY_LIMIT),
        now=now,
        soon=now + schedule.START_EARLY,
        countdown=schedule.countdown,
        show_all=show_all,
        attendance_choices=Appointment.ATTENDANCE,
        show_url=_urls("sessions.show", "appointment_id"),
        attendance_url=_urls("sessions.mark_attendance", "appointment_id", **kept),
        start_url=_urls("rooms.client_room", "client_id", join=1),
    )


def _index_screen(status: int = 200, **context):
    """The Sessions list: Upcoming and Past, or the Cancelled filter; and the CSV export form."""
    now = utcnow()
    show_cancelled = request.args.get("show") == "cancelled"
    # Each row shows its client and invite state: load them with the page, not one query a row.
    mine = (
        select(Appointment)
        .filter_by(therapist_id=current_user.id)
        .options(selectinload(Appointment.client), selectinload(Appointment.deliveries))
    )
    if show_cancelled:
        upcoming = db.session.scalars(
            mine.filter_by(status=SessionStatus.CANCELLED).order_by(Appointment.starts_at.desc()).limit(200)
        )
        past = []
    else:
        # Bounding starts_at as well lets the (therapist, starts_at) index find both lists without a scan.
        recent_start = now - timedelta(minutes=booking.MAX_MINUTES)
        upcoming = db.session.scalars(
            mine.filter_by(status=SessionStatus.SCHEDULED)
            .where(Appointment.starts_at > recent_start, Appointment.ends_at > now)
            .order_by(Appointment.starts_at)
            .limit(200)
        )
        past = db.session.scalars(
            mine.filter_by(status=SessionStatus.SCHEDULED)
            .where(Appointment.starts_at <= now, Appointment.ends_at <= now)
            .order_by(Appointment.starts_at.desc())
            .limit(50)
        )
    today_local = schedule.local_today(current_user, now)
    context.setdefault("export_from", today_local.replace(day=1).isoformat())
    context.setdefault("export_to", today_local.isoformat())
    upcoming, past = list(upcoming), list(past)
    return render(
        "sessions/index.html",
        "sessions",
        status,
        upcoming=upcoming,
        past=past,
        now=now,
        soon=now + schedule.START_EARLY,
        show_cancelled=show_cancelled,
        first_run=not (upcoming or past or show_cancelled) and not _has_sessions(),
        has_clients=upcoming or past or clients.has_active(current_user),
        series_labels=series.labels(upcoming + past),
        **context,
    )


def _has_sessions() -> bool:
    """Whether the therapist ever booked (a cancelled session counts): the first-run card is for new accounts."""
    return db.session.scalar(select(Appointment.id).filter_by(therapist_id=current_user.id).limit(1)) is not None


@bp.get("/")
def index():
    return _index_screen()


@bp.get("/export.csv")
def export_csv():
    """Sessions in a date range with attendance marks; a wrong range is explained on the Sessions page."""
    raw_from, raw_to = request.args.get("from", "")[:20], request.args.get("to", "")[:20]
    first, last = _iso_date(raw_from), _iso_date(raw_to)
    try:
        if first is None or last is None:
            raise Invalid("Enter both dates, as on the calendar (YYYY-MM-DD).")
        body = schedule.sessions_csv(current_user, first, last)
    except Invalid as error:
        return _index_screen(422, export_error=str(error), export_from=raw_from, export_to=raw_to)
    return attachment(body, "text/csv", f"hearth-sessions-{first}-to-{last}.csv")


@bp.get("/week")
def week():
    """Seven days by half-hours; previous and next week swap the grid in place (htmx) with the URL pushed.
    A day over schedule.DAY_LIMIT ends in "+N more", a link to the same week with every session (?all=1)."""
    day = _iso_date(request.args.get("date"))
    if day is None or not schedule.EARLIEST <= day <= schedule.LATEST:  # 9999-12-31 has no next week
        day = schedule.local_today(current_user)
    show_all = _shows_all()
    days = schedule.week(current_user, day, limit=None if show_all else schedule.DAY_LIMIT)
    show_url = _urls("sessions.show", "appointment_id")
    for blocks in days.by_day.values():  # one link a block, shown in the grid and in the phone's day list
        for block in blocks:
            if block.more:  # at most one a day
                iso = block.day.isoformat()
                block.url = url_for("sessions.week", date=iso, all=1, _anchor=f"day-{iso}")
            else:
                block.url = show_url(block.id)
    return render("sessions/week.html", "week", week=days, book_url=_urls("sessions.book", "date", "time"))


# Booking


def _book_screen(block: str, status: int = 200, **context):
    """The booking screen; for a reschedule, `appointment` is the session being moved."""
    return render(
        BOOK,
        block,
        status,
        delivery_on=mail.delivery_enabled(),
        length_choices=booking.LENGTH_CHOICES,
        max_sessions=series.MAX_SESSIONS,
        series_describe=series.describe,
        series_label=series.label,
        has_clients=LocalProxy(lambda: clients.has_active(current_user)),
        min_minutes=booking.MIN_MINUTES,
        max_minutes=booking.MAX_MINUTES,
        **context,
    )


@bp.get("/book")
def book():
    form = BookingForm(current_user, formdata=None)
    if (preselect := number_arg("client", "client number", digits=12)) is not None:
        form.client.data = owned(Client, preselect).id
    # From an empty half-hour of the week view: ?date=2026-03-02&time=09:30
    if chosen_day := _iso_date(request.args.get("date")):
        form.date.data = chosen_day
    try:
        form.start_time.data = time.fromisoformat(request.args.get("time", ""))
    except ValueError:
        pass
    return _book_screen("booking", form=form)


@bp.get("/book/client-options")
def client_options():
    """The Client select's options for what is typed in Find client, keeping the one chosen."""
    form = BookingForm(current_user, formdata=request.args, meta={"csrf": False})
    form.client.search = request.args.get("client_filter", "").strip()[:200]
    return _book_screen("client_options", form=form)


@bp.get("/book/preview")
def preview():
    """The times on both sides, and any problem, while the therapist fills in the form."""
    form = BookingForm(current_user, formdata=request.args, meta={"csrf": False})
    return _book_screen("preview", form=form, checked=form.validate())


@bp.post("/book")
def create():
    # The same form arriving twice (double click, resubmission) shows the first booking again.
    if done := booking.existing_booking(current_user, request.form.get("booking_key", "")):
        return _book_screen("booking", booked=done, deliveries=[], already=True)
    if done := series.existing(current_user, request.form.get("booking_key", "")):
        return _book_screen("booking", booked=done.appointments[0], series=done, deliveries=[], already=True)
    form = BookingForm(current_user)
    if not form.validate():
        return _book_screen("booking", 422, form=form, checked=False)
    key = form.booking_key.data if booking.BOOKING_KEY.fullmatch(form.booking_key.data or "") else None
    if form.series_plan is not None:
        return _book_series(form, key)
    ready = []  # the invites, made before the commit: one that cannot be written books nothing
    try:
        appointment, created = booking.book_once(
            current_user,
            form.client_row,
            form.slot,
            key,
            before_commit=committing(
                ready, lambda new: invites.prepare(new, undone=invites.BOOKING), "session_booked", _describe
            ),
        )
    except booking.Conflict as error:  # booked in another tab between validation and commit
        form.start_time.errors.append(str(error))
        return _book_screen("booking", 422, form=form, checked=False)
    except invites.Unbuildable as error:
        form.form_errors.append(str(error))
        return _book_screen("booking", 422, form=form, checked=False)
    if not created:  # the same form, submitted twice at once: the first request booked and sends
        return _book_screen("booking", booked=appointment, deliveries=[], already=True)
    deliveries = _send(appointment, ready)
    return _book_screen("booking", booked=appointment, deliveries=deliveries, ambiguous=form.slot.ambiguous)


def _book_series(form: BookingForm, key: str | None):
    """Book every session of the series in one commit, then send one invite for the whole series."""
    ready = []  # the invite, made before the commit: one that cannot be written books nothing
    try:
        booked, created = series.book(
            form.series_plan,
            key,
            before_commit=committing(
                ready,
                lambda new: invites.prepare_series(new, undone=invites.BOOKING),
                "series_booked",
                lambda new: f"{series.describe(new)}: {_describe(_first_scheduled(new))}",
            ),
        )
    except invites.Unbuildable as error:
        form.form_errors.append(str(error))
        return _book_screen("booking", 422, form=form, checked=False)
    except Invalid as error:  # an overlap booked in another tab between validation and commit
        form.series_error = str(error)
        return _book_screen("booking", 422, form=form, checked=False)
    first = _first_scheduled(booked)
    if not created:
        return _book_screen("booking", booked=first, series=booked, deliveries=[], already=True)
    deliveries = invites.deliver(ready)
    return _book_screen("booking", booked=first, series=booked, deliveries=deliveries)


def _first_scheduled(whole: series.Series) -> Appointment:
    return next(a for a in whole.appointments if a.status == SessionStatus.SCHEDULED)


# Rescheduling


@bp.get("/<int:appointment_id>/reschedule")
def reschedule_form(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    return _book_screen("booking", form=RescheduleForm.prefilled(current_user, appointment), appointment=appointment)


@bp.get("/<int:appointment_id>/reschedule/preview")
def reschedule_preview(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    form = RescheduleForm(current_user, appointment, formdata=request.args, meta={"csrf": False})
    return _book_screen("preview", form=form, checked=form.validate(), appointment=appointment)


@bp.post("/<int:appointment_id>/reschedule")
def reschedule(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    form = RescheduleForm(current_user, appointment)
    if form.validate():
        try:
            if appointment.series is not None and form.scope.data == "following":
                return _reschedule_following(appointment, form)
            ready = []  # the updates, made before the commit: one that cannot be written moves nothing
            booking.reschedule(
                appointment,
                form.slot,
                form.version_seen(),
                before_commit=committing(
                    ready,
                    lambda old: invites.prepare(appointment, moved_from=old),
                    "session_rescheduled",
                    lambda _: _describe(appointment),
                ),
            )
        except booking.Conflict as error:
            form.start_time.errors.append(str(error))
        except Invalid as error:
            form.form_errors.append(str(error))
        else:
            deliveries = _send(appointment, ready)
            return _book_screen(
                "booking", booked=appointment, deliveries=deliveries, moved=True, ambiguous=form.slot.ambiguous
            )
    return _book_screen("booking", 422, form=form, appointment=appointment, checked=False)


def _reschedule_following(appointment: Appointment, form: RescheduleForm):
    """Move this session and the rest of its series: the original re-sent ending before it, a new series after."""
    ready = []  # made before the commit: a message that cannot be written moves nothing

    def announce(original, successor, dropped):
        """The messages, built, and the log's entry, stored with the move in one commit."""
        if successor is not original:  # from its first session the whole series moves: one new version, below
            if _has_scheduled(original):
                ready.append(invites.prepare_series(original, invites.REQUEST, reason=series.ENDS_EARLIER))
            else:
                ready.append(invites.prepare_series(original, invites.CANCEL, reason=series.MOVED_AWAY))
        ready.append(invites.prepare_series(successor, invites.REQUEST))
        when = [local_time(a.starts_at, current_user.timezone) for a in dropped]
        skipped = f"; skipped and cancelled: {', '.join(when)}" if dropped else ""
        note(
            "session_rescheduled",
            f"this and following: {_describe(_shown(appointment, successor))}{skipped}",
            commit=False,
        )

    try:
        successor, dropped = series.reschedule_following(
            appointment, form.slot, form.version_seen(), skip=form.skip.data, before_commit=announce
        )
    except Invalid:  # an overlap booked since the form was checked: the list below shows it, with its Skip box
        form.series_plan = series.plan_following(appointment, form.slot, form.skip.data)
        raise
    deliveries = invites.deliver(ready)
    return _book_screen(
        "booking",
        booked=_shown(appointment, successor),
        series=successor,
        deliveries=deliveries,
        moved=True,
        skipped_sessions=dropped,
    )


def _shown(appointment: Appointment, successor: series.Series) -> Appointment:
    """The session a this-and-following move names: this one, unless it was skipped: then the first that moved."""
    return _first_scheduled(successor) if appointment.is_cancelled else appointment


def _has_scheduled(whole: series.Series) -> bool:
    return any(a.status == SessionStatus.SCHEDULED for a in whole.appointments)


# The session page and its tools


def _show(appointment: Appointment, status: int = 200, **context):
    context.setdefault("resend_form", ResendForm(formdata=None))
    context.setdefault("cancel_form", CancelForm(formdata=None, data={"version": appointment.sequence}))
    return render(
        SHOW,
        "details",
        status,
        appointment=appointment,
        delivery_on=mail.delivery_enabled(),
        invite_log=invites.log(appointment),
        now=utcnow(),
        reminder_log=reminders.for_session(appointment),
        reminder_labels=reminders.LABELS,
        attendance_choices=Appointment.ATTENDANCE,
        series_label=series.label(appointment),
        series_describe=series.describe,
        **context,
    )


def _done(appointment: Appointment, message: str):
    return saved(
        message, lambda **notice: _show(appointment, **notice), url_for("sessions.show", appointment_id=appointment.id)
    )


@bp.get("/<int:appointment_id>")
def show(appointment_id: int):
    return _show(owned(Appointment, appointment_id))


@bp.post("/<int:appointment_id>/cancel")
def cancel(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    form = CancelForm()
    if form.validate():
        message = form.message.data or None
        ready = []  # the messages, made before the commit: one that cannot be written cancels nothing
        try:
            if appointment.series is not None and form.scope.data == "series":
                series.cancel_series(
                    appointment.series,
                    form.version_seen(),
                    appointment,
                    before_commit=committing(
                        ready,
                        lambda whole: invites.prepare_series_end(whole, note=message),
                        "session_cancelled",
                        lambda _: f"the whole series: {_describe(appointment)}",
                    ),
                )
                deliveries = invites.deliver(ready)
                return _done(appointment, "Series cancelled. " + delivery_summary(deliveries, "Cancellations"))
            if appointment.series is not None and form.scope.data == "following":
                series.cancel_following(
                    appointment,
                    form.version_seen(),
                    # Re-sent ending before this session (UNTIL), or cancelled when nothing was left before it.
                    before_commit=committing(
                        ready,
                        lambda cut: invites.prepare_series_end(cut, note=message),
                        "session_cancelled",
                        lambda _: f"this and following: {_describe(appointment)}",
                    ),
                )
                deliveries = invites.deliver(ready)
                return _done(
                    appointment, "This and following sessions cancelled. " + delivery_summary(deliveries, "Updates")
                )
            booking.cancel(
                appointment,
                form.version_seen(),
                before_commit=committing(
                    ready,
                    lambda: invites.prepare(appointment, invites.CANCEL, note=message),
                    "session_cancelled",
                    lambda: _describe(appointment),
                ),
            )
        except Invalid as error:
            form.form_errors.append(str(error))
        else:
            deliveries = _send(appointment, ready)
            return _done(appointment, "Session cancelled. " + delivery_summary(deliveries, "Cancellations"))
    return _show(appointment, 422, cancel_form=form)


@bp.post("/<int:appointment_id>/attendance")
def mark_attendance(appointment_id: int):
    """Attended / No-show / Late cancellation, from the session page or from Today (`from=today`)."""
    appointment = owned(Appointment, appointment_id)
    mark = request.form.get("attendance", "")
    try:
        note("attendance_marked", f"{_describe(appointment)}: {Appointment.ATTENDANCE.get(mark, mark)}", commit=False)
        schedule.mark_attendance(appointment, mark)
    except Invalid as error:
        db.session.rollback()
        return _show(appointment, 422, attendance_error=str(error))
    if request.form.get("from") == "today":
        if request.htmx:
            return today()
        kept = {"all": 1} if _shows_all() else {}  # back to the list as it was shown
        return redirect(url_for("sessions.today", **kept), 303)
    return _done(appointment, f"Marked: {appointment.attendance_label}.")


@bp.post("/<int:appointment_id>/reminder/send")
def send_reminder_now(appointment_id: int):
    """Send now, after a reminder's last retry failed."""
    appointment = owned(Appointment, appointment_id)
    failed = reminders.undelivered(appointment)
    if failed is None:
        return _done(appointment, "There is no undelivered reminder for this session.")
    result = reminders.send_now(failed)
    if result is not None and result.status in (ReminderStatus.SENT, ReminderStatus.OUTBOX):
        note("reminder_sent", _describe(appointment))
        return _done(appointment, f"Reminder sent to {result.recipient}.")
    return _done(appointment, "The reminder could not be sent now either. It will not be tried again by itself.")


@bp.post("/<int:appointment_id>/resend")
def resend(appointment_id: int):
    """Send the current version again (same UID and SEQUENCE), to either side or both."""
    appointment = owned(Appointment, appointment_id)
    form = ResendForm()
    if not form.validate():
        return _show(appointment, 422, resend_form=form)
    if form.send_to.data == "failed":  # after a mail fault: no one who already has it gets it twice
        if not (failed := invites.failed([appointment])):
            return _done(appointment, "Every invite reached the mail server already; nothing was sent again.")
        roles = failed[0][1]
    else:
        roles = ROLES[form.send_to.data]
    # Resending is for a lost invite, not a way to flood someone's inbox.
    if not quota.take(RESEND_LIMIT, "resend", appointment.id):
        form.form_errors.append(
            "This session's invites were sent again 3 times in the last hour. "
            "Wait an hour, or download the invite from this page and send it yourself."
        )
        return _show(appointment, 422, resend_form=form)
    if appointment.series is not None and not appointment.is_cancelled:  # the whole series, with its changes
        deliveries = invites.send_series(appointment.series, invites.REQUEST, roles=roles)
        return _done(appointment, delivery_summary(deliveries, "Invites"))
    method = invites.CANCEL if appointment.is_cancelled else invites.REQUEST
    deliveries = _send(appointment, [invites.Outgoing(appointment, method, roles)])  # built as it is sent
    return _done(appointment, delivery_summary(deliveries, "Invites"))


def _send(appointment: Appointment, outgoing: list[invites.Outgoing]):
    """Send the invites (see invites.prepare) and log who they went to, and how that went: the deliveries and the
    activity entry naming them are stored in one commit."""
    deliveries = invites.deliver(outgoing, commit=False)
    if deliveries:
        sent = ", ".join(f"{d.recipient} ({STATUS_WORDS[d.status]})" for d in deliveries)
        kind = (
            "a cancellation"
            if deliveries[0].method == invites.CANCEL
            else "an update"
            if appointment.sequence
            else "an invite"
        )
        note("invites_sent", f"{kind} for the session with {_describe(appointment)}, to {sent}")
    else:
        note("invites_sent", "")
    return deliveries


STATUS_WORDS = {DeliveryStatus.SENT: "sent", DeliveryStatus.OUTBOX: "kept in Outbox", DeliveryStatus.FAILED: "failed"}


def _describe(appointment: Appointment) -> str:
    when = local_time(appointment.starts_at, current_user.timezone)
    return f"{appointment.client.name}, {when} ({zone_city(current_user.timezone)})"


@bp.get("/<int:appointment_id>/invite.ics")
def download_ics(appointment_id: int):
    appointment = owned(Appointment, appointment_id)
    if appointment.series is not None:  # the whole series (its changed sessions included): one event to import
        body = invites.series_calendar(appointment.series, invites.THERAPIST, method=None)
    else:
        body = invites.calendar(appointment, invites.THERAPIST, method=None)
    return attachment(body, "text/calendar", f"session-{appointment.id}.ics")
