"""``/api/v1/plugins``: every loaded plugin with its config JSON Schema; reload (admins)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp
from lts.blueprints.api._common import admin_only
from lts.schemas.admin import PluginListSchema, PluginQuerySchema
from lts.security.authz import client_ip
from lts.services import plugin_catalog
from lts.services.access import is_admin
from lts.web.request import actor


@bp.get("/plugins")
@bp.arguments(PluginQuerySchema, location="query", unknown=RAISE)
@bp.response(200, PluginListSchema)
def list_plugins(args: dict[str, Any]) -> Any:
    """Plugins by kind and name; admins also see plugins that failed to load."""
    user = actor()
    errors = plugin_catalog.load_errors(user) if is_admin(user) else []
    return {"items": plugin_catalog.list_plugins(user, args["kind"]), "errors": errors}


@bp.post("/plugins/reload")
@admin_only
@bp.response(200, PluginListSchema)
def reload_plugins() -> Any:
    """Discover the plugins again without a restart (newly installed distributions appear).

    An upgraded distribution whose code is already imported keeps running it until LTS
    restarts; the answer's ``errors`` say so.
    """
    return plugin_catalog.reload_plugins(actor(), ip=client_ip())
