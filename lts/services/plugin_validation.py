"""Plugin names and configs checked through the registry, with errors naming the field.

Shared by the portfolio and asset services: an unknown plugin is reported on
``<kind>_plugin``, an invalid config on ``<kind>_config`` with the plugin's own field
names inside (``{"strategy_config": {"threshold": ["..."]}}``).

Secret config fields of every kind are handled here too, the same way for all:
encrypted before they are stored (:func:`stored_config`), masked on the way out
(:func:`lts.trading.plugin_source.public_config`, which the API schemas use too), and
write-only: a secret sent back as the mask keeps its stored value
(:func:`config_to_validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from lts.errors import ValidationFailed
from lts.plugins import config_secrets
from lts.plugins.registry import PluginConfigError, PluginRegistry, UnknownPlugin
from lts.trading.plugin_source import secret_names, synced_registry


def registry() -> PluginRegistry:
    """The current app's plugin registry (following reloads made by other processes)."""
    return synced_registry(current_app._get_current_object())  # type: ignore[attr-defined]


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


def config_to_validate(kind: str, name: str | None, incoming: Any,
                       stored: Mapping[str, Any] | None) -> Any:
    """The submitted config with masked secrets restored and stored ones decrypted.

    ``stored`` is the config saved for the same plugin (empty when the plugin changes).
    Anything but a mapping is returned as it is, for validation to refuse.
    """
    if not isinstance(incoming, Mapping):
        return incoming
    stored = dict(stored or {})
    merged = config_secrets.merge_update(stored, incoming,
                                         secret_names(kind, name, incoming, stored))
    try:
        return config_secrets.decrypt_config(merged)
    except config_secrets.SecretError as exc:
        raise ValidationFailed("a stored secret cannot be read", {
            f"{kind}_config": {"_schema": [f"{exc}; send the secrets again"]}}) from exc


def stored_config(kind: str, name: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A validated config as it is stored: its secret fields encrypted."""
    config = dict(config or {})
    return config_secrets.encrypt_config(config, secret_names(kind, name, config))


def same_config(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> bool:
    """Whether two stored configs hold the same values (ciphertexts differ every time)."""
    return config_secrets.decrypt_config(new) == config_secrets.decrypt_config(old)
