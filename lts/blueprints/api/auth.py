"""``/api/v1/auth``: tokens for scripts, the current user, password change and reset."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask_login import current_user

from lts.blueprints.api import bp, load_json
from lts.blueprints.api._common import documented
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
    TokenSchema,
)
from lts.schemas.common import instance
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


def _token_body(row: UserSession, raw: str | None = None) -> dict[str, Any]:
    """Serialize a token; the raw secret only right after creation."""
    body: dict[str, Any] = instance(TokenSchema).dump(row)
    if raw is not None:
        body["token"] = raw
    return body


@bp.post("/auth/login")
@documented(body=LoginSchema, responses={201: IssuedTokenSchema}, anonymous=True)
@public
@csrf_exempt_json
@login_limited
def login() -> Any:
    """Exchange a username and password for a bearer token."""
    data = load_json(instance(LoginSchema))
    aaa = current_aaa()
    result = aaa.authenticate(data["username"], data["password"], ip=client_ip())
    if not result.ok or result.user is None:
        return error_response(401, GENERIC_LOGIN_FAILURE)
    audit("login", f"user:{result.user.id}", {"via": "api"}, user=result.user)
    issued = aaa.issue_token(result.user, data["name"], data["ttl_hours"], ip=client_ip())
    return jsonify(_token_body(issued.row, issued.raw)), 201


@bp.post("/auth/logout")
@documented(responses={204: None})
def logout() -> Any:
    """Revoke the token used for this call (or end the browser session)."""
    row = current_session()
    audit("logout", f"user:{current_user.id}", {"via": auth_method()})
    if auth_method() == "token" and row is not None:
        current_aaa().revoke_token(row.id)
    else:
        logout_browser_session()
    return "", 204


@bp.get("/auth/me")
@documented(responses={200: UserSchema})
def me() -> Any:
    """Return the current user."""
    return jsonify(instance(UserSchema).dump(actor()))


@bp.get("/auth/tokens")
@documented(responses={200: TokenListSchema})
def list_tokens() -> Any:
    """List the current user's API tokens (secrets never included)."""
    rows = token_service.list_tokens(actor())
    return jsonify({"items": instance(TokenSchema, many=True).dump(rows)})


@bp.post("/auth/tokens")
@documented(body=TokenCreateSchema, responses={201: IssuedTokenSchema})
@credential_limited
def create_token() -> Any:
    """Create a token; ``password`` is required when the last login is over 10 minutes old."""
    data = load_json(instance(TokenCreateSchema))
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
    return jsonify(_token_body(issued.row, issued.raw)), 201


@bp.delete("/auth/tokens/<int:token_id>")
@documented(responses={204: None})
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens; someone else's answers 404."""
    token = get_owned_or_404(UserSession, token_id, "delete")
    if current_aaa().revoke_token(token.id):
        audit("token.revoke", f"token:{token.id}", {"name": token.name})
    return "", 204


@bp.post("/auth/password")
@documented(body=PasswordChangeSchema, responses={204: None})
@password_change_limited
def change_password() -> Any:
    """Change the password; every other session and token of the user ends.

    A wrong current password counts like a failed login (lockout and rate limits
    shared with the login); a locked account answers 403 ``account_locked``.
    """
    data = load_json(instance(PasswordChangeSchema))
    row = current_session()
    current_aaa().change_password(actor(),
                                  data["current_password"], data["new_password"],
                                  keep_session_id=row.id if row else None, ip=client_ip())
    return "", 204


@bp.post("/auth/register")
@documented(body=RegisterSchema, responses={201: UserSchema}, anonymous=True)
@public
@csrf_exempt_json
@credential_limited
def register() -> Any:
    """Self-registration while ``registration_open`` is true (404 otherwise)."""
    if not current_app.config["LTS"]["registration_open"]:
        return error_response(404, "registration is closed")
    data = load_json(instance(RegisterSchema))
    user = current_aaa().register(data["username"], data["email"], data["password"])
    return jsonify(instance(UserSchema).dump(user)), 201


@bp.post("/auth/password-reset")
@documented(body=ResetRequestSchema, responses={202: MessageSchema}, anonymous=True)
@public
@csrf_exempt_json
@reset_limited
def password_reset_request() -> Any:
    """Ask for a reset link; 202 whether or not the account exists."""
    data = load_json(instance(ResetRequestSchema))
    request_reset(data["identifier"], ip=client_ip())
    return jsonify({"message": RESET_ACCEPTED}), 202


@bp.post("/auth/password-reset/confirm")
@documented(body=ResetConfirmSchema, responses={204: None}, anonymous=True)
@public
@csrf_exempt_json
@credential_limited
def password_reset_confirm() -> Any:
    """Set a new password with a reset token (single use, 30 minutes)."""
    data = load_json(instance(ResetConfirmSchema))
    current_aaa().reset_password(data["token"], data["password"])
    return "", 204
