"""Load the aaa plugin named by the ``aaa_plugin`` setting.

Built-ins live in this package; installed packages add theirs under the entry-point
group ``lts.aaa``. ``safe_mode`` turns third-party plugins off. A plugin is checked
when it loads (contract, interface version, config), so a broken one stops start-up
with a message naming it instead of failing on the first login.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from flask import current_app
from marshmallow import ValidationError

from lts.plugins.aaa.base import INTERFACE_VERSION, AAAPlugin, Clock

ENTRY_POINT_GROUP = "lts.aaa"
EXTENSION_KEY = "lts.aaa"
BUILTINS = {"default": "lts.plugins.aaa.default:DefaultAAA"}


class PluginLoadError(RuntimeError):
    """The configured aaa plugin is unknown, broken or misconfigured."""


def _import(target: str) -> Any:
    """Import ``module:attribute``."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def find_plugin_class(name: str, *, safe_mode: bool = False) -> type[AAAPlugin]:
    """Return the class of the aaa plugin called ``name``."""
    if name in BUILTINS:
        cls = _import(BUILTINS[name])
    elif safe_mode:
        raise PluginLoadError(f"aaa plugin '{name}': safe mode allows built-ins only "
                              f"({', '.join(sorted(BUILTINS))})")
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            known = sorted(set(BUILTINS) | {ep.name for ep in
                                            entry_points(group=ENTRY_POINT_GROUP)})
            raise PluginLoadError(f"aaa plugin '{name}' is unknown; known: {', '.join(known)}")
        try:
            cls = matches[0].load()
        except Exception as exc:  # a third-party import error must name the plugin
            raise PluginLoadError(f"aaa plugin '{name}' failed to import: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, AAAPlugin)):
        raise PluginLoadError(f"aaa plugin '{name}' does not implement the aaa contract")
    if cls.kind != "aaa" or cls.interface_version != INTERFACE_VERSION:
        raise PluginLoadError(f"aaa plugin '{name}' implements kind {cls.kind!r} version "
                              f"{cls.interface_version}; LTS needs aaa version "
                              f"{INTERFACE_VERSION}")
    return cls


def load_aaa_plugin(name: str, config: Mapping[str, Any], *, clock: Clock | None = None,
                    safe_mode: bool = False) -> AAAPlugin:
    """Find, validate the config of, and build the aaa plugin ``name``."""
    cls = find_plugin_class(name, safe_mode=safe_mode)
    try:
        cls.config_schema().load(dict(config))
    except ValidationError as exc:
        raise PluginLoadError(f"aaa plugin '{name}': invalid config: {exc.messages}") from None
    return cls(config, clock=clock)


def current_aaa() -> AAAPlugin:
    """Return the aaa plugin of the current app."""
    return current_app.extensions[EXTENSION_KEY]
