from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

import accounts
import activity
import links
import mail
import security
from blueprints import link_misses, note, render
from blueprints.auth import bp
from blueprints.auth.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm, SignupForm
from extensions import limiter

LOGIN_LIMIT = "10 per 15 minutes"
RESET_LIMIT = "5 per hour"
SIGNUP_LIMIT = "5 per hour"


def _failed(response) -> bool:
    """Only refused logins count against the limit, not successful ones."""
    return response.status_code == 422


def account_limit_key() -> str:
    """Limits per account key on the address as authentication reads it, so every spelling shares one count."""
    return "account:" + accounts.account_key(request.form.get("email"))


def _start_session(therapist, remember: bool = False) -> None:
    session.clear()  # nothing from before login carries over into the logged-in session
    login_user(therapist, remember=remember)
    security.start_session()
    note("login")


def _next_url() -> str:
    # Only same-site paths: an open redirect would let a phishing link bounce through Hearth.
    return links.local_path(request.args.get("next")) or url_for("sessions.today")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(SIGNUP_LIMIT, methods=["POST"], deduct_when=lambda response: response.status_code == 303)
def signup():
    """Each account costs an Argon2 hash and can send mail: at most 5 an hour from one address.

    A new address and one that has an account get the same answer (the owner is told by email), so
    signing up tells no one who uses Hearth.
    """
    if current_user.is_authenticated:
        return redirect(url_for("sessions.today"))
    invite = request.values.get("invite", "")[:100]
    invitation = accounts.find_invitation(invite)
    if current_app.config["SIGNUP"] == "closed" and invitation is None:
        return render_template("auth/signup_closed.html"), 403 if request.method == "POST" else 200
    form = SignupForm()
    if form.validate_on_submit():
        accounts.register(**form.account_data(), ip=request.remote_addr or "", invitation=invitation)
        return redirect(url_for("auth.signed_up"), 303)
    status = 422 if form.is_submitted() else 200
    return render("auth/signup.html", "form", status, form=form, invite=invite if invitation else "")


@bp.get("/signup/done")
def signed_up():
    return render_template("auth/signed_up.html", delivery_on=mail.delivery_enabled())


@bp.get("/confirm-email/<token>")
@link_misses
def confirm_email(token: str):
    """The link from a confirmation email: the address is the therapist's (and, for a change, now their address)."""
    try:
        therapist = accounts.confirm_email(token)
    except accounts.EmailTaken as error:
        return render_template("errors/error.html", title="Your email was not changed", message=str(error)), 409
    if therapist is None:
        return render_template("errors/error.html", title="This confirmation link is no longer valid",
                               message="Links work once, for three days. Log in to ask for a new one."), 404
    return render_template("auth/email_confirmed.html", therapist=therapist)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"], deduct_when=_failed)
@limiter.limit(LOGIN_LIMIT, methods=["POST"], key_func=account_limit_key, deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("sessions.today"))
    form = LoginForm()
    if form.validate_on_submit():
        therapist = accounts.authenticate(form.email.data, form.password.data)
        if therapist is not None:
            _start_session(therapist, remember=form.remember.data)
            return redirect(_next_url(), 303)
        form.form_errors.append("Email or password is incorrect.")
    status = 422 if form.is_submitted() else 200
    return render("auth/login.html", "form", status, form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()  # drop everything the logged-in session held, then leave only the notice
    flash("You are logged out.")
    return redirect(url_for("auth.login"), 303)


@bp.get("/signed-out")
def signed_out():
    return render_template("auth/signed_out.html")



@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT, methods=["POST"])
@limiter.limit(RESET_LIMIT, methods=["POST"], key_func=account_limit_key)
def forgot_password():
    """The same answer whether or not the address has an account, so it tells no one who uses Hearth."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.ask_for_reset(form.email.data)
        return render("auth/forgot_password.html", "form", form=form, sent=True)
    return render("auth/forgot_password.html", "form", 422 if form.is_submitted() else 200, form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@link_misses
def reset_password(token: str):
    reset = accounts.find_reset(token)
    if reset is None:
        return render_template("errors/error.html", title="This reset link is no longer valid",
                               message="Reset links work once, for one hour. Ask for a new one from the login page."), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        therapist = accounts.finish_reset(reset, form.password.data)
        activity.record(therapist, "password_reset", ip=request.remote_addr or "")
        logout_user()
        session.clear()
        flash("Your password is changed, and every device was signed out. Log in with the new password.")
        return redirect(url_for("auth.login"), 303)
    return render("auth/reset_password.html", "form", 422 if form.is_submitted() else 200, form=form, token=token)
