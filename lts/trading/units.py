"""An asset's three plugins and the frozen views built from its row."""

from __future__ import annotations

import copy
import functools
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row

from lts.models import Asset, Portfolio
from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    InstrumentSpec,
    PipelinePlugin,
    PortfolioInfo,
    StrategyPlugin,
)
from lts.trading.errors import PluginCallError
from lts.trading.plugin_calls import traceback_summary
from lts.trading.plugin_source import PluginSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssetUnit:
    """One asset ready to trade: its plugins and what they may know of it.

    ``reduce_only``: the asset is deactivated but still holds a position (see
    :meth:`as_reduce_only`).
    """

    info: AssetInfo
    pipeline: PipelinePlugin
    strategy: StrategyPlugin
    broker: BrokerPlugin
    reduce_only: bool = False

    @property
    def leverage(self) -> float:
        """Leverage for sizing, as the broker plugin declares it (default 1)."""
        return float(self.broker.leverage or 1.0)

    @property
    def lot_step(self) -> float:
        """Smallest quantity increment, as the broker plugin declares it (default 1)."""
        return float(self.broker.lot_step or 1.0)

    @functools.cached_property
    def instrument(self) -> InstrumentSpec | None:
        """The broker's precision of this asset's instrument (asked once per unit).

        Cached like :attr:`MarketSnapshot.last_price` (a frozen dataclass's
        ``__dict__``): sizing asks it for every opening order. See :func:`instrument_of`.
        """
        return instrument_of(self.broker, self.info)

    def as_reduce_only(self) -> AssetUnit:
        """A copy for a deactivated asset still holding a position: it may only close.

        SPEC 2a "Protection never lapses": it stays in the tick (marked, its stops and
        targets checked) until flat, but gets no allocation and opens nothing.
        """
        return replace(self, reduce_only=True, info=replace(self.info, allocated_capital=0.0))

    def with_allocation(self, capital: float) -> AssetUnit:
        """Return a copy of the unit with a new allocated capital."""
        return replace(self, info=replace(self.info, allocated_capital=capital))


def instrument_of(broker: BrokerPlugin, asset: AssetInfo) -> InstrumentSpec | None:
    """``broker.instrument(asset)``, or None when it fails or answers something else.

    Precision is a refinement: a broker that cannot say it now (a network error) still
    gets its orders, unrounded as before the contract had it, and its own submit
    formats what it sends (OANDA rounds to the instrument's precision itself). The
    failure is logged, not hidden.
    """
    try:
        spec = broker.instrument(asset)
    except Exception as exc:
        log.warning("asset %s: broker %r could not say the instrument's precision "
                    "(orders go unrounded): %s: %s", asset.id, getattr(broker, "name", "?"),
                    type(exc).__name__, exc)
        return None
    if spec is not None and not isinstance(spec, InstrumentSpec):
        log.warning("asset %s: broker %r answered instrument() with %s, not an "
                    "InstrumentSpec: ignored", asset.id, getattr(broker, "name", "?"),
                    type(spec).__name__)
        return None
    return spec


def _get(plugins: PluginSource, kind: str, name: str, config: Mapping[str, Any] | None) -> Any:
    """Fetch one plugin, turning any failure into a PluginCallError for the asset."""
    try:
        return plugins.get(kind, name, dict(config or {}))
    except Exception as exc:
        raise PluginCallError(kind, name, "load", traceback_summary(exc)) from exc


