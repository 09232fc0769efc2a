from flask import current_app, flash, redirect, url_for
from flask_login import current_user, login_required, login_user
from htmx_flask import request

import accounts
import activity
import clients
import links
import reminders
from blueprints import attachment, link_missed, link_misses, note, render, saved
from blueprints.account import bp
from blueprints.account.forms import PasswordForm, PersonalLinkForm, ProfileForm, RemindersForm
from extensions import limiter
from validation import Invalid


@bp.before_request
@login_required
def require_login():
    """Every Account Settings page is for the logged-in therapist only."""


@bp.get("/")
def index():
    return redirect(url_for("account.profile"))


def _saved(screen, block: str, message: str, tab: str):
    """After a save: the form's block with a notice for htmx, else a redirect to the tab (PRG)."""
    return saved(message, lambda **notice: screen(block, **notice), url_for(tab))


# Profile tab

def _profile_screen(block: str, status: int = 200, profile_form=None, password_form=None, **context):
    """Render the Profile tab; each form keeps what was typed when it is the one being saved."""
    return render(
        "account/profile.html",
        block,
        status,
        profile_form=profile_form or ProfileForm(obj=current_user, formdata=None),
        password_form=password_form or PasswordForm(formdata=None),
        **context,
    )


@bp.get("/profile")
def profile():
    return _profile_screen("pane")


@bp.post("/profile")
def save_profile():
    form = ProfileForm()
    if form.validate():
        try:
            pending = accounts.update_profile(current_user, **form.profile_data())
        except accounts.EmailTaken as error:
            form.email.errors.append(str(error))
        else:
            note("profile_changed")
            message = "Profile saved."
            if pending:
                note("email_change_requested", form.email.data)
                # The same words whether or not another account has the address: a change tells no one that.
                message += (f" We sent a link to {form.email.data}: your email changes to it when you open the link."
                            f" Until then it stays {current_user.email}.")
            return _saved(_profile_screen, "profile_form", message, "account.profile")
    return _profile_screen("profile_form", 422, profile_form=form)


CONFIRM_RESEND_LIMIT = "3 per hour"


def _confirmation_key() -> str:
    """Resends count per account, keyed the way authentication reads the address."""
    return "confirm:" + accounts.account_key(current_user.email)


@bp.post("/confirm-email")
@limiter.limit(CONFIRM_RESEND_LIMIT, key_func=_confirmation_key)
@limiter.limit("10 per hour")
def resend_confirmation():
    """The banner's "Send the link again": a new confirmation link to the therapist's address."""
    if accounts.needs_confirmation(current_user):
        accounts.send_confirmation(current_user.id, current_user.email)
        flash(f"We sent a new confirmation link to {current_user.email}.")
    return redirect(links.local_path(request.form.get("back")) or url_for("sessions.today"), 303)


# Invitations tab (for when signups are closed)

@bp.get("/invitations")
def invitations():
    return render("account/invitations.html", "pane", signup=current_app.config["SIGNUP"])


@bp.post("/invitations")
@limiter.limit("20 per day", key_func=lambda: f"invite:{current_user.id}")
def make_invitation():
    token = accounts.invite(current_user)
    link = accounts.external_url("auth.signup", invite=token)
    return render("account/invitations.html", "invitation", signup=current_app.config["SIGNUP"], link=link)


@bp.post("/password")
def change_password():
    form = PasswordForm()
    if form.validate():
        if accounts.password_matches(current_user, form.current_password.data):
            accounts.change_password(current_user, form.new_password.data)
            login_user(current_user._get_current_object())  # keep this session; the new token ended all others
            note("password_changed")
            return _saved(_profile_screen, "password_form", "Password changed.", "account.profile")
        form.current_password.errors.append("This is not your current password.")
    return _profile_screen("password_form", 422, password_form=form)


# Personal Link tab

def _personal_link_screen(block: str, status: int = 200, form=None, **context):
    return render(
        "account/personal_link.html",
        block,
        status,
        form=form or PersonalLinkForm(data={"slug": current_user.personal_slug}, formdata=None),
        **context,
    )


@bp.get("/personal-link")
def personal_link():
    return _personal_link_screen("pane")


@bp.get("/personal-link/check")
@link_misses
def check_slug():
    """Say at once, while the therapist types, whether a link name can be used.

    A free name is what a miss on /u/<slug> would tell, so it counts under the same limit.
    """
    slug = request.args.get("slug", "").strip()
    try:
        clients.check_slug(current_user, slug)
        problem = None
        if slug != current_user.personal_slug:
            link_missed()
    except Invalid as error:
        problem = str(error)
    return _personal_link_screen("slug_status", slug=slug, problem=problem)


@bp.post("/personal-link")
def save_personal_link():
    form = PersonalLinkForm()
    if form.validate():
        try:
            clients.change_slug(current_user, form.slug.data)
        except Invalid as error:
            form.slug.errors.append(str(error))
        else:
            note("personal_link_changed", form.slug.data)
            return _saved(_personal_link_screen, "link_form", "Personal link changed. The old link no longer works.",
                          "account.personal_link")
    return _personal_link_screen("link_form", 422, form=form)


# Calendar tab

def _feed_urls() -> dict:
    https = url_for("public.feed", token=accounts.feed_token(current_user))
    public = current_app.config["PUBLIC_URL"] + https
    return {"feed_https": public, "feed_webcal": "webcal://" + public.split("://", 1)[1]}


def _calendar_screen(block: str, **context):
    return render("account/calendar.html", block, **_feed_urls(), **context)


@bp.get("/calendar")
def calendar():
    return _calendar_screen("pane")


@bp.post("/calendar/replace")
def replace_feed():
    accounts.replace_feed_token(current_user)
    note("feed_link_replaced")
    return _saved(_calendar_screen, "feed", "New calendar link made. The old one no longer works.", "account.calendar")


# Reminders tab

def _reminders_screen(block: str, status: int = 200, form=None, **context):
    return render("account/reminders.html", block, status, form=form or RemindersForm(obj=current_user, formdata=None),
                  **context)


@bp.get("/reminders")
def reminders_tab():
    return _reminders_screen("pane")


@bp.post("/reminders")
def save_reminders():
    form = RemindersForm()
    if not form.validate():
        return _reminders_screen("reminders_form", 422, form=form)
    note("reminder_settings_changed", f"24 hours: {'on' if form.remind_24h.data else 'off'}, "
                                      f"1 hour: {'on' if form.remind_1h.data else 'off'}", commit=False)
    reminders.update_settings(current_user, remind_24h=form.remind_24h.data, remind_1h=form.remind_1h.data)
    return _saved(_reminders_screen, "reminders_form", "Reminder settings saved.", "account.reminders_tab")


# Activity tab

@bp.get("/activity")
def activity_log():
    return render("account/activity.html", "pane", entries=activity.recent(current_user), actions=activity.ACTIONS)


@bp.get("/activity.csv")
def activity_csv():
    return attachment(activity.as_csv(current_user), "text/csv", "hearth-activity.csv")
