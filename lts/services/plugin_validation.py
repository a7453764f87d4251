"""Plugin names and configs checked through the registry, with errors naming the field.

Shared by the portfolio and asset services: an unknown plugin is reported on
``<kind>_plugin``, an invalid config on ``<kind>_config`` with the plugin's own field
names inside (``{"strategy_config": {"threshold": ["..."]}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from lts.plugins.registry import PluginConfigError, PluginRegistry, UnknownPlugin, get_registry


def registry() -> PluginRegistry:
    """The current app's plugin registry."""
    return get_registry(current_app._get_current_object())  # type: ignore[attr-defined]


def check_plugin(kind: str, name: Any, config: Any, errors: dict[str, Any]) -> None:
    """Validate plugin ``name`` of ``kind`` and its ``config``; add problems to ``errors``."""
    if not isinstance(name, str) or not name:
        errors[f"{kind}_plugin"] = ["must be the name of a plugin"]
        return
    if config is not None and not isinstance(config, Mapping):
        errors[f"{kind}_config"] = {"_schema": ["must be a JSON object"]}
        return
    try:
        registry().validate_config(kind, name, config or {})
    except UnknownPlugin as exc:
        errors[f"{kind}_plugin"] = [str(exc)]
    except PluginConfigError as exc:
        errors[f"{kind}_config"] = exc.fields
