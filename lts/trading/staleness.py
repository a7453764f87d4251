"""The stale-data guard (SPEC 2a, "Bar time"): no new exposure on old prices.

A snapshot is stale when its newest bar ended longer ago than the asset's
``max_data_age_minutes`` (default: 3 bar periods). Its strategy still decides and its
closing orders still go (reducing exposure is always allowed), protective checks still
run on the bars that exist, but orders that open or add to a position are withheld: a
CSV file that stopped in 2024 never opens a position at a 2024 price in 2026.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from lts.plugins.bars import bar_period
from lts.plugins.base import MarketSnapshot

#: Bar periods a snapshot may lag behind ``now`` when the asset sets no maximum age.
DEFAULT_PERIODS = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def stale_warning(snapshot: MarketSnapshot, now: datetime,
                  max_age_minutes: float | None) -> str | None:
    """Say since when the data is stale, or None when it is fresh enough (or cannot tell).

    Without a maximum age and with a single bar (no period to count in), nothing is said.
    The engine asks this for every asset and tick, and nearly always the answer is "fresh":
    that answer is worked out on the index's integers (~10 us); pandas objects (~250 us
    per call) are built only for the rare warning itself.
    """
    index = snapshot.candles.index
    if len(index) == 0:
        return None
    unit_ns = _NS_PER_UNIT.get(getattr(index, "unit", ""), 0)
    if not unit_ns or getattr(index, "tz", None) is None or now.tzinfo is None:
        return _stale_warning(snapshot, now, max_age_minutes)  # not a UTC bar index
    stamps = index.asi8
    period_ns = _smallest_step(stamps) * unit_ns
    if max_age_minutes:
        limit_ns = _minutes_ns(float(max_age_minutes))
    elif period_ns:
        limit_ns = DEFAULT_PERIODS * period_ns
    else:
        return None
    age_ns = (now - _EPOCH) // timedelta(microseconds=1) * 1_000 \
        - (int(stamps[-1]) * unit_ns + period_ns)
    if age_ns <= limit_ns:
        return None
    return _stale_warning(snapshot, now, max_age_minutes)


def _smallest_step(stamps: np.ndarray) -> int:
    """The smallest positive step between stamps, 0 if none (as :func:`bar_period`)."""
    if len(stamps) < 2:
        return 0
    steps = stamps[1:] - stamps[:-1]
    smallest = int(steps.min())
    if smallest > 0:  # the usual case, ascending stamps: no need to pick the positive ones
        return smallest
    positive = steps[steps > 0]
    return int(positive.min()) if len(positive) else 0


@functools.lru_cache(maxsize=256)
def _minutes_ns(minutes: float) -> int:
    """``minutes`` in nanoseconds, rounded exactly as ``pd.Timedelta(minutes=...)`` does."""
    return int(pd.Timedelta(minutes=minutes).value)


def _stale_warning(snapshot: MarketSnapshot, now: datetime,
                   max_age_minutes: float | None) -> str | None:
    """The rule on pandas objects: the warning's text, and any index of another kind."""
    candles = snapshot.candles
    period = bar_period(candles.index)
    ended = candles.index[-1] + (period if period is not None else pd.Timedelta(0))
    if max_age_minutes:
        limit = pd.Timedelta(minutes=float(max_age_minutes))
    elif period is not None:
        limit = DEFAULT_PERIODS * period
    else:
        return None
    age = pd.Timestamp(now) - ended
    if age <= limit:
        return None
    return (f"stale data since {ended.isoformat()}: the newest bar ended "
            f"{_minutes(age)} ago, more than max_data_age {_minutes(limit)}; "
            f"no opening order placed")


def _minutes(span: pd.Timedelta | timedelta) -> str:
    """``90.0 min`` style, readable whatever the span."""
    return f"{pd.Timedelta(span).total_seconds() / 60:g} min"
