"""Strategy ``sma_cross``: trade the crossings of a fast and a slow simple moving average.

The *regime* is long while the fast SMA is above the slow one, short while below.

- **Entries** (``entry``): ``cross`` (the default) opens only on a fresh cross: the
  regime must have changed within the last ``cross_bars`` bars (1: on the newest bar).
  After a stop-loss or take-profit exit the asset therefore stays flat until the next
  cross, instead of re-entering at once while the trend persists. Set ``cross_bars`` to
  the number of bars between two runs of the portfolio (10 for a portfolio run every 10
  minutes on 1-minute bars) so a cross between two runs is never missed. ``trend``
  opens whenever flat, in the regime's direction (the behaviour before entries needed a
  cross), so it re-enters right after every exit.
- **Exits**: a position against the regime is closed. With ``reverse`` (the default) the
  same decision also opens the other way when an entry is allowed there (a fresh cross,
  or any time in ``trend`` mode; shorts only with ``allow_short``): the engine closes
  and opens in one tick. Without it the position is only closed, and a new one waits for
  the entry rule.
- Stop loss and take profit come from ``stop_loss``/``take_profit`` (percent of the last
  close or pips, see ``sl_tp_unit``).

The averages come from :meth:`SmaCross.prepare` (``fast``, ``slow`` and ``regime`` per
bar, each from its own window of closes only): a backtest computes them once over the
whole series, the live loop over the last ``slow + cross_bars`` closes; both give the
same values bit for bit, so the same decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from marshmallow import ValidationError, fields, validate, validates_schema

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.strategy._common import ExitsConfig, exit_prices, prepared_values

Regime = str | None  # "long", "short", or None when the averages are equal
_NAMES: dict[float, Regime] = {1.0: "long", -1.0: "short", 0.0: None}
#: :meth:`SmaCross.prepare`'s columns, in this order.
_COLUMNS = ("fast", "slow", "regime")


class SmaCrossConfig(ExitsConfig):
    """Settings of the moving-average crossover; ``fast`` must be shorter than ``slow``."""

    fast = fields.Integer(load_default=10, validate=validate.Range(min=1, max=10_000),
                          metadata={"description": "Bars in the fast moving average."})
    slow = fields.Integer(load_default=30, validate=validate.Range(min=2, max=10_000),
                          metadata={"description": "Bars in the slow moving average."})
    entry = fields.String(
        load_default="cross", validate=validate.OneOf(["cross", "trend"]),
        metadata={"description": "When a flat asset opens. cross (default): only on a "
                                 "fresh cross, within the last cross_bars bars, so no "
                                 "re-entry after a stop or target exit while the trend "
                                 "persists. trend: whenever flat, in the trend's "
                                 "direction (re-enters right after an exit)."})
    cross_bars = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=10_000),
        metadata={"description": "How recent a cross must be to open, in bars (1: on the "
                                 "newest bar). Use the number of bars between two runs of "
                                 "the portfolio so no cross is missed."})
    reverse = fields.Boolean(
        load_default=True,
        metadata={"description": "On a cross against the position, close it and open the "
                                 "other way in the same tick (when the entry rule and "
                                 "allow_short permit). Off: only close."})

    @validates_schema
    def fast_below_slow(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse a fast average that is not shorter than the slow one."""
        if data.get("fast", 10) >= data.get("slow", 30):
            raise ValidationError("must be smaller than slow", field_name="fast")


def window_means(closes: np.ndarray, n: int) -> np.ndarray:
    """Mean of each window of ``n`` closes ending at each bar (NaN for the first n - 1).

    Each window is summed on its own (not a running sum), so a bar's value does not
    depend on how far back the series starts: no drift between a backtest's whole series
    and a live snapshot's last rows.
    """
    out = np.full(len(closes), np.nan)
    if len(closes) >= n:
        out[n - 1:] = np.lib.stride_tricks.sliding_window_view(closes, n).sum(axis=1) / n
    return out


def _regime(fast: float, slow: float) -> Regime:
    """The regime two average values describe."""
    return "long" if fast > slow else "short" if fast < slow else None


def recent_regimes(closes: pd.Series, fast_n: int, slow_n: int, bars: int) -> list[Regime]:
    """The regime at each of the last ``bars + 1`` bars that have a slow average, oldest first.

    The newest one uses plain means of the newest ``fast_n``/``slow_n`` closes (what the
    reason shows); older ones rolling means over just the closes they need.
    """
    tail = closes.iloc[-(slow_n + bars):].to_numpy(dtype=np.float64)
    sums = np.concatenate(([0.0], np.cumsum(tail)))
    ends = np.arange(slow_n, len(tail))  # exclusive ends of the older bars' windows
    fast = (sums[ends] - sums[ends - fast_n]) / fast_n
    slow = (sums[ends] - sums[ends - slow_n]) / slow_n
    older = [_regime(f, s) for f, s in zip(fast, slow, strict=True)]
    newest = _regime(float(closes.iloc[-fast_n:].mean()), float(closes.iloc[-slow_n:].mean()))
    return [*older, newest]


