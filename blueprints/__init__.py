"""Blueprints, one per area of the app, and the helpers every view uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from flask import Flask, Response, abort, flash, g, redirect, render_template, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from htmx_flask import request
from jinja2_fragments.flask import render_block
from sqlalchemy import bindparam, select
from werkzeug.exceptions import BadRequest
from wtforms import Field, IntegerField, SelectField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

import accounts
import activity
import invites
import links
import models
import security
from booking import clock_changes, local_time, time_range
from clients import lobby_url, room_url
from extensions import db, limiter
from formats import LOCALES, clock, day, locale_label, zone_city, zone_name
from models import DeliveryStatus
from validation import NAME_MAX, Invalid, check_name, check_text, check_timezone, zone_choices

M = TypeVar("M")


def render(template: str, block: str, status: int = 200, **context):
    """The whole page for a normal visit; only `block` of the same template for htmx."""
    if request.htmx and not request.htmx.history_restore_request:
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return body, status, {"Vary": "HX-Request"}


def _missed(response) -> bool:
    return response.status_code == 404 or g.pop("link_miss", False)


# Wrong tokens and slugs count against the visitor, across every kind of link: links cannot be found by trying many.
# 404s count as misses; a view that answers 200 but found nothing (the personal-link check) calls link_missed().
link_misses = limiter.shared_limit(
    "10 per minute",
    scope="link-miss",
    deduct_when=_missed,
    error_message="Too many links that do not open, from your network. Wait a minute and try again.",
)


def link_missed() -> None:
    """Count this answer as a miss under `link_misses`, as if the link had answered 404."""
    g.link_miss = True


LINK_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
CAMERA = {"Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)"}


def link_page(template: str, status: int = 200, *, call: bool = False, **context):
    """Pages reached by a link (rooms, lobby): no referrer leaks the link, search engines keep out,
    and only pages with a call in them may use the camera and microphone."""
    headers = {**LINK_HEADERS, **(CAMERA if call else {})}
    return render_template(template, **context), status, headers


def dead_link():
    """A room, personal or calendar link that no longer opens (replaced, archived, changed, or never real)."""
    return link_page(
        "public/dead_link.html", 404, title="This link is no longer valid", message="Ask your therapist for a new link."
    )


def acting_account_limit_key() -> str:
    """The limit key of the account this request acts for: the logged-in therapist, or the one whose login
    waits for a code (its stored `accounts.account_key`); the address alone when neither."""
    if current_user.is_authenticated:
        return accounts.limit_key(current_user.email_key)
    pending = session.get("pending_login") or {}
    return accounts.limit_key(pending.get("account") or request.remote_addr or "")


def _wrong_secret(response) -> bool:
    return bool(g.get("wrong_secret"))


def wrong_secret() -> None:
    """Count this request against the account's limit: a wrong password or code was given."""
    g.wrong_secret = True


SECRET_LIMIT = "10 per hour"
# Wrong current passwords, and wrong app or recovery codes: 10 an hour per account, each kind its own budget.
wrong_password_limit = limiter.shared_limit(
    SECRET_LIMIT, scope="wrong-password", key_func=acting_account_limit_key, deduct_when=_wrong_secret
)
wrong_code_limit = limiter.shared_limit(
    SECRET_LIMIT, scope="wrong-code", key_func=acting_account_limit_key, deduct_when=_wrong_secret
)


def note(action: str, detail: str = "", *, commit: bool = True) -> None:
    """Add to the logged-in therapist's activity log, with the request's address."""
    activity.record(current_user.id, action, detail, request.remote_addr or "", commit=commit)


def committing(ready: list, outgoing: Callable, action: str, detail: Callable[..., str]) -> Callable:
    """A domain call's `before_commit` step: build the messages announcing the change (into `ready`, sent after the
    commit), then add its activity entry, so the change and its entry are stored in one commit or not at all.
    `outgoing` and `detail` get the step's arguments; `outgoing` returns an invites.Outgoing, a list, or None."""

    def step(*args) -> None:
        made = outgoing(*args)
        ready.extend(made if isinstance(made, list) else [made] if made is not None else [])
        note(action, detail(*args), commit=False)

    return step


