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

import pandas as pd
from flask import Flask

from lts.extensions import db
from lts.models import Asset
from lts.plugins.base import AssetInfo, MarketSnapshot
from lts.runtime_config import effective_setting
from lts.trading.plugin_calls import PluginCaller
from lts.trading.plugin_source import RegistryPluginSource

CHART_BARS = 300
EXTENSION_KEY = "lts.chart_plugins"
# The timeframes the asset chart offers: pandas offsets the pipeline's bars are
# resampled to on the server ("" keeps the pipeline's own bars).
TIMEFRAMES: dict[str, str] = {"": "", "5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h",
                              "1d": "1D"}
INDICATOR_COLUMNS = 4  # at most this many of prepare()'s columns are drawn
MAX_SOURCE_BARS = 20_000  # pipeline bars fetched at most to draw a coarser timeframe


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
    timeframe: str = ""
    volume: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)

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


def parse_timeframe(text: str | None) -> str:
    """A timeframe key of :data:`TIMEFRAMES` ("" for the pipeline's own bars).

    Raises :class:`~lts.errors.ValidationFailed` naming ``timeframe`` for anything else,
    so a hand-typed URL gets a clear message rather than a silently different chart.
    """
    from lts.errors import ValidationFailed

    value = (text or "").strip()
    if value not in TIMEFRAMES:
        raise ValidationFailed("bad timeframe", fields={
            "timeframe": [f"must be one of: {', '.join(k for k in TIMEFRAMES if k)} "
                          f"(or empty for the pipeline's bars)"]})
    return value


