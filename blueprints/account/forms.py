from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo

from blueprints import LocaleField, TimezoneField, text_field
from blueprints.auth.forms import code_field, email_field, name_field, password_field
from models import CalendarDelivery


class ProfileForm(FlaskForm):
    name = name_field()
    email = email_field()
    timezone = TimezoneField("Time zone")
    locale = LocaleField("Date and time formats", blank_label="As my browser asks")

    def profile_data(self) -> dict:
        return {
            "name": self.name.data,
            "email": self.email.data,
            "timezone": self.timezone.data,
            "locale": self.locale.data or None,
        }


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(message="Enter your current password.")]
    )
    new_password = password_field("New password")
    confirm = PasswordField(
        "Confirm new password",
        validators=[
            DataRequired(message="Enter the new password again."),
            EqualTo("new_password", message="The passwords do not match."),
        ],
    )


class PersonalLinkForm(FlaskForm):
    slug = text_field("Link name", max_length=40)


class RemindersForm(FlaskForm):
    remind_24h = BooleanField("24 hours before")
    remind_1h = BooleanField("1 hour before")


class CalendarDeliveryForm(FlaskForm):
    delivery = RadioField(
        "How your calendar gets sessions",
        choices=[
            SelectChoice(CalendarDelivery.EMAIL, "Email invites (each booking and change arrives as an invite)"),
            SelectChoice(CalendarDelivery.FEED, "Subscription feed only (your copies are not emailed)"),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
    )


class TwoFactorSetupForm(FlaskForm):
    code = code_field("Code from your app")


class TwoFactorOffForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    code = code_field("Code from your app, or a recovery code")
