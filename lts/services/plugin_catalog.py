"""The plugins LTS loaded, with their config JSON Schemas, and those that failed.

Admins may re-discover the plugins without a restart (:func:`reload_plugins`): a newly
installed distribution appears at once. Code Python already imported cannot be swapped
honestly, so an upgraded plugin keeps running its old code until LTS restarts, and
the reload says so in the load errors.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app

from lts.models import User
from lts.plugins.registry import reload_registry
from lts.runtime_config import set_runtime_setting
from lts.services.access import record, require_admin
from lts.services.plugin_validation import registry
from lts.trading.plugin_source import GENERATION_KEY, mark_generation


@dataclass(frozen=True)
class PluginEntry:
    """One loaded plugin as the API and pages show it."""

    kind: str
    name: str
    description: str
    origin: str
    version: str
    interface_version: str
    is_default: bool
    config_schema: dict[str, Any]
    settings: tuple[str, ...] = ()  # the global settings it declares (config keys)


def list_plugins(actor: User, kind: str | None = None) -> list[PluginEntry]:
    """Every loaded plugin (of ``kind``), by kind then name; any logged-in user."""
    reg = registry()
    entries = []
    for info in reg.infos(kind):
        try:
            schema = reg.config_json_schema(info.kind, info.name)
        except Exception as exc:  # a plugin whose schema cannot be described
            schema = {"type": "object", "description": f"schema unavailable: {exc!r}"}
        entries.append(PluginEntry(kind=info.kind, name=info.name,
                                   description=info.description or "", origin=info.origin,
                                   version=info.version,
                                   interface_version=info.interface_version,
                                   is_default=reg.default(info.kind) == info.name,
                                   config_schema=schema, settings=info.settings))
    return entries


def load_errors(actor: User, *, ip: str | None = None) -> list[dict[str, str]]:
    """Plugins that failed to load, and why (admins only)."""
    require_admin(actor, "plugins.errors", ip=ip)
    return [{"kind": e.kind, "name": e.name, "origin": e.origin, "message": e.message}
            for e in registry().errors]


def reload_plugins(actor: User, *, ip: str | None = None) -> dict[str, Any]:
    """Discover every plugin again now (admins only, audited); the new listing and errors.

    Plugin instances built from the old registry are dropped by their caches at their
    next use. Other processes (web workers, the loop) see the new generation stored in
    the Config table and re-discover theirs within seconds. The aaa and core plugins
    are built once at start-up: a reload lists a new one, but switching to it
    (``aaa_plugin``, ``core_plugin``) still needs a restart.
    """
    require_admin(actor, "plugins.reload", ip=ip)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    generation = set_runtime_setting(GENERATION_KEY, uuid.uuid4().hex)  # the other processes
    fresh = reload_registry(app)
    mark_generation(app, generation)
    record(actor, "plugins.reload", "plugins", {
        "loaded": len(fresh.infos()),
        "failed": [f"{e.kind}:{e.name}" for e in fresh.errors]}, ip=ip)
    return {"items": list_plugins(actor), "errors": load_errors(actor, ip=ip)}