def resample(candles: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """The candles regrouped to ``timeframe``: first open, max high, min low, last close.

    Volume is summed when the pipeline gives it. Buckets are labelled by their start
    (left-closed), as bars are; a bucket with no bar is dropped rather than invented.
    """
    rule = TIMEFRAMES[timeframe]
    if not rule or candles.empty:
        return candles
    how = {"open": "first", "high": "max", "low": "min", "close": "last"}
    if "volume" in candles.columns:
        how["volume"] = "sum"
    grouped = candles[list(how)].resample(rule, label="left", closed="left").agg(how)
    return grouped.dropna(subset=["open", "high", "low", "close"])


def candle_rows(snapshot: MarketSnapshot, bars: int = CHART_BARS,
                candles: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """The last ``bars`` candles as chart rows; rows with a non-finite price go.

    ``candles`` replaces the snapshot's own (a resampled frame).
    """
    frame = snapshot.candles if candles is None else candles
    rows = []
    for stamp, row in frame.tail(bars).iterrows():
        values = [float(row[c]) for c in ("open", "high", "low", "close")]
        if all(math.isfinite(v) for v in values):
            rows.append({"time": epoch(stamp.to_pydatetime()), "open": values[0],
                         "high": values[1], "low": values[2], "close": values[3]})
    return rows


def volume_rows(candles: pd.DataFrame, bars: int = CHART_BARS) -> list[dict[str, Any]]:
    """Volume per bar as histogram rows, coloured by the bar's direction; [] without volume."""
    if "volume" not in candles.columns:
        return []
    rows = []
    for stamp, row in candles.tail(bars).iterrows():
        volume, open_, close = float(row["volume"]), float(row["open"]), float(row["close"])
        if math.isfinite(volume) and math.isfinite(open_) and math.isfinite(close):
            rows.append({"time": epoch(stamp.to_pydatetime()), "value": volume,
                         "color": "rgba(25,135,84,.45)" if close >= open_
                         else "rgba(220,53,69,.45)"})
    return rows


def indicator_lines(prepared: pd.DataFrame | None, candles: pd.DataFrame,
                    bars: int = CHART_BARS) -> list[dict[str, Any]]:
    """Price-like columns of a strategy's ``prepare()`` frame as line series.

    Only numeric columns whose values stay within the candles' low-high range (give or
    take its width) are drawn on the price scale: a moving average is, a -1/+1 regime
    flag or an RSI is not, as it would squash the candles.
    """
    if prepared is None or prepared.empty or candles.empty:
        return []
    tail = candles.tail(bars)
    low, high = float(tail["low"].min()), float(tail["high"].max())
    margin = max(high - low, abs(high) * 1e-6)
    lines = []
    for column in prepared.columns:
        series = pd.to_numeric(prepared[column], errors="coerce").reindex(tail.index)
        finite = series.replace([math.inf, -math.inf], math.nan).dropna()
        if finite.empty or not (low - margin <= finite.min() and finite.max() <= high + margin):
            continue
        lines.append({"name": str(column), "points": [
            {"time": epoch(stamp.to_pydatetime()), "value": float(value)}
            for stamp, value in finite.items()]})
        if len(lines) == INDICATOR_COLUMNS:
            break
    return lines


def chart_candles(app: Flask, asset: Asset, now: datetime, bars: int = CHART_BARS,
                  timeframe: str = "") -> ChartCandles:
    """Ask ``asset``'s pipeline for its snapshot at ``now`` and turn it into chart rows.

    ``timeframe`` (a key of :data:`TIMEFRAMES`) resamples the bars here, on the server,
    so the browser never receives more rows than it draws. The strategy's ``prepare()``
    indicators, when it offers them, are computed over the pipeline's own bars (what the
    strategy sees) and drawn only at the native timeframe. ``app`` is handed to the
    worker thread (its app context). No transaction stays open during the plugin call.
    Failures come back as ``error``, never raised.
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
        strategy_name, strategy_config = asset.strategy_plugin, dict(asset.strategy_config or {})
        db.session.commit()  # no transaction stays open during a plugin call
        snapshot = plugins.caller.call("pipeline", pipeline.name, "snapshot",
                                       pipeline.snapshot, info, now, timeout=timeout)
    except PluginCallError as exc:
        return ChartCandles(error=str(exc))
    except Exception as exc:  # a plugin that cannot even be built
        return ChartCandles(error=f"pipeline {asset.pipeline_plugin!r}: {exc}")
    candles = resample(_history(plugins, pipeline, info, snapshot, now, timeframe, bars,
                                timeout), timeframe)
    indicators: list[dict[str, Any]] = []
    if not timeframe:
        indicators = _indicators(plugins, strategy_name, strategy_config, snapshot, timeout,
                                 bars)
    return ChartCandles(bars=candle_rows(snapshot, bars, candles), snapshot=snapshot,
                        timeframe=timeframe, volume=volume_rows(candles, bars),
                        indicators=indicators)


def _history(plugins: ChartPlugins, pipeline: Any, info: AssetInfo, snapshot: MarketSnapshot,
             now: datetime, timeframe: str, bars: int, timeout: float) -> pd.DataFrame:
    """The pipeline's bars covering ``bars`` candles of ``timeframe``, for resampling.

    The snapshot holds only the strategy's window (a few hours of minute bars: five
    hourly candles), so a coarser timeframe asks the pipeline's ``bars()`` for the span,
    at most :data:`MAX_SOURCE_BARS` of its own bars. A pipeline without ``bars()``, or
    one that fails, leaves the snapshot's candles: fewer candles, never an error.
    """
    candles = snapshot.candles
    if not timeframe or len(candles) < 2:
        return candles
    native = pd.Series(candles.index).diff().median()
    span = min(pd.Timedelta(TIMEFRAMES[timeframe]) * bars, native * MAX_SOURCE_BARS)
    try:
        history = plugins.caller.call("pipeline", pipeline.name, "bars", pipeline.bars, info,
                                      now - span.to_pytimedelta(), now, timeout=timeout)
    except Exception:  # no bars() or a failing one: the snapshot will do
        return candles
    if not isinstance(history, pd.DataFrame) or len(history) <= len(candles):
        return candles
    return history


def _indicators(plugins: ChartPlugins, name: str, config: dict[str, Any],
                snapshot: MarketSnapshot, timeout: float, bars: int) -> list[dict[str, Any]]:
    """The strategy's ``prepare()`` columns over the snapshot, or [] (none offered, or failed).

    Indicators are a decoration: a strategy that fails here costs the chart its lines,
    never its candles.
    """
    from lts.plugins.base import StrategyPlugin

    try:
        strategy = plugins.source.get("strategy", name, config)
        if type(strategy).prepare is StrategyPlugin.prepare:
            return []  # the strategy offers no indicators
        prepared = plugins.caller.call("strategy", strategy.name, "prepare", strategy.prepare,
                                       snapshot.candles, timeout=timeout)
    except Exception:  # broken or slow strategy: no indicator lines
        return []
    if not isinstance(prepared, pd.DataFrame):
        return []
    return indicator_lines(prepared, snapshot.candles, bars)
