"""The stale-data guard (SPEC 2a, "Bar time"): no new exposure on old prices.

A snapshot is stale when its newest bar ended longer ago than the asset's
``max_data_age_minutes`` (default: 3 bar periods). Its strategy still decides and its
closing orders still go (reducing exposure is always allowed), protective checks still
run on the bars that exist, but orders that open or add to a position are withheld: a
CSV file that stopped in 2024 never opens a position at a 2024 price in 2026.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from lts.plugins.bars import bar_period
from lts.plugins.base import MarketSnapshot

#: Bar periods a snapshot may lag behind ``now`` when the asset sets no maximum age.
DEFAULT_PERIODS = 3


def stale_warning(snapshot: MarketSnapshot, now: datetime,
                  max_age_minutes: float | None) -> str | None:
    """Say since when the data is stale, or None when it is fresh enough (or cannot tell).

    Without a maximum age and with a single bar (no period to count in), nothing is said.
    """
    candles = snapshot.candles
    if candles.empty:
        return None
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