class SmaCross(StrategyPlugin):
    """Opens on a fast/slow SMA cross (or with the trend), closes or reverses against it."""

    name = "sma_cross"
    interface_version = "1.0"
    description = ("Fast/slow simple moving-average crossover: opens on a fresh cross "
                   "(or with the trend), closes or reverses on a cross against it.")
    config_schema = SmaCrossConfig

    @property
    def prepare_window(self) -> int:  # type: ignore[override]
        """The slow average's window: the newest row needs no more closes."""
        return int(self.config["slow"])

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        """``fast`` and ``slow`` averages and ``regime`` (1 long, -1 short, 0 equal) per bar."""
        closes = candles["close"].to_numpy(dtype=np.float64)
        fast = window_means(closes, int(self.config["fast"]))
        slow = window_means(closes, int(self.config["slow"]))
        regime = np.where(np.isnan(slow), np.nan, np.sign(fast - slow))
        return pd.DataFrame({"fast": fast, "slow": slow, "regime": regime},
                            index=candles.index)

    def quiet(self, candles: pd.DataFrame, prepared: pd.DataFrame) -> np.ndarray | None:
        """Where :meth:`decide` surely holds (see :meth:`StrategyPlugin.quiet`).

        Long (short): the regime is long (short) or the averages are equal. Flat: equal
        averages, a short regime with shorts off, or (``cross`` entries) no other regime
        among the ``cross_bars`` rows before, so no fresh cross. ``trend`` entries open
        whenever flat with capital, so a flat asset is never quiet there.
        """
        regime = prepared["regime"].to_numpy(dtype=np.float64)
        known = ~np.isnan(regime)
        out = np.zeros((len(regime), 3), dtype=bool)
        out[:, 1] = known & (regime >= 0)
        out[:, 2] = known & (regime <= 0)
        flat = known & (regime == 0)
        if not self.config["allow_short"]:
            flat |= known & (regime < 0)
        if self.config["entry"] == "cross":
            bars = int(self.config["cross_bars"])
            fresh = np.zeros(len(regime), dtype=bool)
            for back in range(1, min(bars, len(regime)) + 1):
                earlier = regime[:-back]
                fresh[back:] |= ~np.isnan(earlier) & (earlier != regime[back:])
            flat |= known & ~fresh
        out[:, 0] = flat
        return out

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Close or reverse against the regime, open on a fresh cross, hold otherwise."""
        fast_n, slow_n = int(self.config["fast"]), int(self.config["slow"])
        bars = len(snapshot.candles)
        if bars < slow_n:
            return Decision.hold(f"not enough data: {bars} bars, slow SMA needs {slow_n}")
        # One array for the few rows (pandas column lookups and a boolean filter cost
        # more than the whole decision); a backtest's rows straight from its arrays.
        values = prepared_values(self, snapshot, int(self.config["cross_bars"]) + 1,
                                 _COLUMNS)
        if values is None:
            rows = self.prepared(snapshot, int(self.config["cross_bars"]) + 1)
            assert rows is not None  # prepare always answers
            columns = rows.columns  # live: no column selection (a new DataFrame)
            values = rows.to_numpy(dtype=np.float64)[
                :, [columns.get_loc(name) for name in _COLUMNS]]
        values = values[~np.isnan(values[:, 1])]
        fast, slow = float(values[-1, 0]), float(values[-1, 1])
        described = f"SMA{fast_n} {fast:.6g} vs SMA{slow_n} {slow:.6g}"
        regimes = [_NAMES[value] for value in values[:, 2].tolist()]
        regime = regimes[-1]

        if position is not None:
            if regime is None or regime == position.side:
                return Decision.hold(f"keep {position.side}: {described}")
            against = f"cross against {position.side}: {described}"
            if self.config["reverse"] and allocation > 0 and self._may_enter(regime, regimes):
                return self._open(regime, snapshot, f"reverse to {regime}, {against}")
            return Decision(action="close", reason=against)
        if allocation <= 0:
            return Decision.hold(f"no capital allocated ({described})")
        if regime is None or (regime == "short" and not self.config["allow_short"]):
            return Decision.hold(f"no entry: {described}")
        if not self._may_enter(regime, regimes):
            return Decision.hold(f"no fresh cross: {regime} for more than "
                                 f"{self.config['cross_bars']} bar(s) ({described})")
        return self._open(regime, snapshot, f"open {regime}: {described}")

    def _may_enter(self, regime: str, regimes: list[Regime]) -> bool:
        """Whether the entry rule allows opening ``regime`` now."""
        if regime == "short" and not self.config["allow_short"]:
            return False
        if self.config["entry"] == "trend":
            return True
        return any(earlier != regime for earlier in regimes[:-1])

    def _open(self, regime: str, snapshot: MarketSnapshot, reason: str) -> Decision:
        """The decision opening ``regime`` at market with the configured exits."""
        side = "buy" if regime == "long" else "sell"
        stop_loss, take_profit = exit_prices(side, snapshot.last_price, self.config)
        return Decision(action="open", side=side, stop_loss=stop_loss,
                        take_profit=take_profit, reason=reason)
