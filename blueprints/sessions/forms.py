from flask import abort
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    TimeField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

import booking
import clients
import series
from blueprints import NumberField, checked, strip
from extensions import db
from models import Client
from validation import Invalid, check_text


def _int_or_none(value):
    """A whole number a database id or version can be (ASCII digits only), else None."""
    if not (isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.strip().isdigit())):
        return None
    number = int(value) if len(str(value)) <= 12 else -1
    return number if 0 <= number < 2**31 else None


class ClientField(SelectField):
    """The therapist's active clients, read only when the select is drawn: those matching `search`
    (the Find client box), at most OPTIONS_SHOWN of them, and always the one chosen."""

    OPTIONS_SHOWN = 200
    therapist = None
    search = ""

    def iter_choices(self):
        shown = clients.search(self.therapist, self.search, per_page=self.OPTIONS_SHOWN)
        rows = [(c.id, c.name) for c in shown.items]
        if self.data and self.data not in {r[0] for r in rows}:
            chosen = db.session.get(Client, self.data)
            if chosen and chosen.therapist_id == self.therapist.id and chosen.archived_at is None:
                rows.insert(0, (chosen.id, chosen.name))
        self.choices = [SelectChoice("", "Choose a client…" if rows else "No client matches")]
        self.choices += [SelectChoice(value, label) for value, label in rows]
        if shown.total > len(shown.items):
            more = shown.total - len(shown.items)
            self.choices.append(SelectChoice("0", f"… {more} more: type in Find client", render_kw={"disabled": True}))
        return super().iter_choices()


