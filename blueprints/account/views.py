from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required
from htmx_flask import request

import accounts
import activity
import clients
import invites
import links
import logins
import reminders
import twofactor
from blueprints import (
    attachment,
    delivery_summary,
    link_missed,
    link_misses,
    log_out_here,
    note,
    owned,
    render,
    saved,
    wrong_code_limit,
    wrong_password_limit,
    wrong_secret,
)
from blueprints.account import bp
from blueprints.account.forms import (
    CalendarDeliveryForm,
    PasswordForm,
    PersonalLinkForm,
    ProfileForm,
    RemindersForm,
    TwoFactorOffForm,
    TwoFactorSetupForm,
)
from extensions import limiter
from models import LoginSession
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


def _profile_screen(block: str, status: int = 200, profile_form=None, **context):
    return render(
        "account/profile.html",
        block,
        status,
        profile_form=profile_form or ProfileForm(obj=current_user, formdata=None),
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
            pending, change = accounts.update_profile(current_user, **form.profile_data())
        except accounts.EmailTaken as error:
            form.email.errors.append(str(error))
        else:
            note("profile_changed")
            message = "Profile saved."
            if pending:
                note("email_change_requested", form.email.data)
                # The same words whether or not another account has the address: a change tells no one that.
                message += (
                    f" We sent a link to {form.email.data}: your email changes to it when you open the link."
                    f" Until then it stays {current_user.email}."
                )
            if change and current_user.emails_own_copy:
                deliveries = invites.send_address_change(change)
                note("invites_sent", "; ".join(f"{d.method} to {d.recipient} ({d.status})" for d in deliveries))
                count = len(change.sessions)
                message += (
                    f" Your {count} upcoming session{'' if count == 1 else 's'} moved to {current_user.email}: "
                    f"a cancellation went to {change.old} and the invites to the new address. "
                    + delivery_summary(deliveries, "Invites")
                )
            return _saved(_profile_screen, "profile_form", message, "account.profile")
    return _profile_screen("profile_form", 422, profile_form=form)


CONFIRM_RESEND_LIMIT = "3 per hour"


def _confirmation_key() -> str:
    """Resends count per account, keyed the way authentication reads the address."""
    return "confirm:" + current_user.email_key


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
    link = links.external_url("auth.signup", invite=token)
    return render("account/invitations.html", "invitation", signup=current_app.config["SIGNUP"], link=link)


# Security tab: signed-in devices, password, two-factor login. Its forms are plain posts (then a redirect),
# so a refusal for too many attempts (429) is a whole page a person can read.


def _security_screen(status: int = 200, *, password_form=None, setup_form=None, off_form=None, codes=None):
    """The Security tab; each form keeps what was typed when it is the one being refused."""
    setup_secret = session.get("totp_setup") if not current_user.two_factor else None
    setup = None
    if setup_secret:
        uri = twofactor.setup_uri(current_user, setup_secret)
        setup = {"secret": setup_secret, "qr": twofactor.qr_svg(uri)}
    return render(
        "account/security.html",
        "pane",
        status,
        current_tab="account.security_tab",
        devices=logins.open_for(current_user),
        current=current_user.login_session,
        device_name=logins.device_name,
        place=logins.place,
        password_form=password_form or PasswordForm(formdata=None),
        setup=setup,
        setup_form=setup_form or TwoFactorSetupForm(formdata=None),
        off_form=off_form or TwoFactorOffForm(formdata=None),
        codes=codes,
        recovery_left=twofactor.remaining(current_user) if current_user.two_factor else None,
    )


def _done(message: str):
    flash(message)
    return redirect(url_for("account.security_tab"), 303)


@bp.get("/security")
def security_tab():
    return _security_screen()


@bp.post("/security/password")
@wrong_password_limit
def change_password():
    form = PasswordForm()
    if form.validate():
        if accounts.password_matches(current_user, form.current_password.data):
            accounts.change_password(current_user, form.new_password.data, keep=current_user.login_session)
            note("password_changed")  # commits the password, the ended sessions and this entry together
            return _done("Password changed. Every other device was signed out.")
        wrong_secret()
        note("password_change_refused", "wrong current password")
        form.current_password.errors.append("This is not your current password.")
    return _security_screen(422, password_form=form)


@bp.post("/security/devices/<int:login_session_id>/sign-out")
def sign_out_device(login_session_id: int):
    device = owned(LoginSession, login_session_id, ended_at=None)
    if device.id == current_user.login_session.id:
        return log_out_here()
    logins.end(device, "signed_out")
    note("device_signed_out", f"{logins.device_name(device.user_agent)}, {device.ip}")
    return _done(f"{logins.device_name(device.user_agent)} is signed out.")


@bp.post("/security/devices/sign-out-others")
def sign_out_others():
    ended = logins.end_all(current_user, "signed_out", keep=current_user.login_session)
    note("signed_out_elsewhere", f"{ended} device(s)")
    return _done("Every other device is signed out." if ended else "No other device was signed in.")


@bp.post("/security/two-factor/start")
def start_two_factor():
    if current_user.two_factor:
        return _done("Two-factor login is already on.")
    session["totp_setup"] = twofactor.new_secret()
    note("two_factor_setup_started")
    return redirect(url_for("account.security_tab", _anchor="two-factor"), 303)


@bp.post("/security/two-factor")
@wrong_code_limit
def confirm_two_factor():
    secret = session.get("totp_setup")
    if current_user.two_factor or not secret:
        return _done(
            "Start the two-factor setup again." if not current_user.two_factor else "Two-factor login is already on."
        )
    form = TwoFactorSetupForm()
    if form.validate():
        if (step := twofactor.setup_step(secret, form.code.data)) is not None:
            codes = twofactor.enable(current_user, secret, step)
            note("two_factor_enabled")
            session.pop("totp_setup")
            return _security_screen(codes=codes)  # shown this once: no redirect, nothing kept to show again
        wrong_secret()
        note("two_factor_failed", "during setup")
        form.code.errors.append("This code is not right. Check the app shows Hearth, and enter its newest code.")
    return _security_screen(422, setup_form=form)


@bp.post("/security/two-factor/off")
@wrong_password_limit
@wrong_code_limit
def disable_two_factor():
    form = TwoFactorOffForm()
    if not current_user.two_factor:
        return _done("Two-factor login is already off.")
    if form.validate():
        if not accounts.password_matches(current_user, form.password.data):
            form.password.errors.append("This is not your password.")
        elif twofactor.verify(current_user, form.code.data) is None:
            form.code.errors.append(
                "This code is not right. Use the newest code from your app, or an unused recovery code."
            )
        else:
            twofactor.disable(current_user)
            note("two_factor_disabled")
            return _done("Two-factor login is off. Your recovery codes no longer work.")
        wrong_secret()
        note("two_factor_failed", "turning two-factor login off")
    return _security_screen(422, off_form=form)


@bp.post("/security/recovery-codes.txt")
def recovery_codes_txt():
    """The codes just shown, as a file: the page sends them back, and only the therapist's unused codes return."""
    codes = twofactor.unused_codes(current_user, request.form.getlist("code")[: twofactor.RECOVERY_CODES])
    if not codes:
        abort(404)
    note("recovery_codes_downloaded")
    body = (
        "Hearth recovery codes for " + current_user.email + "\n"
        "Each code works once, in place of a code from your authenticator app.\n\n" + "\n".join(codes) + "\n"
    )
    return attachment(body, "text/plain", "hearth-recovery-codes.txt")


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
            return _saved(
                _personal_link_screen,
                "link_form",
                "Personal link changed. The old link no longer works.",
                "account.personal_link",
            )
    return _personal_link_screen("link_form", 422, form=form)


# Calendar tab


def _feed_urls() -> dict:
    https = url_for("public.feed", token=accounts.feed_token(current_user))
    public = current_app.config["PUBLIC_URL"] + https
    return {"feed_https": public, "feed_webcal": "webcal://" + public.split("://", 1)[1]}


def _calendar_screen(block: str, status: int = 200, delivery_form=None, **context):
    form = delivery_form or CalendarDeliveryForm(data={"delivery": current_user.calendar_delivery}, formdata=None)
    return render("account/calendar.html", block, status, **_feed_urls(), delivery_form=form, **context)


@bp.get("/calendar")
def calendar():
    return _calendar_screen("pane")


@bp.post("/calendar/delivery")
def save_calendar_delivery():
    """How the therapist's own calendar gets sessions: emailed invites, or the subscription feed."""
    form = CalendarDeliveryForm()
    if not form.validate():
        return _calendar_screen("delivery", 422, delivery_form=form)
    accounts.set_calendar_delivery(current_user, form.delivery.data)
    note("calendar_delivery_changed", form.delivery.data)
    message = (
        "Your calendar gets sessions by email invites."
        if current_user.emails_own_copy
        else "Your calendar gets sessions from the subscription feed; your copies are no longer emailed. "
        "Clients still get theirs."
    )
    return _saved(_calendar_screen, "delivery", message, "account.calendar")


@bp.post("/calendar/replace")
def replace_feed():
    accounts.replace_feed_token(current_user)
    note("feed_link_replaced")
    return _saved(_calendar_screen, "feed", "New calendar link made. The old one no longer works.", "account.calendar")


# Reminders tab


def _reminders_screen(block: str, status: int = 200, form=None, **context):
    return render(
        "account/reminders.html", block, status, form=form or RemindersForm(obj=current_user, formdata=None), **context
    )


@bp.get("/reminders")
def reminders_tab():
    return _reminders_screen("pane")


@bp.post("/reminders")
def save_reminders():
    form = RemindersForm()
    if not form.validate():
        return _reminders_screen("reminders_form", 422, form=form)
    note(
        "reminder_settings_changed",
        f"24 hours: {'on' if form.remind_24h.data else 'off'}, 1 hour: {'on' if form.remind_1h.data else 'off'}",
        commit=False,
    )
    reminders.update_settings(current_user, remind_24h=form.remind_24h.data, remind_1h=form.remind_1h.data)
    return _saved(_reminders_screen, "reminders_form", "Reminder settings saved.", "account.reminders_tab")


# Activity tab


@bp.get("/activity")
def activity_log():
    return render("account/activity.html", "pane", entries=activity.recent(current_user), sentence=activity.sentence)


@bp.get("/activity.csv")
def activity_csv():
    return attachment(activity.as_csv(current_user), "text/csv", "hearth-activity.csv")


# Help for the warning every logged-in page shows while links point at a loopback or private address

README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "## Links clients can open (`PUBLIC_URL`)"


def _readme_section(heading: str) -> list[str]:
    """The paragraphs of one README section, so the page and the README never say different things."""
    text = README.read_text(encoding="utf-8")
    body = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return [" ".join(paragraph.split()) for paragraph in body.strip().split("\n\n")]


@bp.get("/help/public-url")
def public_url_help():
    return render_template(
        "account/public_url_help.html",
        paragraphs=_readme_section(README_SECTION),
        public_url=current_app.config["PUBLIC_URL"],
    )
