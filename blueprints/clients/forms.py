import re

from flask_wtf import FlaskForm
from wtforms import TextAreaField, ValidationError
from wtforms.validators import Length

from blueprints import LocaleField, TimezoneField, checked, name_field, text_field
from blueprints.auth.forms import email_field
from blueprints.sessions.forms import cancel_message_field
from validation import check_text

PHONE = re.compile(r"^\+?[0-9 ()./-]{3,40}$")
NOTE_MAX = 5000


def phone_check(form, field):
    if field.data and not PHONE.match(field.data):
        raise ValidationError("Use digits, spaces and + ( ) - . only.")


class ClientForm(FlaskForm):
    name = name_field()
    email_name = text_field("Greet them as", required=False, max_length=100)
    email = email_field("Email", required=False)
    phone = text_field("Phone", phone_check, required=False, max_length=40)
    timezone = TimezoneField("Time zone", required=False, blank_label="Same as mine")
    locale = LocaleField("Date and time formats for this client", blank_label="Same as mine")
    note = TextAreaField(
        "Private note",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            Length(max=NOTE_MAX, message=f"Use at most {NOTE_MAX} characters."),
            checked(check_text, multiline=True),
        ],
    )

    def client_data(self) -> dict:
        return {
            "name": self.name.data,
            "email_name": self.email_name.data or None,
            "email": self.email.data or None,
            "phone": self.phone.data or None,
            "timezone": self.timezone.data or None,
            "locale": self.locale.data or None,
            "note": self.note.data or "",
        }


class ArchiveForm(FlaskForm):
    """Archiving a client with upcoming sessions: they are cancelled, with an optional message."""

    message = cancel_message_field()
