"""Where the engine gets plugin instances: the registry, cached per (kind, name, config).

Configs arrive as stored, secret fields encrypted; :class:`RegistryPluginSource`
decrypts them only to build the plugin they belong to, so a plaintext secret lives in
that plugin's ``config`` and nowhere else (not in cache keys, not in the asset view
other plugins see). The cache follows the app's registry: after a plugin reload the
next ``get`` builds fresh instances from the new classes.

Tests and benchmarks may pass any object with the same ``get`` method (for example a
dictionary of fake plugins) instead of the registry.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import select

from lts.extensions import db
from lts.models import ConfigEntry
from lts.plugins import config_secrets
from lts.plugins.base import Plugin
from lts.plugins.registry import PluginRegistry, UnknownPlugin, get_registry, reload_registry

GENERATION_KEY = "plugins_generation"
SYNC_STATE_KEY = "lts_plugins_sync"
#: How often a process looks for a reload made by another one (``LTS_PLUGIN_SYNC_SECONDS``
#: in the Flask config changes it; tests use 0).
SYNC_SECONDS = 5.0


class PluginSource(Protocol):
    """Gives the engine a ready plugin instance."""

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Plugin:
        """Return the plugin ``name`` of ``kind`` built with ``config``."""


def _config_key(config: Mapping[str, Any]) -> str:
    """Return a stable key for a JSON config (a digest: no config value is kept in it)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_generation() -> str:
    """The plugins generation in the Config table ("" before any reload).

    Read on a connection of its own, so a caller in the middle of a transaction (the
    engine) is not disturbed by it. A plain read (never ``BEGIN IMMEDIATE``): inside a
    writing request the request's own transaction may hold SQLite's write lock, and a
    second connection asking for it from the same thread would wait for itself.
    """
    with db.engine.connect().execution_options(sqlite_immediate=False) as connection:
        value = connection.execute(select(ConfigEntry.value).where(
            ConfigEntry.key == GENERATION_KEY)).scalar()
    return str(value or "")


def mark_generation(app: Flask, generation: str) -> None:
    """Remember that this process's registry is as of ``generation`` (it just reloaded)."""
    state = app.extensions.setdefault(SYNC_STATE_KEY, {"seen": None, "checked": 0.0})
    state.update(seen=generation, checked=time.monotonic())


def synced_registry(app: Flask) -> PluginRegistry:
    """The app's registry, re-discovered when another process reloaded the plugins.

    "Reload plugins" runs in the one process that answered the admin; it also stores a
    new generation in the Config table. Every other process (web workers, the loop)
    checks that value at most every ``SYNC_SECONDS`` and reloads when it changed, so
    they all end up with the same plugins.
    """
    state = app.extensions.setdefault(SYNC_STATE_KEY, {"seen": None, "checked": None})
    interval = float(app.config.get("LTS_PLUGIN_SYNC_SECONDS", SYNC_SECONDS))
    now = time.monotonic()
    if state["checked"] is None or now - state["checked"] >= interval:
        state["checked"] = now
        generation = stored_generation()
        if state["seen"] is None:
            state["seen"] = generation  # discovered at start-up: current as of now
        elif generation != state["seen"]:
            state["seen"] = generation
            return reload_registry(app)
    return get_registry(app)


class RegistryPluginSource:
    """Builds plugins through the registry once, then reuses the instances."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._cache: dict[tuple[str, str, str], Plugin] = {}
        self._registry: Any = None
        self._lock = threading.Lock()

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Plugin:
        """Return a cached instance, creating (and validating) it on first use."""
        key = (kind, name, _config_key(config))
        with self._lock:
            registry = synced_registry(self.app)
            if registry is not self._registry:  # plugins were reloaded: forget old classes
                self._cache.clear()
                self._registry = registry
            plugin = self._cache.get(key)
            if plugin is None:
                plugin = registry.create(kind, name, self._plain(config),
                                         self.app.config["LTS"])
                self._cache[key] = plugin
            return plugin

    def _plain(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with its stored secrets decrypted, for the plugin being built."""
        return config_secrets.decrypt_config(config, self.app.config["SECRET_KEY"])


class FactoryPluginSource:
    """Builds plugins from ``{(kind, name): factory(config)}``; for tests and benchmarks."""

    def __init__(self, factories: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], Plugin]],
                 fallback: PluginSource | None = None) -> None:
        self.factories = dict(factories)
        self.fallback = fallback
        self._cache: dict[tuple[str, str, str], Plugin] = {}

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Plugin:
        """Return the instance for ``(kind, name, config)``, built once."""
        key = (kind, name, _config_key(config))
        if key not in self._cache:
            factory = self.factories.get((kind, name))
            if factory is None:
                if self.fallback is None:
                    raise LookupError(f"no {kind} plugin named '{name}'")
                return self.fallback.get(kind, name, config)
            self._cache[key] = factory(config)
        return self._cache[key]


def secret_names(kind: str, name: str | None, *configs: Mapping[str, Any] | None) -> set[str]:
    """Secret field names of plugin ``name``'s config: flagged, or named like a credential."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        schema_cls = synced_registry(app).info(kind, name or "").cls.config_schema
    except (UnknownPlugin, ValueError):
        schema_cls = None
    names = config_secrets.secret_field_names(schema_cls)
    for config in configs:  # with the schema: it may name nested configs' secrets
        names |= config_secrets.secret_field_names(schema_cls, config)
    return names


def public_config(kind: str, name: str | None, stored: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """A stored config as it may be shown: every secret masked.

    Beside the decryption above so that opening a stored config for its plugin and
    masking it for people use the same secret names (services and schemas alike).
    """
    config = dict(stored or {})
    return config_secrets.mask_config(config, secret_names(kind, name, config))
