"""``/api/v1/users``: user administration (admins only)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from lts.blueprints.api import bp, load_json
from lts.blueprints.api._common import documented
from lts.models import User
from lts.schemas.common import instance
from lts.schemas.users import (
    SessionsEndedSchema,
    UserCreateSchema,
    UserListSchema,
    UserSchema,
    UserUpdateSchema,
)
from lts.security.authz import client_ip, role_required
from lts.services import auth_admin
from lts.web.owned import get_owned_or_404
from lts.web.request import actor


@bp.get("/users")
@documented(responses={200: UserListSchema})
@role_required("admin")
def list_users() -> Any:
    """Every user."""
    return jsonify({"items": instance(UserSchema, many=True).dump(auth_admin.list_users(actor()))})


@bp.post("/users")
@documented(body=UserCreateSchema, responses={201: UserSchema})
@role_required("admin")
def create_user() -> Any:
    """Create a user (any role)."""
    data = load_json(instance(UserCreateSchema))
    user = auth_admin.admin_create_user(actor(), data["username"], data["email"],
                                        data["role"], data["password"], ip=client_ip())
    return jsonify(instance(UserSchema).dump(user)), 201


@bp.get("/users/<int:user_id>")
@documented(responses={200: UserSchema})
@role_required("admin")
def get_user(user_id: int) -> Any:
    """One user."""
    return jsonify(instance(UserSchema).dump(get_owned_or_404(User, user_id, "read")))


@bp.patch("/users/<int:user_id>")
@documented(body=UserUpdateSchema, responses={200: UserSchema})
@role_required("admin")
def update_user(user_id: int) -> Any:
    """Change role and/or active flag (never leaving no active admin)."""
    user = get_owned_or_404(User, user_id, "update")
    data = load_json(instance(UserUpdateSchema))
    if "role" in data:
        auth_admin.set_role(actor(), user, data["role"], ip=client_ip())
    if "is_active" in data:
        auth_admin.set_active(actor(), user, data["is_active"], ip=client_ip())
    return jsonify(instance(UserSchema).dump(user))


@bp.post("/users/<int:user_id>/unlock")
@documented(responses={200: UserSchema})
@role_required("admin")
def unlock_user(user_id: int) -> Any:
    """Lift a lockout."""
    user = get_owned_or_404(User, user_id, "update")
    return jsonify(instance(UserSchema).dump(auth_admin.unlock(actor(), user, ip=client_ip())))


@bp.post("/users/<int:user_id>/revoke-sessions")
@documented(responses={200: SessionsEndedSchema})
@role_required("admin")
def revoke_user_sessions(user_id: int) -> Any:
    """Sign a user out everywhere: every browser session and API token ends."""
    user = get_owned_or_404(User, user_id, "update")
    ended = auth_admin.revoke_sessions(actor(), user, ip=client_ip())
    return jsonify({"sessions_ended": ended})
