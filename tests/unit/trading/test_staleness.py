"""The stale-data guard's fast path says exactly what the pandas rule says."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import MarketSnapshot
from lts.trading.staleness import _stale_warning, stale_warning

FIVE_MIN = pd.date_range("2026-03-02 09:00", periods=12, freq="5min", tz="UTC")
INDEXES = {
    **{f"1min in {unit}": pd.date_range("2026-03-02 09:00", periods=30, freq="1min",
                                       tz="UTC").as_unit(unit)
       for unit in ("s", "ms", "us", "ns")},
    "daily": pd.date_range("2026-03-02", periods=10, freq="1D", tz="UTC"),
    "duplicates and gaps": FIVE_MIN[[0, 1, 1, 2, 5, 9, 10]],
    "unsorted": FIVE_MIN[[3, 1, 2, 8, 4]],
    "no positive step": FIVE_MIN[[2, 2, 2]],
    "one bar": FIVE_MIN[[0]],
    "no bars": FIVE_MIN[[]],
}


def snapshot(index: pd.DatetimeIndex) -> MarketSnapshot:
    candles = pd.DataFrame({"close": np.arange(float(len(index)))}, index=index)
    return MarketSnapshot("X", candles, datetime(2026, 3, 2, tzinfo=UTC))


@pytest.mark.parametrize("name", list(INDEXES))
def test_fast_path_agrees_with_the_pandas_rule_to_the_message(name):
    index = INDEXES[name]
    snap = snapshot(index)
    newest = (index.max() if len(index) else FIVE_MIN[0]).to_pydatetime()
    rng = random.Random(7)
    warned = 0
    for _ in range(300):
        now = newest + timedelta(seconds=rng.randint(-120, 5 * 86_400),
                                 microseconds=rng.randint(0, 999_999))
        for max_age in (None, 0, 3, 2.5, 60, 1 / 3):
            expected = _stale_warning(snap, now, max_age) if len(index) else None
            assert stale_warning(snap, now, max_age) == expected, (now, max_age)
            warned += expected is not None
    if name not in ("no bars",):
        assert warned  # the cases cover the warning, not only "fresh"


def test_the_limit_is_inclusive_to_the_nanosecond():
    index = INDEXES["1min in us"]
    snap = snapshot(index)
    ended = index[-1].to_pydatetime() + timedelta(minutes=1)
    assert stale_warning(snap, ended + timedelta(minutes=3), None) is None
    late = stale_warning(snap, ended + timedelta(minutes=3, microseconds=1), None)
    assert late is not None and late.startswith("stale data since 2026-03-02T09:30:00")
    assert stale_warning(snap, ended + timedelta(minutes=2.5), 2.5) is None
    assert stale_warning(snap, ended + timedelta(minutes=2.5, microseconds=1), 2.5)


def test_a_naive_now_is_refused_as_before():
    snap = snapshot(INDEXES["daily"])
    with pytest.raises(TypeError):
        stale_warning(snap, datetime(2026, 4, 1), None)
