"""``/api/v1/plugins``: every loaded plugin with its config JSON Schema."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp
from lts.blueprints.api._common import actor
from lts.schemas.admin import PluginListSchema, PluginQuerySchema
from lts.services import plugin_catalog
from lts.services.access import is_admin


@bp.get("/plugins")
@bp.arguments(PluginQuerySchema, location="query", unknown=RAISE)
@bp.response(200, PluginListSchema)
def list_plugins(args: dict[str, Any]) -> Any:
    """Plugins by kind and name; admins also see plugins that failed to load."""
    user = actor()
    errors = plugin_catalog.load_errors(user) if is_admin(user) else []
    return {"items": plugin_catalog.list_plugins(user, args["kind"]), "errors": errors}
