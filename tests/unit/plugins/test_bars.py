"""Bar time (SPEC 2a): complete bars only, stamped by period start, resampling included."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lts.plugins.bars import (
    bar_end,
    bar_period,
    bars_between,
    complete_bars,
    resample,
)
from lts.plugins.base import PluginError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minute_bars(count: int, start: datetime = T0, unit: str = "ns") -> pd.DataFrame:
    """``count`` 1-minute bars whose close is their minute number (open = previous close)."""
    index = pd.date_range(start, periods=count, freq="1min", name="time").as_unit(unit)
    close = np.arange(1.0, count + 1.0)
    return pd.DataFrame({"open": close - 1, "high": close + 0.5, "low": close - 1.5,
                         "close": close, "volume": np.ones(count)}, index=index)


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_bar_period_is_the_smallest_step_in_any_index_unit(unit):
    bars = minute_bars(10, unit=unit)
    assert bar_period(bars.index) == pd.Timedelta(minutes=1)
    gappy = bars.drop(bars.index[3:6])
    assert bar_period(gappy.index) == pd.Timedelta(minutes=1)
    assert bar_period(bars.index[:1]) is None


def test_the_forming_bar_is_never_complete():
    bars = minute_bars(10)
    at = T0 + timedelta(minutes=5, seconds=30)  # 09:05 is forming
    assert complete_bars(bars, at).index[-1] == T0 + timedelta(minutes=4)
    assert complete_bars(bars, T0 + timedelta(minutes=5)).index[-1] == \
        T0 + timedelta(minutes=4)  # 09:04 completes at 09:05 exactly
    assert complete_bars(bars, T0 + timedelta(seconds=59)).empty
    with pytest.raises(PluginError, match="naive"):
        complete_bars(bars, datetime(2026, 3, 2, 9, 5))


def test_bars_between_are_stamped_from_start_and_complete_at_end():
    bars = minute_bars(30)
    got = bars_between(bars, T0 + timedelta(minutes=2, seconds=10), T0 + timedelta(minutes=8))
    assert list(got.index) == list(pd.date_range(T0 + timedelta(minutes=3),
                                                 T0 + timedelta(minutes=7), freq="1min"))


def test_resampled_bars_are_stamped_by_start_complete_and_never_see_after_now():
    bars = minute_bars(60)
    now = T0 + timedelta(minutes=17, seconds=20)
    # Prices after `now` are absurd: none may reach a resampled bar.
    bars.loc[bars.index >= T0 + timedelta(minutes=17), ["open", "high", "close"]] = 1e9
    five = resample(bars, "5min", now)
    assert list(five.index) == [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)]
    assert five.to_numpy().max() < 1e9
    first = five.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == \
        (0.0, 5.5, -0.5, 5.0, 5.0)


@pytest.mark.parametrize("seconds", [0, 1, 59, 299, 300, 301])
def test_resampling_at_any_now_keeps_history_and_hides_the_forming_period(seconds):
    bars = minute_bars(120)
    now = T0 + timedelta(minutes=40, seconds=seconds)
    five = resample(bars, timedelta(minutes=5), now)
    later = resample(bars, timedelta(minutes=5), now + timedelta(minutes=23, seconds=7))
    assert (five.index + pd.Timedelta(minutes=5) <= now).all()
    common = five.index.intersection(later.index)
    assert len(common) == len(five) > 0
    pd.testing.assert_frame_equal(five.loc[common], later.loc[common])


def test_bar_end_is_when_the_last_bar_ended_never_after_as_of():
    bars = minute_bars(5)
    assert bar_end(bars, T0 + timedelta(minutes=6)) == T0 + timedelta(minutes=5)
    assert bar_end(bars, T0 + timedelta(minutes=4, seconds=30)) == \
        T0 + timedelta(minutes=4, seconds=30)
    assert bar_end(bars.iloc[:1], T0 + timedelta(minutes=3)) == T0 + timedelta(minutes=3)


def test_bar_end_equals_stamp_plus_period_for_every_unit_zone_and_gap():
    """The integer fast path (UTC, s/ms/us) answers what Timestamp + bar_period answers."""
    rng = np.random.default_rng(7)
    checked = 0
    for unit in ("s", "ms", "us", "ns"):
        for zone in ("UTC", "Europe/Paris"):
            for _ in range(30):
                # random steps of 0 (a repeated stamp) to 3 hours, in whole seconds
                steps = rng.choice([0, 60, 300, 3600, 10800], size=int(rng.integers(1, 12)))
                stamps = pd.DatetimeIndex(T0 + pd.to_timedelta(np.cumsum(steps), unit="s"))
                index = stamps.tz_convert(zone).as_unit(unit)
                if unit == "ns" and rng.random() < 0.5:  # not whole microseconds
                    index = index + pd.Timedelta(int(rng.integers(1, 1000)), unit="ns")
                bars = pd.DataFrame({"close": np.arange(len(index), dtype=float)}, index=index)
                period = bar_period(index)
                for as_of in (T0 + timedelta(days=2), T0 + timedelta(minutes=30), T0):
                    with warnings.catch_warnings():  # "Discarding nonzero nanoseconds"
                        warnings.simplefilter("ignore", UserWarning)
                        expected = (as_of if period is None
                                    else min((index[-1] + period).to_pydatetime(), as_of))
                        got = bar_end(bars, as_of)
                    assert got == expected and got.utcoffset() == expected.utcoffset()
                    checked += 1
    assert checked == 4 * 2 * 30 * 3
    assert bar_end(minute_bars(3).iloc[:0], T0) == T0


def test_a_bad_period_is_refused():
    with pytest.raises(PluginError, match="positive"):
        resample(minute_bars(5), "0min", T0)
    with pytest.raises(PluginError, match="not a bar period"):
        resample(minute_bars(5), "soon", T0)


def test_resampling_bars_that_do_not_nest_never_changes_a_returned_bar():
    """7-minute bars into 15-minute ones: a bar forming at now may start in an ended period."""
    index = pd.date_range("2024-03-04 13:00", periods=40, freq="7min", tz="UTC")
    closes = np.arange(1.0, 41.0)
    source = pd.DataFrame({"open": closes, "high": closes + 0.5, "low": closes - 0.5,
                           "close": closes, "volume": 1.0}, index=index)
    seen: dict[pd.Timestamp, pd.Series] = {}
    for minute in range(0, 240, 1):
        now = pd.Timestamp("2024-03-04 13:00", tz="UTC") + pd.Timedelta(minutes=minute)
        out = resample(source, "15min", now.to_pydatetime())
        for stamp, row in out.iterrows():
            assert stamp + pd.Timedelta(minutes=15) <= now
            if stamp in seen:
                pd.testing.assert_series_equal(seen[stamp], row)
            seen[stamp] = row
    assert len(seen) >= 10
