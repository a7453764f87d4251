"""Scripted prices and simple strategies for the equity, margin and protection tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from flask import Flask

from lts.plugins.base import (
    AssetInfo,
    Decision,
    MarketSnapshot,
    PipelinePlugin,
    PositionInfo,
    StrategyPlugin,
)
from lts.trading.plugin_source import FactoryPluginSource, RegistryPluginSource
from tests.trading_fakes import fake_source

EPOCH = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def at(minute: int) -> datetime:
    """The time of bar ``minute`` (one-minute bars from EPOCH)."""
    return EPOCH + timedelta(minutes=minute)


class ScriptedPipeline(PipelinePlugin):
    """One-minute bars from the config: ``bars`` maps a minute to a close or [o, h, l, c].

    A minute not listed repeats the last listed close as a flat bar; the snapshot at
    ``now`` holds the last ``lookback`` bars up to the bar stamped ``now``.
    """

    name = "script"

    def bar(self, minute: int) -> tuple[float, float, float, float]:
        """Open, high, low, close of bar ``minute``."""
        bars = {int(k): v for k, v in self.config["bars"].items()}
        known = [m for m in bars if m <= minute]
        value = bars[max(known)] if known else bars[min(bars)]
        if isinstance(value, list) and int(max(known, default=-1)) == minute:
            o, h, low, c = (float(x) for x in value)
            return o, h, low, c
        close = float(value[3] if isinstance(value, list) else value)
        return close, close, close, close

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """The last ``lookback`` bars up to ``now``."""
        last = int((now - EPOCH).total_seconds() // 60)
        minutes = range(max(0, last - int(self.config.get("lookback", 5)) + 1), last + 1)
        rows = [self.bar(m) for m in minutes]
        frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"],
                             index=pd.DatetimeIndex([at(m) for m in minutes], tz=UTC))
        frame["volume"] = 1.0
        return MarketSnapshot(symbol=asset.symbol, candles=frame, as_of=now)


class ToggleStrategy(StrategyPlugin):
    """Open long when flat, close when holding: a round trip every two ticks."""

    name = "toggle"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Alternate."""
        if position is None:
            return Decision(action="open", side="buy", reason="flat: buy")
        return Decision(action="close", reason="holding: sell")


class EntryStrategy(StrategyPlugin):
    """Open long with the configured stop/target and anchor when flat; else hold."""

    name = "entry"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Buy once with exits."""
        if position is not None:
            return Decision.hold("holding")
        return Decision(action="open", side="buy", stop_loss=self.config.get("stop_loss"),
                        take_profit=self.config.get("take_profit"),
                        exit_anchor=self.config.get("exit_anchor", "price"), reason="entry")


def equity_source(app: Flask) -> FactoryPluginSource:
    """The trading fakes, the scripted ones above, and the registry (paper broker) behind."""
    factories: dict[tuple[str, str], Any] = dict(fake_source().factories)
    factories.update({
        ("pipeline", "script"): lambda c: ScriptedPipeline(c),
        ("strategy", "toggle"): lambda c: ToggleStrategy(c),
        ("strategy", "entry"): lambda c: EntryStrategy(c),
    })
    return FactoryPluginSource(factories, fallback=RegistryPluginSource(app))


def script(bars: Mapping[int, Any], lookback: int = 5) -> dict[str, Any]:
    """A ``script`` pipeline config (JSON keys are strings)."""
    return {"bars": {str(k): v for k, v in bars.items()}, "lookback": lookback}