class Notice(str):
    """A notice with a level: "warning" is drawn as one (e.g. mail kept in the Outbox), plain text as a success."""

    def __new__(cls, text: str, level: str = "message"):
        notice = super().__new__(cls, text)
        notice.level = level
        return notice


def delivery_summary(deliveries, what: str) -> str:
    """One sentence on how sending went: failures named, else sent or kept in the Outbox (a warning)."""
    failed = sorted({d.recipient for d in deliveries if d.status == DeliveryStatus.FAILED})
    if failed:
        return "Could not send to " + ", ".join(failed) + ". See the invite log."
    if deliveries and all(d.status == DeliveryStatus.OUTBOX for d in deliveries):
        held = next((d.error for d in deliveries if d.error), None)  # why they were kept, when delivery is on
        return Notice(
            f"{what} placed in your Outbox: {held}"
            if held
            else f"{what} placed in your Outbox (email delivery is off).",
            "warning",
        )
    return f"{what} sent."


def log_out_here():
    """Log out on this device: its login session ends for good and its cookies go (remember-me too)."""
    note("logout", commit=False)
    security.sign_out("logout")
    db.session.commit()
    flash("You are logged out.")
    return redirect(url_for("auth.login"), 303)


def saved(message: str, fragment, url: str):
    """After a change: htmx gets `fragment(saved=message)`; a plain form post is redirected (303) with the notice."""
    if request.htmx:
        return fragment(saved=message)
    flash(message, getattr(message, "level", "message"))
    return redirect(url, 303)


def attachment(body: bytes | str, mimetype: str, filename: str) -> Response:
    """A file to download (an .ics, an .eml, a CSV)."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def owned(model: type[M], object_id: int, *options, **filters) -> M:
    """Load one of the logged-in therapist's rows, or answer 404 (never another therapist's). `options` are loader
    options (joinedload…) for what the page reads of it, so that it comes in the same statement; pass module-level
    ones, as the statement is built once for each model, options and filters."""
    if not 1 <= object_id < 2**31:  # no such row, and no database error for an id out of range
        abort(404)
    statement = _owned_statement(model, options, tuple(filters.items()))
    row = db.session.scalar(statement, {"id": object_id, "therapist": current_user.id})
    if row is None:
        abort(404)
    return row


@lru_cache(maxsize=64)
def _owned_statement(model: type, options: tuple, filters: tuple):
    """owned()'s statement for one model, loader options and fixed filters (archived_at=None…), built once with
    the id and the therapist as parameters: every page of one row runs it."""
    statement = select(model).where(model.id == bindparam("id"), model.therapist_id == bindparam("therapist"))
    return statement.filter_by(**dict(filters)).options(*options)


def checked(check, **kwargs):
    """Turn a validation.check_* function into a WTForms validator that also stores its result."""

    def validator(form: FlaskForm, field: Field) -> None:
        if field.data in (None, ""):
            return
        try:
            result = check(field.data, **kwargs)
        except Invalid as error:
            raise ValidationError(str(error)) from None
        field.data = result

    return validator


def small_number(value, default: int | None = None, digits: int = 6) -> int | None:
    """A whole number of at most `digits` ASCII digits, else `default`.

    Checked before int(): str.isdigit() and int() accept superscripts and other scripts' digits,
    and a 300-digit number overflows the comparisons WTForms makes.
    """
    value = value.strip() if isinstance(value, str) else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= digits else default


class BadNumber(BadRequest):
    """A number in the address that is not one: answered 400 with a page that says which, never a guess."""


def number_arg(name: str, what: str, default: int | None = None, digits: int = 6) -> int | None:
    """The query parameter `name` as a whole number from 1, of at most `digits` ASCII digits.

    Missing or empty gives `default`; anything else (², ٣, -1, 0, a 300-digit number, words) is a 400
    naming `what`, rather than quietly showing something the address did not ask for.
    """
    value = request.args.get(name)
    if value is None or value == "":
        return default
    number = small_number(value, digits=digits)
    if number is None or number < 1:
        raise BadNumber(
            f"The {what} in this address must be a whole number from 1 to {'9' * digits}, written with the digits 0–9."
        )
    return number


class NumberField(IntegerField):
    """IntegerField that refuses anything but a short ASCII number with its own message, never an overflow."""

    def __init__(self, label: str, *args, message: str = "Enter a whole number.", **kwargs):
        super().__init__(label, *args, **kwargs)
        self.number_message = message

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = small_number(valuelist[0])
        if self.data is None:
            raise ValueError(self.number_message)


def strip(value):
    return value.strip() if isinstance(value, str) else value


def text_field(label: str, *extra, required: bool = True, max_length: int = 200, **kwargs) -> StringField:
    """A trimmed single-line text field with a length limit, no control characters, and `extra` checks."""
    presence = DataRequired(message=f"Enter {label.lower()}.") if required else Optional()
    return StringField(
        label,
        filters=[strip],
        validators=[
            presence,
            Length(max=max_length, message=f"Use at most {max_length} characters."),
            checked(check_text),
            *extra,
        ],
        **kwargs,
    )


def name_field(label: str = "Name") -> StringField:
    """A person's name: it goes into mail headers, so encoded-word sequences are refused too."""
    return text_field(label, checked(check_name), max_length=NAME_MAX)


