"""The plugin versions an order was made with, recorded on its row (issue 19, item 3).

Which pipeline, strategy, broker and portfolio plugin were in use, each with the version
of the distribution that ships it and the ``interface_version`` it declares: after an
upgrade, orders placed by the old and the new plugin stay told apart. Names come from
the asset and its portfolio as stored when the order is written; versions from the
registry (``"unknown"`` for a plugin it does not hold, such as a test's own factory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select

from lts.models import Asset, Portfolio

UNKNOWN = "unknown"
_ASSETS = Asset.__table__
_PORTFOLIOS = Portfolio.__table__
_NAMES = (select(_ASSETS.c.pipeline_plugin, _ASSETS.c.strategy_plugin,
                 _ASSETS.c.broker_plugin, _PORTFOLIOS.c.portfolio_plugin)
          .join(_PORTFOLIOS, _PORTFOLIOS.c.id == _ASSETS.c.portfolio_id)
          .where(_ASSETS.c.id == bindparam("asset_id")))


def describe(registry: Any, kind: str, name: str) -> dict[str, str]:
    """``{"name", "version", "interface_version"}`` of one plugin, as the registry knows it."""
    info = None
    if registry is not None:
        try:
            info = registry.info(kind, name)
        except LookupError:  # unknown to the registry (UnknownPlugin is a LookupError)
            info = None
    return {"name": name,
            "version": (info.version or UNKNOWN) if info else UNKNOWN,
            "interface_version": (info.interface_version or UNKNOWN) if info else UNKNOWN}


def versions_of(registry: Any, names: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The versions of the plugins ``names`` (kind -> name), kind by kind."""
    return {kind: describe(registry, kind, name) for kind, name in names.items()}


def order_plugin_versions(connection: Connection, asset_id: int,
                          registry: Any) -> dict[str, dict[str, str]] | None:
    """What to store in ``orders.plugin_versions`` for an order of ``asset_id``.

    None when the asset is gone (the order's insert then fails on its foreign key).
    """
    row = connection.execute(_NAMES, {"asset_id": asset_id}).first()
    if row is None:
        return None
    return versions_of(registry, {"pipeline": row.pipeline_plugin,
                                  "strategy": row.strategy_plugin,
                                  "broker": row.broker_plugin,
                                  "portfolio": row.portfolio_plugin})


def app_registry(app: Any) -> Any:
    """The registry of ``app`` (None without an app: every version is then unknown)."""
    if app is None:
        return None
    from lts.plugins.registry import get_registry

    return get_registry(app)
