"""``/api/v1/auth``: tokens for scripts, the current user, password change and reset."""

from __future__ import annotations

import functools
from typing import Any

from flask import current_app
from flask_login import current_user

from lts.blueprints.api import bp
from lts.blueprints.api._common import Extended, created
from lts.http_errors import error_response
from lts.models import UserSession
from lts.plugins.aaa import current_aaa
from lts.schemas.auth import (
    IssuedTokenSchema,
    LoginSchema,
    MessageSchema,
    PasswordChangeSchema,
    RegisterSchema,
    ResetConfirmSchema,
    ResetRequestSchema,
    TokenCreateSchema,
    TokenListSchema,
)
from lts.schemas.users import UserSchema
from lts.security import logout_browser_session
from lts.security.authz import (
    audit,
    auth_method,
    client_ip,
    csrf_exempt_json,
    current_session,
    needs_reauth,
    public,
    reauthenticate,
)
from lts.security.limits import (
    credential_limited,
    login_limited,
    password_change_limited,
    reset_limited,
)
from lts.services import tokens as token_service
from lts.services.auth_reset import request_reset
from lts.web.owned import get_owned_or_404
from lts.web.request import actor

GENERIC_LOGIN_FAILURE = "invalid username or password, or the account is locked"
RESET_ACCEPTED = "if an account matches, a reset link has been issued"


@bp.post("/auth/login")
@public
@csrf_exempt_json
@login_limited
@bp.arguments(LoginSchema)
@bp.response(201, IssuedTokenSchema)
@bp.doc(security=[])
def login(data: dict[str, Any]) -> Any:
    """Exchange a username and password for a bearer token."""
    aaa = current_aaa()
    result = aaa.authenticate(data["username"], data["password"], ip=client_ip())
    if not result.ok or result.user is None:
        return error_response(401, GENERIC_LOGIN_FAILURE)
    audit("login", f"user:{result.user.id}", {"via": "api"}, user=result.user)
    issued = aaa.issue_token(result.user, data["name"], data["ttl_hours"], ip=client_ip())
    return created(Extended(issued.row, token=issued.raw), "api.revoke_token",
                   token_id=issued.row.id)


@bp.post("/auth/logout")
@bp.response(204)
def logout() -> Any:
    """Revoke the token used for this call (or end the browser session)."""
    row = current_session()
    audit("logout", f"user:{current_user.id}", {"via": auth_method()})
    if auth_method() == "token" and row is not None:
        current_aaa().revoke_token(row.id)
    else:
        logout_browser_session()
    return None


@bp.get("/auth/me")
@bp.response(200, UserSchema)
def me() -> Any:
    """Return the current user."""
    return actor()


@bp.get("/auth/tokens")
@bp.response(200, TokenListSchema)
def list_tokens() -> Any:
    """List the current user's API tokens (secrets never included)."""
    return {"items": token_service.list_tokens(actor())}


@bp.post("/auth/tokens")
@credential_limited
@bp.arguments(TokenCreateSchema)
@bp.response(201, IssuedTokenSchema)
def create_token(data: dict[str, Any]) -> Any:
    """Create a token; ``password`` is required when the last login is over 10 minutes old."""
    aaa = current_aaa()
    user = actor()
    if needs_reauth():
        if not data["password"]:
            return error_response(401, "enter your password again to create a token",
                                  {"password": ["is required (last login over 10 minutes)"]},
                                  code="reauth_required")
        if not reauthenticate(data["password"]):
            return error_response(401, "the password is not correct",
                                  {"password": ["is not correct"]}, code="reauth_required")
    issued = aaa.issue_token(user, data["name"], data["ttl_hours"], ip=client_ip())
    return created(Extended(issued.row, token=issued.raw), "api.revoke_token",
                   token_id=issued.row.id)


@bp.delete("/auth/tokens/<int:token_id>")
@bp.response(204)
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens; someone else's answers 404."""
    token = get_owned_or_404(UserSession, token_id, "delete")
    if current_aaa().revoke_token(token.id):
        audit("token.revoke", f"token:{token.id}", {"name": token.name})
    return None


@bp.post("/auth/password")
@password_change_limited
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
def change_password(data: dict[str, Any]) -> Any:
    """Change the password; every other session and token of the user ends.

    A wrong current password counts like a failed login (lockout and rate limits
    shared with the login); a locked account answers 403 ``account_locked``.
    """
    row = current_session()
    current_aaa().change_password(actor(),
                                  data["current_password"], data["new_password"],
                                  keep_session_id=row.id if row else None, ip=client_ip())
    return None


def _registration_open(view: Any) -> Any:
    """404 ``registration is closed`` before the body is read, unless registration is open."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_app.config["LTS"]["registration_open"]:
            return error_response(404, "registration is closed")
        return view(*args, **kwargs)

    return wrapper


@bp.post("/auth/register")
@public
@csrf_exempt_json
@credential_limited
@_registration_open
@bp.arguments(RegisterSchema)
@bp.response(201, UserSchema)
@bp.doc(security=[])
def register(data: dict[str, Any]) -> Any:
    """Self-registration while ``registration_open`` is true (404 otherwise)."""
    return current_aaa().register(data["username"], data["email"], data["password"])


@bp.post("/auth/password-reset")
@public
@csrf_exempt_json
@reset_limited
@bp.arguments(ResetRequestSchema)
@bp.response(202, MessageSchema)
@bp.doc(security=[])
def password_reset_request(data: dict[str, Any]) -> Any:
    """Ask for a reset link; 202 whether or not the account exists."""
    request_reset(data["identifier"], ip=client_ip())
    return {"message": RESET_ACCEPTED}


@bp.post("/auth/password-reset/confirm")
@public
@csrf_exempt_json
@credential_limited
@bp.arguments(ResetConfirmSchema)
@bp.response(204)
@bp.doc(security=[])
def password_reset_confirm(data: dict[str, Any]) -> Any:
    """Set a new password with a reset token (single use, 30 minutes)."""
    current_aaa().reset_password(data["token"], data["password"])
    return None
