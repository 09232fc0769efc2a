from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, EqualTo

from blueprints import TimezoneField, text_field
from blueprints.auth.forms import email_field, name_field, password_field


class ProfileForm(FlaskForm):
    name = name_field()
    email = email_field()
    timezone = TimezoneField("Time zone")

    def profile_data(self) -> dict:
        return {"name": self.name.data, "email": self.email.data, "timezone": self.timezone.data}


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(message="Enter your current password.")])
    new_password = password_field("New password")
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired(message="Enter the new password again."), EqualTo("new_password", message="The passwords do not match.")],
    )


class PersonalLinkForm(FlaskForm):
    slug = text_field("Link name", max_length=40)


class RemindersForm(FlaskForm):
    remind_24h = BooleanField("24 hours before")
    remind_1h = BooleanField("1 hour before")
