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
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flask import Flask

from lts.plugins.base import Plugin


class PluginSource(Protocol):
    """Gives the engine a ready plugin instance."""

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Plugin:
        """Return the plugin ``name`` of ``kind`` built with ``config``."""


def _config_key(config: Mapping[str, Any]) -> str:
    """Return a stable key for a JSON config (a digest: no config value is kept in it)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RegistryPluginSource:
    """Builds plugins through the registry once, then reuses the instances."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._cache: dict[tuple[str, str, str], Plugin] = {}
        self._registry: Any = None
        self._lock = threading.Lock()

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Plugin:
        """Return a cached instance, creating (and validating) it on first use."""
        from lts.plugins.registry import get_registry

        key = (kind, name, _config_key(config))
        with self._lock:
            registry = get_registry(self.app)
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
        from lts.security.broker_secrets import decrypt_config

        return decrypt_config(config, self.app.config["SECRET_KEY"])


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
