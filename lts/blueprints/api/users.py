"""``/api/v1/users``: user administration (admins only)."""

from __future__ import annotations

from typing import Any

from lts.blueprints.api import bp
from lts.blueprints.api._common import admin_only, created
from lts.models import User
from lts.schemas.users import (
    SessionsEndedSchema,
    UserCreateSchema,
    UserListSchema,
    UserSchema,
    UserUpdateSchema,
)
from lts.security.authz import client_ip
from lts.services import auth_admin
from lts.web.owned import get_owned_or_404
from lts.web.request import actor


@bp.get("/users")
@admin_only
@bp.response(200, UserListSchema)
def list_users() -> Any:
    """Every user."""
    return {"items": auth_admin.list_users(actor())}


@bp.post("/users")
@admin_only
@bp.arguments(UserCreateSchema)
@bp.response(201, UserSchema)
def create_user(data: dict[str, Any]) -> Any:
    """Create a user (any role)."""
    user = auth_admin.admin_create_user(actor(), data["username"], data["email"],
                                        data["role"], data["password"], ip=client_ip())
    return created(user, "api.get_user", user_id=user.id)


@bp.get("/users/<int:user_id>")
@admin_only
@bp.response(200, UserSchema)
def get_user(user_id: int) -> Any:
    """One user."""
    return get_owned_or_404(User, user_id, "read")


@bp.patch("/users/<int:user_id>")
@admin_only
@bp.arguments(UserUpdateSchema)
@bp.response(200, UserSchema)
def update_user(data: dict[str, Any], user_id: int) -> Any:
    """Change role and/or active flag (never leaving no active admin)."""
    user = get_owned_or_404(User, user_id, "update")
    if "role" in data:
        auth_admin.set_role(actor(), user, data["role"], ip=client_ip())
    if "is_active" in data:
        auth_admin.set_active(actor(), user, data["is_active"], ip=client_ip())
    return user


@bp.post("/users/<int:user_id>/unlock")
@admin_only
@bp.response(200, UserSchema)
def unlock_user(user_id: int) -> Any:
    """Lift a lockout."""
    user = get_owned_or_404(User, user_id, "update")
    return auth_admin.unlock(actor(), user, ip=client_ip())


@bp.post("/users/<int:user_id>/revoke-sessions")
@admin_only
@bp.response(200, SessionsEndedSchema)
def revoke_user_sessions(user_id: int) -> Any:
    """Sign a user out everywhere: every browser session and API token ends."""
    user = get_owned_or_404(User, user_id, "update")
    return {"sessions_ended": auth_admin.revoke_sessions(actor(), user, ip=client_ip())}
