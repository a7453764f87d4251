"""Candles for the asset page's chart: the pipeline asked as the loop asks it, once per app.

The dashboard used to build its own plugin source and start a plugin worker thread on
every asset-page render (``services/dashboard_queries.py``). Here the page shares, per
app, one :class:`~lts.trading.plugin_source.RegistryPluginSource` (pipelines built once
per config, rebuilt on a plugin reload) and one
:class:`~lts.trading.plugin_calls.PluginCaller` (one worker thread, the loop's timeout
``plugin_timeout_seconds`` and isolation: a slow or failing pipeline is an error on the
chart, never an error page, and a hung one is left behind on its own thread).

Display only: nothing here writes, and nothing decides who may see the asset (the view
loaded it through a service that checked).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask

from lts.extensions import db
from lts.models import Asset
from lts.plugins.base import AssetInfo, MarketSnapshot
from lts.runtime_config import effective_setting
from lts.trading.plugin_calls import PluginCaller
from lts.trading.plugin_source import RegistryPluginSource

CHART_BARS = 300
EXTENSION_KEY = "lts.chart_plugins"


@dataclass(frozen=True)
class ChartCandles:
    """The chart's candles (Lightweight Charts rows), the snapshot they came from, or why not.

    ``error`` is a message for the page (plugin call errors name the plugin and the
    setting that timed out); ``snapshot`` is kept for what else the page draws from it
    (the forecast).
    """

    bars: list[dict[str, Any]] = field(default_factory=list)
    snapshot: MarketSnapshot | None = None
    error: str | None = None

    @property
    def times(self) -> list[int]:
        """Epoch seconds of every bar, oldest first (markers must sit on a bar)."""
        return [bar["time"] for bar in self.bars]


class ChartPlugins:
    """One app's plugin source and plugin-call worker for display, built once."""

    def __init__(self, app: Flask) -> None:
        self.source = RegistryPluginSource(app)
        self.caller = PluginCaller(app)

    def close(self) -> None:
        """Stop the worker thread (tests and shutdown)."""
        self.caller.close()


_CREATE = threading.Lock()


def chart_plugins(app: Flask) -> ChartPlugins:
    """The app's :class:`ChartPlugins`, created on first use (one per app, thread-safe)."""
    plugins = app.extensions.get(EXTENSION_KEY)
    if plugins is None:
        with _CREATE:
            plugins = app.extensions.setdefault(EXTENSION_KEY, ChartPlugins(app))
    return plugins  # type: ignore[no-any-return]


def epoch(moment: datetime) -> int:
    """Epoch seconds of an aware datetime (Lightweight Charts' time unit)."""
    return int(moment.timestamp())


def candle_rows(snapshot: MarketSnapshot, bars: int = CHART_BARS) -> list[dict[str, Any]]:
    """The snapshot's last ``bars`` candles as chart rows; rows with a non-finite price go."""
    rows = []
    for stamp, row in snapshot.candles.tail(bars).iterrows():
        values = [float(row[c]) for c in ("open", "high", "low", "close")]
        if all(math.isfinite(v) for v in values):
            rows.append({"time": epoch(stamp.to_pydatetime()), "open": values[0],
                         "high": values[1], "low": values[2], "close": values[3]})
    return rows


def chart_candles(app: Flask, asset: Asset, now: datetime, bars: int = CHART_BARS
                  ) -> ChartCandles:
    """Ask ``asset``'s pipeline for its snapshot at ``now`` and turn it into chart rows.

    ``app`` is handed to the worker thread (its app context). No transaction stays open
    during the plugin call. Failures come back as ``error``, never raised.
    """
    from lts.trading.errors import PluginCallError

    plugins = chart_plugins(app)
    try:
        pipeline = plugins.source.get("pipeline", asset.pipeline_plugin,
                                      dict(asset.pipeline_config or {}))
        info = AssetInfo(id=asset.id, portfolio_id=asset.portfolio_id, symbol=asset.symbol,
                         name=asset.name, allocated_capital=asset.allocated_capital,
                         pipeline_config=dict(pipeline.config))
        timeout = float(effective_setting("plugin_timeout_seconds"))
        db.session.commit()  # no transaction stays open during a plugin call
        snapshot = plugins.caller.call("pipeline", pipeline.name, "snapshot",
                                       pipeline.snapshot, info, now, timeout=timeout)
    except PluginCallError as exc:
        return ChartCandles(error=str(exc))
    except Exception as exc:  # a plugin that cannot even be built
        return ChartCandles(error=f"pipeline {asset.pipeline_plugin!r}: {exc}")
    return ChartCandles(bars=candle_rows(snapshot, bars), snapshot=snapshot)