class BookingForm(FlaskForm):
    """Client, date, start time and length; validating also checks the time and finds overlaps."""

    client = ClientField(
        "Client", coerce=_int_or_none, validate_choice=False, validators=[InputRequired(message="Choose a client.")]
    )
    date = DateField("Date", validators=[InputRequired(message="Enter a date.")])
    start_time = TimeField("Start time", validators=[InputRequired(message="Enter a start time.")])
    length = NumberField(
        "Session length",
        default=booking.DEFAULT_MINUTES,
        message=f"Enter the length in minutes, from {booking.MIN_MINUTES} to {booking.MAX_MINUTES}.",
        validators=[
            InputRequired(message="Enter the length in minutes."),
            NumberRange(
                booking.MIN_MINUTES,
                booking.MAX_MINUTES,
                message=f"Choose a length from {booking.MIN_MINUTES} to {booking.MAX_MINUTES} minutes.",
            ),
        ],
    )
    repeats = SelectField(
        "Repeats",
        filters=[strip],
        choices=[
            SelectChoice("", "Does not repeat"),
            SelectChoice("weekly", "Weekly"),
            SelectChoice("biweekly", "Every 2 weeks"),
        ],
        default="",
    )
    ends = RadioField(
        "Ends",
        filters=[strip],
        choices=[SelectChoice("count", "After N sessions"), SelectChoice("until", "On a chosen day")],
        default="count",
    )
    count = NumberField(
        "Number of sessions",
        default=12,
        message=f"Enter the number of sessions, from 2 to {series.MAX_SESSIONS}.",
        validators=[Optional()],
    )
    until = DateField("Last day", validators=[Optional()])
    # Overlapping sessions of a series the therapist chose to leave out (local dates, YYYY-MM-DD).
    skip = SelectMultipleField("Skip", choices=[], validate_choice=False)
    booking_key = HiddenField()

    def __init__(self, therapist, *args, ignore: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.therapist = therapist
        self.ignore = ignore  # the session being rescheduled, which does not conflict with itself
        self.client_row: Client | None = None
        self.slot: booking.Slot | None = None
        self.conflict = None
        self.series_plan: series.Plan | None = None
        self.series_error: str | None = None
        if self.client is not None:
            self.client.therapist = therapist
        if not self.booking_key.data:
            self.booking_key.data = booking.new_booking_key()

    def validate_client(self, field):
        if field.data is None:
            raise ValidationError("Choose a client.")
        client = db.session.get(Client, field.data)
        if client is None or client.therapist_id != self.therapist.id:
            abort(404)  # no such client, or another practice's: the same answer, so ids tell nothing
        try:
            self.client_row = booking.check_client(client)
        except Invalid as error:
            self.client_row = client
            raise ValidationError(str(error)) from None

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        try:
            self.slot = booking.slot(self.therapist, self.date.data, self.start_time.data, self.length.data)
        except Invalid as error:
            self.start_time.errors.append(str(error))
            return False
        if self.repeating:
            return self._validate_series()
        if not self.checks_one_slot:
            return True
        self.conflict = booking.find_conflict(
            self.therapist, self.slot.starts_at, self.slot.ends_at, ignore=self.ignore
        )
        if (
            self.conflict is not None
            and self.conflict.booking_key
            and self.conflict.booking_key == self.booking_key.data
        ):
            self.conflict = None  # this very form booked it a moment ago (a double submit): not an overlap
        if self.conflict is not None:
            self.start_time.errors.append(str(booking.Conflict(self.conflict, self.therapist.zone)))
            return False
        return True

    # Whether the one slot entered must be free; moving a series' sessions checks each of them instead.
    checks_one_slot = True

    @property
    def repeating(self) -> bool:
        return self.repeats is not None and self.repeats.data in series.REPEATS

    def _validate_series(self) -> bool:
        """Expand the series; any reason it cannot be booked as entered becomes `series_error`."""
        by_count = self.ends.data != "until"
        if by_count and self.count.data is None:
            self.series_error = "Enter the number of sessions."
            return False
        if not by_count and self.until.data is None:
            self.series_error = "Enter the date of the last session."
            return False
        try:
            self.series_plan = series.plan(
                self.therapist,
                self.client_row,
                self.date.data,
                self.start_time.data,
                self.length.data,
                series.REPEATS[self.repeats.data],
                count=self.count.data if by_count else None,
                until=None if by_count else self.until.data,
                skip=self.skip.data,
            )
        except Invalid as error:
            self.series_error = str(error)
            return False
        self.series_error = series.conflict_message(self.series_plan)
        return self.series_error is None


class ResendForm(FlaskForm):
    send_to = RadioField(
        "Send to",
        filters=[strip],  # " both" is still "both": choices are checked after stripping
        choices=[
            SelectChoice("both", "The client and me"),
            SelectChoice("client", "The client only"),
            SelectChoice("therapist", "Me only"),
            SelectChoice("failed", "Only where the last send failed"),
        ],
        default="both",
    )


SCOPE_THIS = SelectChoice("this", "This session")
SCOPE_FOLLOWING = SelectChoice("following", "This and following sessions")
SCOPE_SERIES = SelectChoice("series", "The whole series")


class RescheduleForm(BookingForm):
    """The booking form for a session that exists: the client is fixed, the version guards against stale forms."""

    client = None
    repeats = ends = count = until = None  # one session is moved, not a series booked
    # `skip` (inherited) names overlapping sessions to cancel instead of moving them ("This and following").
    version = HiddenField()
    # For a session of a series: move this one, or this one and the rest (a new series from here).
    scope = RadioField("Change", filters=[strip], choices=[SCOPE_THIS, SCOPE_FOLLOWING], default="this")

    def __init__(self, therapist, appointment, *args, **kwargs):
        super().__init__(therapist, *args, ignore=appointment.id, **kwargs)
        self.appointment = appointment
        self.client_row = appointment.client
        # This and following: the sessions that move may land where later ones of the series are now, so
        # each moved session is checked instead (series.plan_following), and overlaps can be skipped.
        self.checks_one_slot = not self.moves_following

    @property
    def moves_following(self) -> bool:
        return self.appointment.series_id is not None and self.scope.data == SCOPE_FOLLOWING.value

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.moves_following:
            return True
        self.series_plan = series.plan_following(self.appointment, self.slot, self.skip.data)
        self.series_error = series.following_problem(self.series_plan)
        return self.series_error is None

    @classmethod
    def prefilled(cls, therapist, appointment):
        start = booking.to_local(appointment.starts_at, therapist.zone)
        data = {
            "date": start.date(),
            "start_time": start.time(),
            "length": appointment.minutes,
            "version": appointment.sequence,
        }
        return cls(therapist, appointment, formdata=None, data=data)

    def version_seen(self) -> int | None:
        return _int_or_none(self.version.data)


def cancel_message_field() -> TextAreaField:
    """The optional note that goes with a cancellation, to the client only."""
    return TextAreaField(
        "Message to the client (optional)",
        filters=[strip],
        validators=[Length(max=1000, message="Use at most 1000 characters."), checked(check_text, multiline=True)],
    )


class CancelForm(FlaskForm):
    message = cancel_message_field()
    version = HiddenField()
    # For a session of a series (ignored otherwise).
    scope = RadioField("Cancel", filters=[strip], choices=[SCOPE_THIS, SCOPE_FOLLOWING, SCOPE_SERIES], default="this")

    def version_seen(self) -> int | None:
        return _int_or_none(self.version.data)
