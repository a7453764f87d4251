"""The strategy hook ``prepare``: no look-ahead, and the same decisions with or without it.

A backtest computes ``prepare`` once over the whole series and ``decide`` reads the row
of the newest bar; live, ``prepare`` runs over the last rows of the snapshot. Row t must
therefore be identical (bit for bit) whether computed on bars[:t+1] or on all bars.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import MarketSnapshot, PositionInfo
from lts.plugins.strategy.prediction_threshold import PredictionThreshold, naive_forecast
from lts.plugins.strategy.sma_cross import SmaCross

STRATEGIES = [
    pytest.param(lambda: SmaCross({"fast": 5, "slow": 12, "cross_bars": 3}), id="sma_cross"),
    pytest.param(lambda: SmaCross({"fast": 3, "slow": 8, "entry": "trend"}), id="sma_trend"),
    pytest.param(lambda: PredictionThreshold({"forecast_window": 15, "threshold": 0.002,
                                              "horizon": 3}), id="prediction_threshold"),
]


def series(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """A seeded random walk of hourly bars; one stretch of equal closes (regime 0)."""
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    closes[200:230] = closes[199]
    index = pd.date_range(datetime(2026, 1, 1, tzinfo=UTC), periods=n, freq="h")
    return pd.DataFrame({"open": closes, "high": closes * 1.001, "low": closes * 0.999,
                         "close": closes, "volume": 1.0}, index=index)


@pytest.mark.parametrize("build", STRATEGIES)
def test_prepare_never_looks_ahead(build):
    strategy, bars = build(), series()
    whole = strategy.prepare(bars)
    assert len(whole) == len(bars) and whole.index.equals(bars.index)
    for t in [0, 5, strategy.prepare_window - 1, strategy.prepare_window, 57, 199, 215, 399]:
        prefix = strategy.prepare(bars.iloc[:t + 1])
        pd.testing.assert_frame_equal(prefix, whole.iloc[:t + 1], check_exact=True)
        # live: only the last prepare_window rows; the newest row is the same
        tail = strategy.prepare(bars.iloc[max(0, t + 1 - strategy.prepare_window):t + 1])
        pd.testing.assert_series_equal(tail.iloc[-1], whole.iloc[t], check_exact=True)


def test_a_changed_future_bar_changes_no_earlier_row():
    strategy, bars = SmaCross({"fast": 5, "slow": 12}), series()
    before = strategy.prepare(bars)
    bars.iloc[300:, bars.columns.get_loc("close")] *= 3.0
    after = strategy.prepare(bars)
    pd.testing.assert_frame_equal(before.iloc[:300], after.iloc[:300], check_exact=True)
    assert not before.iloc[300:].equals(after.iloc[300:])


def test_vectorised_naive_forecast_matches_the_single_window_one():
    bars = series()
    strategy = PredictionThreshold({"forecast_window": 15, "horizon": 3})
    prepared = strategy.prepare(bars)["naive_forecast"].to_numpy()
    closes = bars["close"].to_numpy()
    for t in (14, 100, 399):
        assert prepared[t] == pytest.approx(naive_forecast(closes[t - 14:t + 1], 3), rel=1e-12)
    assert np.isnan(prepared[:14]).all()


def snapshot(bars: pd.DataFrame, t: int, lookback: int = 200) -> MarketSnapshot:
    """What a pipeline gives at the end of bar t: the last ``lookback`` complete bars."""
    window = bars.iloc[max(0, t + 1 - lookback):t + 1]
    return MarketSnapshot(symbol="AAA", candles=window, as_of=window.index[-1].to_pydatetime())


@pytest.mark.parametrize("build", STRATEGIES)
def test_decisions_are_identical_with_and_without_a_prepared_series(build):
    bars = series()
    live, backtest = build(), build()
    backtest.use_prepared("AAA", backtest.prepare(bars))
    position: PositionInfo | None = None
    actions = []
    for t in range(len(bars)):
        snap = snapshot(bars, t)
        mine, theirs = live.decide(snap, position, 1000.0), backtest.decide(snap, position, 1000.0)
        assert mine == theirs, f"bar {t}"
        actions.append(mine.action)
        if mine.action == "close":
            position = None
        if mine.action == "open":
            position = PositionInfo(id=t, asset_id=1, side="long" if mine.side == "buy"
                                    else "short", quantity=1.0, entry_price=snap.last_price,
                                    opened_at=snap.as_of)
    assert actions.count("open") >= 3 and actions.count("hold") > 100  # the case trades


def test_a_prepared_series_of_another_symbol_is_never_used():
    bars = series()
    strategy = SmaCross({"fast": 5, "slow": 12})
    other = bars.copy()
    other["close"] = other["close"][::-1].to_numpy()
    strategy.use_prepared("BBB", strategy.prepare(other))
    assert strategy.prepared(snapshot(bars, 300)).equals(strategy.prepare(bars).iloc[[300]])
