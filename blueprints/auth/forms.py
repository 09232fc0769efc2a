from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

import accounts
from blueprints import TimezoneField, checked, text_field
from blueprints import name_field as person_name_field
from validation import EMAIL_MAX, check_password, normalise_email


def password_field(label: str) -> PasswordField:
    return PasswordField(label, validators=[DataRequired(message="Enter a password."), checked(check_password)])


def email_field(label: str = "Email", *, required: bool = True):
    return text_field(label, checked(normalise_email), required=required, max_length=EMAIL_MAX)


def name_field():
    """The therapist's name, which goes into From as "<name> via Hearth": it may not pose as Hearth."""
    field = person_name_field()  # a name fit for mail headers (no encoded-words, separators, noncharacters)
    field.kwargs["validators"].append(checked(accounts.check_display_name))
    return field


class SignupForm(FlaskForm):
    name = name_field()
    email = email_field()
    password = password_field("Password")
    confirm = PasswordField(
        "Confirm password",
        validators=[
            DataRequired(message="Enter the password again."),
            EqualTo("password", message="The passwords do not match."),
        ],
    )
    timezone = TimezoneField("Time zone")

    def account_data(self) -> dict:
        return {
            "name": self.name.data,
            "email": self.email.data,
            "password": self.password.data,
            "timezone": self.timezone.data,
        }


class LoginForm(FlaskForm):
    email = text_field("Email", max_length=EMAIL_MAX)
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Remember me")


class ForgotPasswordForm(FlaskForm):
    email = text_field("Email", max_length=EMAIL_MAX)


class ResetPasswordForm(FlaskForm):
    password = password_field("New password")
    confirm = PasswordField(
        "Confirm new password",
        validators=[
            DataRequired(message="Enter the password again."),
            EqualTo("password", message="The passwords do not match."),
        ],
    )


def code_field(label: str = "Code") -> StringField:
    return StringField(
        label,
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[DataRequired(message="Enter the code."), Length(max=20, message="Use at most 20 characters.")],
    )


class LoginCodeForm(FlaskForm):
    code = code_field("Code from your app, or a recovery code")
