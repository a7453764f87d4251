"""``/api/v1/config``: every setting, one setting, and changing a runtime one (admins)."""

from __future__ import annotations

from typing import Any

from lts.blueprints.api import bp
from lts.blueprints.api._common import admin_only
from lts.config import SETTINGS
from lts.schemas.admin import ConfigItemSchema, ConfigListSchema, ConfigValueSchema
from lts.security.authz import client_ip
from lts.services import config_admin
from lts.web.request import actor


@bp.get("/config")
@admin_only
@bp.response(200, ConfigListSchema)
def list_config() -> Any:
    """Every setting with its effective value (secrets masked)."""
    return {"items": config_admin.list_config(actor(), ip=client_ip())}


@bp.get("/config/<string:key>")
@admin_only
@bp.response(200, ConfigItemSchema)
def get_config(key: str) -> Any:
    """One setting."""
    return config_admin.get_config(actor(), key, ip=client_ip())


# The keys a PUT may change, listed in the document (others answer 422 naming `key`).
RUNTIME_KEYS = sorted(key for key, setting in SETTINGS.items() if setting.runtime)


@bp.put("/config/<string:key>")
@admin_only
@bp.doc(description="Runtime-editable keys (any other key is refused with 422): "
        + ", ".join(f"`{key}`" for key in RUNTIME_KEYS) + ".")
@bp.arguments(ConfigValueSchema)
@bp.response(200, ConfigItemSchema)
def put_config(data: dict[str, Any], key: str) -> Any:
    """Change a runtime setting (validated); the loop reads it at its next tick."""
    return config_admin.set_config(actor(), key, data["value"], ip=client_ip())
