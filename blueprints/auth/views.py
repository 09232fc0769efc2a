from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

import accounts
import activity
import invites
import links
import mail
import security
import twofactor
from blueprints import link_misses, log_out_here, note, render, wrong_code_limit, wrong_secret
from blueprints.auth import bp
from blueprints.auth.forms import ForgotPasswordForm, LoginCodeForm, LoginForm, ResetPasswordForm, SignupForm
from extensions import db, limiter
from models import Therapist

LOGIN_LIMIT = "10 per 15 minutes"
RESET_LIMIT = "5 per hour"
SIGNUP_LIMIT = "5 per hour"


def _failed(response) -> bool:
    """Only refused logins count against the limit, not successful ones."""
    return response.status_code == 422


def account_limit_key() -> str:
    """Limits per account key on the address as authentication reads it, so every spelling shares one count."""
    return accounts.limit_key(accounts.account_key(request.form.get("email")))


def _start_session(therapist, remember: bool = False, how: str = "") -> None:
    security.start_session(therapist, remember=remember)
    note("login", how)


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
        confirmed = accounts.confirm_email(token)
    except accounts.EmailTaken as error:
        return render_template("errors/error.html", title="Your email was not changed", message=str(error)), 409
    if confirmed is None:
        return render_template(
            "errors/error.html",
            title="This confirmation link is no longer valid",
            message="Links work once, for three days. Log in to ask for a new one.",
        ), 404
    therapist, change = confirmed
    if change:  # the booked sessions moved to the new address: a CANCEL to the old one, the invites to the new
        deliveries = invites.send_address_change(change)
        sent = "; ".join(f"{d.method} to {d.recipient} ({d.status})" for d in deliveries)
        activity.record(therapist, "invites_sent", sent, request.remote_addr or "")
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
        if therapist is not None and therapist.two_factor:
            _await_code(therapist, remember=form.remember.data)
            return redirect(url_for("auth.login_code", next=request.args.get("next")), 303)
        if therapist is not None:
            _start_session(therapist, remember=form.remember.data)
            return redirect(_next_url(), 303)
        form.form_errors.append("Email or password is incorrect.")
    status = 422 if form.is_submitted() else 200
    return render("auth/login.html", "form", status, form=form)


# Two-factor login: the password step leaves this much in the session, for this long, then the code step.
CODE_STEP_SECONDS = 5 * 60


def _await_code(therapist, remember: bool) -> None:
    session.clear()
    session["pending_login"] = {
        "therapist": therapist.id,
        "account": therapist.email_key,
        "remember": bool(remember),
        "at": security._now(),
    }


def _pending_therapist():
    """The therapist who gave the right password a moment ago and now owes a code, if any."""
    pending = session.get("pending_login")
    if not pending or security._now() - pending["at"] > CODE_STEP_SECONDS:
        return None, False
    therapist = db.session.get(Therapist, pending["therapist"])
    if therapist is None or not therapist.two_factor:
        return None, False
    return therapist, pending["remember"]


@bp.route("/login/code", methods=["GET", "POST"])
@wrong_code_limit
def login_code():
    therapist, remember = _pending_therapist()
    if therapist is None:
        session.pop("pending_login", None)
        flash("Log in again: the time to enter the code has run out.")
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    if form.validate_on_submit():
        kind = twofactor.verify(therapist, form.code.data)
        if kind is not None:
            _start_session(therapist, remember, "with a recovery code" if kind == "recovery" else "with an app code")
            if kind == "recovery":
                flash(
                    f"You used a recovery code; {twofactor.remaining(therapist)} are left. "
                    "Set up two-factor login again in Account Settings → Security to get new ones."
                )
            return redirect(_next_url(), 303)
        wrong_secret()
        activity.record(therapist, "two_factor_failed", "at login", ip=request.remote_addr or "")
        form.code.errors.append(
            "This code is not right. Use the newest code from your app, or an unused recovery code."
        )
    return render("auth/login_code.html", "form", 422 if form.is_submitted() else 200, form=form)


@bp.post("/logout")
@login_required
def logout():
    return log_out_here()


@bp.get("/signed-out")
def signed_out():
    return render_template("auth/signed_out.html")


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT, methods=["POST"])
@limiter.limit(RESET_LIMIT, methods=["POST"], key_func=account_limit_key)
def forgot_password():
    """The same answer whether or not the address has an account, so it tells no one who uses Hearth."""
    form = ForgotPasswordForm()
    delivery_on = mail.delivery_enabled()
    if form.validate_on_submit():
        if delivery_on:  # with delivery off the link would only reach the Outbox, behind the login it replaces
            accounts.ask_for_reset(form.email.data)
        return render("auth/forgot_password.html", "form", form=form, sent=True, delivery_on=delivery_on)
    return render(
        "auth/forgot_password.html", "form", 422 if form.is_submitted() else 200, form=form, delivery_on=delivery_on
    )


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@link_misses
def reset_password(token: str):
    reset = accounts.find_reset(token)
    if reset is None:
        return render_template(
            "errors/error.html",
            title="This reset link is no longer valid",
            message="Reset links work once, for one hour. Ask for a new one from the login page.",
        ), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        therapist = accounts.finish_reset(reset, form.password.data)
        activity.record(therapist, "password_reset", ip=request.remote_addr or "", commit=False)
        security.sign_out("password_reset")
        db.session.commit()
        flash("Your password is changed, and every device was signed out. Log in with the new password.")
        return redirect(url_for("auth.login"), 303)
    return render("auth/reset_password.html", "form", 422 if form.is_submitted() else 200, form=form, token=token)
