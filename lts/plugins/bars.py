"""Bar time, done once for every plugin: complete bars only, stamped by period start.

The rules (SPEC 2a, "Bar time")::

      bar stamped 09:00, period 5 min            the forming bar (never returned)
    |---------------------------------|---------------------------------|
  09:00                             09:05                  now=09:07  09:10
    complete at 09:05: returned when now >= 09:05   complete at 09:10: not yet

- a bar is stamped with the UTC **start** of its period (as OANDA and most exchanges
  stamp candles); a bar stamped ``t`` with period ``d`` is complete at ``t + d``;
- a pipeline returns a bar only when ``now >= t + d``: the forming bar, and anything
  after ``now``, are never returned, resampled bars included (a 5-minute bar built
  from 1-minute bars exists only once its fifth minute is complete);
- a paper market order decided at ``now`` fills at the close of the last complete bar,
  as of that bar's end; protective checks start with the first bar stamped at or after
  that moment.

Pipelines (built-in or not) use :func:`complete_bars` and :func:`resample` rather than
slicing by ``<= now`` themselves; brokers use :func:`bar_period` and :func:`bar_end`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from lts.plugins.base import PluginError

COLUMNS = ("open", "high", "low", "close", "volume")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A datetime64 unit's step in microseconds, as (numerator, denominator).
_PER_MICRO = {"s": (1_000_000, 1), "ms": (1_000, 1), "us": (1, 1), "ns": (1, 1_000)}
_AGGREGATE = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def utc(moment: datetime, what: str = "now") -> pd.Timestamp:
    """Return ``moment`` as a UTC timestamp; a naive one is refused (which zone was it?)."""
    if moment.tzinfo is None:
        raise PluginError(f"naive datetime {what}={moment!r}: pass timezone-aware UTC")
    return pd.Timestamp(moment).tz_convert("UTC")


def bar_period(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The spacing of a bar series: its smallest step (None with fewer than two bars).

    The smallest, not the most common, step: gaps (nights, weekends) only make steps
    longer, so the smallest one is the bars' own period.
    """
    if len(index) < 2:
        return None
    steps = np.diff(index.asi8)  # integers in the index's own unit (ns, us...)
    positive = steps[steps > 0]
    return pd.Timedelta(int(positive.min()), unit=index.unit) if len(positive) else None


def as_period(period: timedelta | str | pd.Timedelta) -> pd.Timedelta:
    """Return ``period`` (``timedelta``, ``"5min"``, ``"1h"``...) as a positive Timedelta."""
    try:
        value = pd.Timedelta(period)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"not a bar period: {period!r}") from exc
    if value <= pd.Timedelta(0):
        raise PluginError(f"a bar period must be positive, got {period!r}")
    return value


def complete_bars(bars: pd.DataFrame, now: datetime,
                  period: timedelta | str | pd.Timedelta | None = None) -> pd.DataFrame:
    """The bars of ``bars`` (stamped by period start) that are complete at ``now``.

    ``period`` defaults to :func:`bar_period` of the series; a lone bar of unknown
    period is kept once ``now`` reaches its stamp (nothing tells how long it lasts).
    """
    if bars.empty:
        return bars
    length = as_period(period) if period is not None else bar_period(bars.index)
    cutoff = utc(now) - (length if length is not None else pd.Timedelta(0))
    end = bars.index.searchsorted(cutoff, side="right")
    return bars.iloc[:end]


def bars_between(bars: pd.DataFrame, start: datetime, end: datetime,
                 period: timedelta | str | pd.Timedelta | None = None) -> pd.DataFrame:
    """The bars stamped at or after ``start`` and complete at ``end`` (``bars()``'s answer)."""
    done = complete_bars(bars, end, period)
    first = done.index.searchsorted(utc(start, "start"), side="left")
    return done.iloc[first:]


def resample(bars: pd.DataFrame, period: timedelta | str | pd.Timedelta, now: datetime,
             *, origin: datetime | str = "epoch",
             source_period: timedelta | str | pd.Timedelta | None = None) -> pd.DataFrame:
    """Aggregate ``bars`` into ``period`` bars stamped by their start, complete ones only.

    A resampled bar stamped ``T`` covers [T, T + period) and is returned only when
    ``now >= T + period``: it never holds a price from after ``now``, nor a partial
    period. Source bars are first cut to those complete at ``now``. Periods are aligned
    on ``origin`` (the Unix epoch by default: 5-minute bars at :00, :05...); the source
    bars' own period is ``source_period`` (default: their smallest step). Periods
    without any source bar are left out, not filled. A period holding the start of a
    source bar still forming at ``now`` waits for it, so source bars that do not nest in
    the periods (7-minute bars into 15-minute ones) never make a returned bar change;
    choose a period that is a multiple of the source's all the same.
    """
    length = as_period(period)
    source = complete_bars(bars, now, source_period)
    if source.empty:
        return source.loc[:, [c for c in COLUMNS if c in source.columns]]
    aggregate = {column: how for column, how in _AGGREGATE.items() if column in source}
    grouped = source.resample(length, label="left", closed="left", origin=origin)
    out = grouped.agg(aggregate).dropna(subset=["open"])
    # When source bars do not nest in the periods (7-minute bars into 15-minute ones), a
    # source bar still forming at ``now`` may start inside a period that has ended: that
    # period is final only once the bar completes, or it would change afterwards.
    final = utc(now)
    forming = len(source)
    if forming < len(bars):
        final = min(final, bars.index[forming])
    out = out[out.index + length <= final]
    out.index.name = source.index.name
    return out


def bar_end(candles: pd.DataFrame, as_of: datetime) -> datetime:
    """When the newest bar of ``candles`` ended (its stamp + period), never after ``as_of``.

    The moment a market order decided on these bars fills "as of" (SPEC 2a).
    """
    if candles.empty:
        return as_of
    index = candles.index
    dtype = index.dtype
    scale = _PER_MICRO.get(getattr(dtype, "unit", None))
    if scale is not None and getattr(dtype, "tz", None) is UTC and len(index) >= 2:
        # The same moment as below in integers (UTC stamps): the Timestamp/Timedelta
        # boxing cost ~40 us, and every paper market order pays it.
        stamps = index.asi8
        steps = np.diff(stamps)
        positive = steps[steps > 0]
        if not len(positive):
            return as_of
        micros, rest = divmod(int(stamps[-1] + positive.min()) * scale[0], scale[1])
        if not rest:  # else below: to_pydatetime drops the nanoseconds, with a warning
            return min(_EPOCH + timedelta(microseconds=micros), as_of)
    period = bar_period(index)
    if period is None:
        return as_of
    return min((index[-1] + period).to_pydatetime(), as_of)