class _PublicConfigs:
    """Each plugin's public config, worked out once per plugin instance and config.

    Filtering the secrets (the schema's secret fields, credential-like names, values
    still encrypted) cost ~0.1 ms per plugin, three plugins per asset and tick, for an
    answer that only changes with the plugin's config. Instances are keyed by identity
    (a plugin may define ``__eq__``, or be unhashable) and held weakly, so a reload's
    new instances start afresh; an entry is used only while the plugin's config still
    equals the copy it was worked out from.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], dict[str, Any], dict[str, Any]]] = {}

    def get(self, plugin: Any) -> dict[str, Any]:
        """A fresh copy of ``plugin``'s public config (callers may keep or change it)."""
        entry = self._entries.get(id(plugin))
        if entry is not None and entry[0]() is plugin and _same(entry[1], plugin.config):
            return dict(entry[2])
        public = _filter_secrets(plugin)
        try:
            ref = weakref.ref(plugin, functools.partial(self._forget, id(plugin)))
            kept = copy.deepcopy(dict(plugin.config))
        except Exception:  # no weak references (``__slots__``), or an uncopyable value
            return public
        self._entries[id(plugin)] = (ref, kept, public)
        return dict(public)

    def _forget(self, key: int, ref: weakref.ref[Any]) -> None:
        """Drop the entry of a plugin that no longer exists (unless a new one took it)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] is ref:
            self._entries.pop(key, None)


def _same(kept: dict[str, Any], config: Any) -> bool:
    """Whether ``config`` still equals ``kept``; values that cannot say count as changed."""
    try:
        return bool(kept == config)
    except Exception:  # e.g. an array, whose == is elementwise
        return False


def _filter_secrets(plugin: Any) -> dict[str, Any]:
    """The plugin's config without its secret fields: what other plugins may see of it.

    Only the plugin itself holds its secrets (decrypted by the plugin source when it was
    built); the frozen asset view handed to pipeline, strategy, portfolio and broker
    calls carries none.
    """
    from lts.plugins.config_secrets import secret_field_names, without_secrets

    config = dict(plugin.config)
    secret = secret_field_names(getattr(type(plugin), "config_schema", None), config)
    return without_secrets(config, secret)  # nested configs' secrets too


_public_config = _PublicConfigs().get


def build_unit(plugins: PluginSource, asset: Asset | Row[Any]) -> AssetUnit:
    """Build the unit of ``asset`` (ORM object or Core row); PluginCallError names the plugin.

    Configs go to the plugin source as stored (secrets encrypted): it decrypts them for
    the plugin it builds, and nothing else.
    """
    pipeline = _get(plugins, "pipeline", asset.pipeline_plugin, asset.pipeline_config)
    strategy = _get(plugins, "strategy", asset.strategy_plugin, asset.strategy_config)
    broker = _get(plugins, "broker", asset.broker_plugin, asset.broker_config)
    info = AssetInfo(
        id=asset.id, portfolio_id=asset.portfolio_id, symbol=asset.symbol, name=asset.name,
        allocated_capital=asset.allocated_capital,
        pipeline_config=_public_config(pipeline), strategy_config=_public_config(strategy),
        broker_config=_public_config(broker),
        max_data_age_minutes=getattr(asset, "max_data_age_minutes", None),
    )
    return AssetUnit(info=info, pipeline=pipeline, strategy=strategy, broker=broker)


def portfolio_info(portfolio: Portfolio | Row[Any], *, equity: float | None = None,
                   allocatable: float | None = None) -> PortfolioInfo:
    """Build the frozen view of a portfolio plugins receive (from an object or a row).

    Secret config fields are stored encrypted and left out: the portfolio plugin gets its
    own secrets through its ``config``, never through this shared view.
    """
    from lts.plugins.config_secrets import is_encrypted

    config = {k: v for k, v in (portfolio.portfolio_config or {}).items()
              if not is_encrypted(v)}
    return PortfolioInfo(id=portfolio.id, user_id=portfolio.user_id, name=portfolio.name,
                         total_capital=portfolio.total_capital,
                         risk_state=portfolio.risk_state, config=config,
                         equity=equity, allocatable=allocatable)


def config_leverage(broker_config: Mapping[str, Any] | None) -> float:
    """The leverage a stored broker config declares (``leverage``, default 1).

    The same rule as :attr:`BrokerPlugin.leverage`, read from the row without building
    the plugin: the margin of an asset whose plugins cannot be loaded still counts. A
    missing, unreadable or non-positive value counts as 1 (the most margin).
    """
    try:
        leverage = float((broker_config or {}).get("leverage", 1.0))
    except (TypeError, ValueError, AttributeError):
        return 1.0
    return leverage if leverage > 0 and leverage == leverage and leverage != float("inf") \
        else 1.0
