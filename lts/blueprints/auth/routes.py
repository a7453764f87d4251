"""Authentication pages: parse the form, ask the aaa plugin, render or redirect."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lts.blueprints.auth import bp
from lts.blueprints.auth.forms import (
    ChangePasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    ResetRequestForm,
    TokenForm,
)
from lts.errors import ServiceError
from lts.models import UserSession
from lts.plugins.aaa import current_aaa
from lts.security import login_browser_session, logout_browser_session
from lts.security.authz import (
    app_setting,
    audit,
    client_ip,
    current_session,
    needs_reauth,
    public,
    reauthenticate,
    safe_next,
)
from lts.security.limits import (
    credential_limited,
    login_limited,
    password_change_limited,
    reset_limited,
)
from lts.services.auth_reset import request_reset
from lts.services.tokens import list_tokens
from lts.web.forms import ActionForm
from lts.web.owned import get_owned_or_404
from lts.web.request import actor

LOGIN_FAILED = "Invalid username or password, or the account is locked for a while."
RESET_SENT = ("If an account matches, a reset link is on its way. Without mail, an "
              "administrator can give you the link.")


def _apply_errors(form: Any, error: ServiceError) -> None:
    """Show a service's field errors next to the form's fields."""
    for field, messages in error.fields.items():
        target = getattr(form, field, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*list(target.errors), *messages]
        else:
            for message in messages:
                flash(f"{field} {message}", "danger")


@bp.route("/login", methods=["GET", "POST"])
@public
@login_limited
def login() -> Any:
    """Show the login page; a success rotates the session and binds it to a row."""
    form = LoginForm()
    remember_enabled = app_setting("remember_me_days") > 0
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if form.validate_on_submit():
        result = current_aaa().authenticate(form.username.data or "", form.password.data or "",
                                            ip=client_ip())
        if result.ok and result.user is not None:
            login_browser_session(result.user, remember=remember_enabled and form.remember.data)
            audit("login", f"user:{result.user.id}", {"via": "web"}, user=result.user)
            return redirect(safe_next(request.args.get("next")))
        flash(LOGIN_FAILED, "danger")
    return render_template("auth/login.html", form=form, remember_enabled=remember_enabled,
                           registration_open=app_setting("registration_open"))


@bp.post("/logout")
def logout() -> Any:
    """End the session for real (its row is revoked) and go back to the login page."""
    audit("logout", f"user:{current_user.id}", {"via": "web"})
    logout_browser_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
@public
@credential_limited
def register() -> Any:
    """Self-registration, only while ``registration_open`` is true."""
    if not app_setting("registration_open"):
        abort(404)
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            current_aaa().register(form.username.data or "", form.email.data or "",
                                   form.password.data or "")
        except ServiceError as exc:
            _apply_errors(form, exc)
        else:
            flash("Your account is ready: sign in.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form), 200 if not form.errors else 422


@bp.route("/reset", methods=["GET", "POST"])
@public
@reset_limited
def reset_request() -> Any:
    """Ask for a reset link; the answer never says whether the account exists."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        request_reset(form.identifier.data or "", ip=client_ip())
        flash(RESET_SENT, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
@credential_limited
def reset_password(token: str) -> Any:
    """Choose a new password with a signed, single-use, 30-minute token."""
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            current_aaa().reset_password(token, form.password.data or "")
        except ServiceError as exc:
            if "token" in exc.fields:
                audit("password_reset.failed", None, {"reason": "invalid_token"}, "denied",
                      user=None)
                flash("This reset link is invalid, used or expired: ask for a new one.",
                      "danger")
                return redirect(url_for("auth.reset_request"))
            _apply_errors(form, exc)
        else:
            flash("Your password is changed: sign in.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, token=token)


def _profile_context(**extra: Any) -> dict[str, Any]:
    """Collect what the profile page shows: password form, tokens, token form."""
    tokens = list_tokens(actor())
    context: dict[str, Any] = {
        "password_form": ChangePasswordForm(),
        "token_form": TokenForm(),
        "revoke_form": ActionForm(),
        "tokens": tokens,
        "needs_reauth": needs_reauth(),
        "now": current_aaa().clock(),
        "new_token": None,
    }
    context.update(extra)
    return context


@bp.get("/profile")
def profile() -> str:
    """Show the profile: change password, list, create and revoke API tokens."""
    return render_template("auth/profile.html", **_profile_context())


@bp.post("/profile/password")
@password_change_limited
def change_password() -> Any:
    """Change one's password; every other session and token ends.

    A wrong current password counts like a failed login; a locked account answers 403.
    """
    form = ChangePasswordForm()
    status = 422
    if form.validate_on_submit():
        row = current_session()
        try:
            current_aaa().change_password(actor(),
                                          form.current_password.data or "",
                                          form.new_password.data or "",
                                          keep_session_id=row.id if row else None,
                                          ip=client_ip())
        except ServiceError as exc:
            _apply_errors(form, exc)
            status = exc.status
        else:
            flash("Password changed; your other sessions and tokens were ended.", "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html",
                           **_profile_context(password_form=form)), status


@bp.post("/profile/tokens")
@credential_limited
def create_token() -> Any:
    """Create an API token, shown once; asks for the password after 10 minutes."""
    form = TokenForm()
    user = actor()
    aaa = current_aaa()
    if form.validate_on_submit():
        if not reauthenticate(form.password.data):
            form.password.errors = ["Enter your current password to create a token."]
        else:
            issued = aaa.issue_token(user, form.name.data or "", form.ttl_hours.data,
                                     ip=client_ip())
            return render_template("auth/profile.html",
                                   **_profile_context(new_token=issued.raw)), 201
    return render_template("auth/profile.html", **_profile_context(token_form=form)), 422


@bp.post("/profile/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens (someone else's answers 404)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    token = get_owned_or_404(UserSession, token_id, "delete")
    if current_aaa().revoke_token(token.id):
        audit("token.revoke", f"token:{token.id}", {"name": token.name})
    flash("Token revoked.", "info")
    return redirect(url_for("auth.profile"))
