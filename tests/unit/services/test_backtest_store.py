"""What a stored run keeps: a bounded curve that keeps its extremes, merged candles, JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from lts.backtest.result import BacktestResult
from lts.services.backtest_pool import candle_rows, curve_points, plain

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = pd.Timedelta(hours=1)


def result_with(equity: np.ndarray, capital: float = 1000.0) -> BacktestResult:
    """A result whose portfolio equity is ``equity`` at hourly ticks (nothing else)."""
    ticks = pd.date_range(START + HOUR, periods=len(equity), freq="h", tz="UTC")
    empty = pd.DataFrame()
    return BacktestResult(start=START, end=START + HOUR * len(equity), initial_capital=capital,
                          symbols=("X",), period=HOUR,
                          equity=pd.DataFrame({"portfolio": equity, "X": equity}, index=ticks),
                          orders=empty, fills=empty, trades=empty, open_positions=empty,
                          bars_replayed=len(equity))


def test_a_short_curve_is_kept_whole_from_the_capital_with_its_drawdown():
    points = curve_points(result_with(np.array([1100.0, 990.0, 1210.0])))
    assert [p["v"] for p in points] == [1000.0, 1100.0, 990.0, 1210.0]
    assert [p["t"] for p in points] == [
        int((START + HOUR * i).timestamp() * 1000) for i in range(4)]
    assert [round(p["dd"], 9) for p in points] == [0.0, 0.0, 0.1, 0.0]


def test_a_long_curve_is_thinned_to_the_limit_keeping_the_lowest_and_highest_points():
    rng = np.random.default_rng(3)
    equity = 1000.0 + np.cumsum(rng.normal(0, 5, 100_000))
    equity[54_321] = 1.0  # a crash one bar long must survive the thinning
    equity[77_777] = 99_999.0
    points = curve_points(result_with(equity))
    assert len(points) <= 2_000
    values = [p["v"] for p in points]
    assert 1.0 in values and 99_999.0 in values
    assert values[0] == 1000.0 and values[-1] == equity[-1]
    times = [p["t"] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert max(p["dd"] for p in points) == 1.0 - 1.0 / max(1000.0, equity[:54_321].max())


def test_candles_beyond_the_limit_merge_consecutive_bars():
    index = pd.date_range(START, periods=10, freq="h", tz="UTC")
    bars = pd.DataFrame({"open": np.arange(10.0), "high": np.arange(10.0) + 5,
                         "low": np.arange(10.0) - 5, "close": np.arange(10.0) + 1}, index=index)
    assert len(candle_rows(bars)) == 10
    merged = candle_rows(bars, limit=4)  # groups of 3: 0-2, 3-5, 6-8, 9
    assert [c["time"] for c in merged] == [int(index[i].timestamp()) for i in (0, 3, 6, 9)]
    assert merged[0] == {"time": int(index[0].timestamp()), "open": 0.0, "high": 7.0,
                         "low": -5.0, "close": 3.0}


def test_stored_values_are_plain_json_without_nan():
    stored = plain({"a": np.float64(1.5), "b": math.nan, "c": [np.int64(2), math.inf],
                    "d": pd.Timestamp("2026-01-01", tz="UTC"), "e": pd.NaT})
    assert stored == {"a": 1.5, "b": None, "c": [2, None], "d": "2026-01-01T00:00:00+00:00",
                      "e": None}
