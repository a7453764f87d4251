"""``/api/v1/config``: every setting, one setting, and changing a runtime one (admins)."""

from __future__ import annotations

from typing import Any

from lts.blueprints.api import bp
from lts.schemas.admin import ConfigItemSchema, ConfigListSchema, ConfigValueSchema
from lts.security.authz import client_ip, role_required
from lts.services import config_admin
from lts.web.request import actor


@bp.get("/config")
@role_required("admin")
@bp.response(200, ConfigListSchema)
def list_config() -> Any:
    """Every setting with its effective value (secrets masked)."""
    return {"items": config_admin.list_config(actor(), ip=client_ip())}


@bp.get("/config/<string:key>")
@role_required("admin")
@bp.response(200, ConfigItemSchema)
def get_config(key: str) -> Any:
    """One setting."""
    return config_admin.get_config(actor(), key, ip=client_ip())


@bp.put("/config/<string:key>")
@role_required("admin")
@bp.arguments(ConfigValueSchema)
@bp.response(200, ConfigItemSchema)
def put_config(data: dict[str, Any], key: str) -> Any:
    """Change a runtime setting (validated); the loop reads it at its next tick."""
    return config_admin.set_config(actor(), key, data["value"], ip=client_ip())
