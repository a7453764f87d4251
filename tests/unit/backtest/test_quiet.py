"""The ``quiet`` hooks keep their promise: where they say quiet, ``decide`` holds.

For every bar of seeded series, every position side (with and without stops) and two
allocations (none, some), a True of ``quiet`` must come with a hold from ``decide``
on the snapshot ending at that bar (a backtest then skips the bar). Each case also
checks the hook says True and False often enough to matter, and that the live path
(no prepared frame) decides the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import MarketSnapshot, PositionInfo
from lts.plugins.strategy.prediction_threshold import PredictionThreshold
from lts.plugins.strategy.sma_cross import SmaCross

STRATEGIES = [
    pytest.param(lambda: SmaCross({"fast": 5, "slow": 12}), id="sma_cross"),
    pytest.param(lambda: SmaCross({"fast": 4, "slow": 10, "cross_bars": 3,
                                   "allow_short": False}), id="sma_cross_3_long_only"),
    pytest.param(lambda: SmaCross({"fast": 4, "slow": 10, "reverse": False}),
                 id="sma_cross_no_reverse"),
    pytest.param(lambda: SmaCross({"fast": 3, "slow": 8, "entry": "trend"}), id="sma_trend"),
    pytest.param(lambda: PredictionThreshold({"forecast_window": 15, "threshold": 0.002,
                                              "horizon": 3}), id="prediction_threshold"),
    pytest.param(lambda: PredictionThreshold({"forecast_window": 10, "threshold": 0.001,
                                              "horizon": 2, "allow_short": False}),
                 id="prediction_long_only"),
    pytest.param(lambda: PredictionThreshold({"forecast_window": 10, "threshold": 0.001,
                                              "require_interval": True}),
                 id="prediction_interval"),
]
LOOKBACK = 40
START = datetime(2026, 1, 1, tzinfo=UTC)


def series(seed: int, n: int = 300) -> pd.DataFrame:
    """A seeded hourly random walk with a stretch of equal closes (averages equal)."""
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    closes[200:230] = closes[199]
    index = pd.date_range(START, periods=n, freq="h")
    return pd.DataFrame({"open": closes, "high": closes * 1.001, "low": closes * 0.999,
                         "close": closes, "volume": 1.0}, index=index)


def position(side: str, price: float, stops: bool) -> PositionInfo:
    return PositionInfo(id=1, asset_id=1, side=side, quantity=3.0,  # type: ignore[arg-type]
                        entry_price=price * 1.01, opened_at=START,
                        stop_loss=price * (0.9 if side == "long" else 1.1) if stops else None,
                        take_profit=price * (1.2 if side == "long" else 0.8) if stops
                        else None, current_price=price)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("build", STRATEGIES)
def test_quiet_means_decide_holds(build, seed):
    strategy, live, bars = build(), build(), series(seed)
    prepared = strategy.prepare(bars)
    strategy.use_prepared("X", prepared)
    quiet = strategy.quiet(bars, prepared)
    assert quiet.shape == (len(bars), 3) and quiet.dtype == np.bool_
    for i in range(len(bars)):
        candles = bars.iloc[max(0, i + 1 - LOOKBACK):i + 1]
        snapshot = MarketSnapshot(symbol="X", as_of=candles.index[-1].to_pydatetime(),
                                  candles=candles)
        price = float(candles["close"].iloc[-1])
        states = [(0, None), (1, position("long", price, i % 2 == 0)),
                  (2, position("short", price, i % 2 == 1))]
        for column, held in states:
            for allocation in (0.0, 1000.0):
                decision = strategy.decide(snapshot, held, allocation)
                if i % 7 == 0:  # the live path (no prepared frame) decides the same
                    assert decision == live.decide(snapshot, held, allocation)
                if quiet[i, column]:
                    assert decision.action == "hold", (i, column, allocation, decision)
    # The hook must say something both ways, or this test proves nothing.
    assert quiet[:, 1:].any() and not quiet[:, 1:].all()
    if strategy.config.get("require_interval"):  # no interval to clear: never opens
        assert quiet[:, 0].all()
    elif not isinstance(strategy, SmaCross) or strategy.config["entry"] == "cross":
        assert quiet[:, 0].any() and not quiet[:, 0].all()