def timezone_validator(form: FlaskForm, field: Field) -> None:
    checked(check_timezone)(form, field)


def zone_options(current: str | None) -> list[str]:
    """The zones to offer, keeping a valid current value that the short list leaves out."""
    options = zone_choices()
    if current and current not in options:
        try:
            check_timezone(current)
            return sorted([*options, current])
        except Invalid:
            pass
    return options


class TimezoneField(SelectField):
    """A select of IANA zones, named "Central European Time (Prague)" and sorted by name; static/timezone.js adds
    a filter box and puts the browser's zone first. An unknown value is refused with a message rather than ignored."""

    def __init__(self, label: str, *, required: bool = True, blank_label: str | None = None, **kwargs):
        presence = DataRequired(message="Choose a time zone.") if required else Optional()
        # Stripped first: a blank-looking value (" ") is "none chosen", never a zone name to store.
        render_kw = {"data-zone-picker": True, **kwargs.pop("render_kw", {})}
        super().__init__(
            label,
            validate_choice=False,
            validators=[presence, timezone_validator],
            render_kw=render_kw,
            filters=[strip],
            **kwargs,
        )
        self.blank_label = blank_label

    def iter_choices(self):
        named = sorted((zone_name(zone), zone) for zone in zone_options(self.data))
        self.choices = [SelectChoice(zone, name) for name, zone in named]
        if self.blank_label is not None:
            self.choices.insert(0, SelectChoice("", self.blank_label))
        return super().iter_choices()


class LocaleField(SelectField):
    """Date and time formats: the supported locales, each named in its own language with a sample date."""

    def __init__(self, label: str, *, blank_label: str, **kwargs):
        super().__init__(label, validators=[Optional()], **kwargs)
        self.blank_label = blank_label

    def iter_choices(self):
        self.choices = [SelectChoice("", self.blank_label)] + [
            SelectChoice(code, locale_label(code)) for code in LOCALES
        ]
        return super().iter_choices()

    def pre_validate(self, form):
        if self.data and self.data not in LOCALES:
            raise ValidationError("Choose formats from the list.")


def init_app(app: Flask) -> None:
    """Template helpers every screen uses."""
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["zone_name"] = zone_name
    app.jinja_env.filters["zone_city"] = zone_city
    app.jinja_env.filters["day"] = day  # a calendar date in the locale: {{ d | day("%A %-d %B") }}
    app.jinja_env.filters["clock"] = clock  # a local wall-clock time: {{ t | clock }}
    app.jinja_env.globals.update(
        room_url=room_url,
        lobby_url=lobby_url,
        time_range=time_range,
        clock_changes=clock_changes,
        failed_invites=invites.failed,
        needs_confirmation=accounts.needs_confirmation,
    )
    # Templates compare statuses, roles and methods with these, never with string literals.
    app.jinja_env.globals.update({enum.__name__: enum for enum in models.ENUMS})

    @app.context_processor
    def unreachable_links():
        return {"unreachable_host": links.unreachable_host(app.config["PUBLIC_URL"])}

    @app.after_request
    def no_camera_by_default(response):
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), display-capture=()"
        )
        return response
