"""The aaa plugin of an app: built at start-up from the one plugin registry.

aaa plugins are found like every other kind (built-ins in this package, installed
packages under the entry-point group ``lts.aaa``, none of those in safe mode) and pass
the same load checks (:mod:`lts.plugins.registry`). The one named by the ``aaa_plugin``
setting is built once per app; an unknown or broken one stops start-up with a message
naming it and why it failed to load, instead of failing on the first login.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from flask import current_app

from lts.plugins.aaa.base import AAAPlugin, Clock
from lts.plugins.registry import PluginRegistry

EXTENSION_KEY = "lts.aaa"


def signing_key(secret_key: str, plugin_name: str) -> str:
    """A key for what the aaa plugin ``plugin_name`` signs, derived from the app's secret.

    The plugin never holds the secret key itself (which also signs session cookies):
    HMAC-SHA256 of its name under that key gives it one of its own.
    """
    return hmac.new(secret_key.encode("utf-8"), f"lts.aaa:{plugin_name}".encode(),
                    hashlib.sha256).hexdigest()


def build_aaa_plugin(registry: PluginRegistry, settings: Mapping[str, Any], secret_key: str,
                     *, clock: Clock | None = None) -> AAAPlugin:
    """Build the aaa plugin named by ``settings["aaa_plugin"]``.

    Raises :class:`lts.plugins.registry.UnknownPlugin` (naming the plugins available and
    why this one failed to load, if it did) when there is no such plugin.
    """
    name = settings["aaa_plugin"]
    plugin = registry.create("aaa", name, {}, settings, clock=clock,
                             signing_key=signing_key(secret_key, name))
    if not isinstance(plugin, AAAPlugin):  # the registry checked the class already
        raise TypeError(f"aaa plugin {name!r} does not implement the aaa contract")
    return plugin


def current_aaa() -> AAAPlugin:
    """Return the aaa plugin of the current app."""
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
