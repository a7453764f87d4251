"""The plugins LTS loaded, with their config JSON Schemas, and those that failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lts.models import User
from lts.services.access import require_admin
from lts.services.plugin_validation import registry


@dataclass(frozen=True)
class PluginEntry:
    """One loaded plugin as the API and pages show it."""

    kind: str
    name: str
    description: str
    origin: str
    is_default: bool
    config_schema: dict[str, Any]


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
                                   is_default=reg.default(info.kind) == info.name,
                                   config_schema=schema))
    return entries


def load_errors(actor: User, *, ip: str | None = None) -> list[dict[str, str]]:
    """Plugins that failed to load, and why (admins only)."""
    require_admin(actor, "plugins.errors", ip=ip)
    return [{"kind": e.kind, "name": e.name, "origin": e.origin, "message": e.message}
            for e in registry().errors]
