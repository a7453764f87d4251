"""How a portfolio or one asset has performed: trade statistics, risk, profit by period.

The formulas are the backtest report's (:mod:`lts.backtest.report`), not copies:
``trade_metrics`` gives win rate, profit factor, expectancy and average duration of the
closed trades (P&L net of fees); ``curve_metrics`` gives max drawdown and Sharpe of an
equity curve. Which curve:

- a portfolio: its stored ``portfolio.<id>.equity`` samples, chained as time-weighted
  returns so a deposit or withdrawal (its ``capital_change`` series) is never read as a
  gain or a loss; max drawdown over every sample, Sharpe over daily returns
  (the last sample of each UTC day, annualised with 365.25 days, risk-free rate 0);
- an asset (it has no equity series of its own): its allocated capital plus the
  cumulative P&L of its closed trades, one point per exit.

The profit table's days, weeks (Monday first) and months are the viewer's, in their
time zone; the Sharpe ratio's days are UTC days, so it does not change with the viewer.
None means "not defined" (no trade, no loss, fewer than two days), never 0.

Everything is computed streaming: trades and equity samples are read a batch at a time
and folded into sums, the best and worst trade, one row per period and the running
drawdown, so a portfolio with 100,000 trades never holds them all; its cumulative P&L
chart is thinned to a few thousand evenly spaced points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from lts.backtest.report import TradeTotals, curve_metrics
from lts.extensions import db
from lts.models import Asset, Portfolio, Statistic, User
from lts.models.statistic_keys import CAPITAL_CHANGE, EQUITY, portfolio_key
from lts.services.access import load_owned
from lts.services.trades import Trade, TradeFilters, iter_trades

DAY = pd.Timedelta(days=1)
HEATMAP_WEEKS = 26
HEAT_LEVELS = 4
BATCH = 2_000  # trades or equity samples read, and curve points measured, at a time
MAX_CHART_POINTS = 1_000  # the cumulative P&L chart draws at most twice this


@dataclass(frozen=True)
class PeriodRow:
    """Profit of one day, week or month: the trades that closed in it."""

    start: date
    label: str
    trades: int
    pnl: float
    wins: int


@dataclass(frozen=True)
class HeatCell:
    """One day of the calendar heat map; ``level`` -4..4 by P&L relative to the best day."""

    day: date
    pnl: float | None
    level: int
    future: bool = False


@dataclass(frozen=True)
class Performance:
    """Every figure of the performance page, for one portfolio or one asset."""

    title: str
    currency_note: str
    trades: int
    total_pnl: float
    fees: float
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    average_trade_seconds: float | None
    best: Trade | None
    worst: Trade | None
    max_drawdown: float | None
    sharpe: float | None
    curve_source: str
    daily: list[PeriodRow] = field(default_factory=list)
    weekly: list[PeriodRow] = field(default_factory=list)
    monthly: list[PeriodRow] = field(default_factory=list)
    heatmap: list[list[HeatCell]] = field(default_factory=list)
    cumulative: list[dict[str, Any]] = field(default_factory=list)


def portfolio_performance(actor: User, portfolio_id: int, *, tz: tzinfo = UTC,
                          today: date | None = None) -> Performance:
    """The performance of a portfolio the actor may read (NotFound otherwise)."""
    portfolio = load_owned(Portfolio, portfolio_id, actor, "read")
    figures = _TradeFigures(tz)
    for batch in iter_trades(actor, TradeFilters(portfolio_id=portfolio.id), batch=BATCH):
        figures.add(batch)
    curve = _Curve()
    changes = list(_series(portfolio_key(portfolio.id, CAPITAL_CHANGE)))  # deposits: few
    for when, value in time_weighted_points(_series(portfolio_key(portfolio.id, EQUITY)),
                                            changes):
        curve.add(when, value)
    return figures.performance(portfolio.name, curve, "equity statistics", today)


def asset_performance(actor: User, asset_id: int, *, tz: tzinfo = UTC,
                      today: date | None = None) -> Performance:
    """The performance of one asset the actor may read (NotFound otherwise).

    Its curve: the allocated capital at the first trade's entry, then the capital plus
    the running P&L at each exit.
    """
    asset = load_owned(Asset, asset_id, actor, "read")
    title = f"{asset.symbol} ({asset.portfolio.name})"
    capital = float(asset.allocated_capital or 0.0) or float(asset.portfolio.total_capital)
    figures, curve = _TradeFigures(tz), _Curve()
    for batch in iter_trades(actor, TradeFilters(asset_id=asset.id), batch=BATCH):
        if not figures.count:
            curve.add(batch[0].opened_at, capital)
        figures.add(batch, curve, capital)
    return figures.performance(title, curve, "closed trades", today)


def _series(key: str) -> Iterator[tuple[datetime, float]]:
    """The samples of one statistics series, oldest first, read a batch at a time."""
    result = db.session.execute(select(Statistic.timestamp, Statistic.value)
                                .where(Statistic.key == key)
                                .order_by(Statistic.timestamp, Statistic.id)
                                .execution_options(yield_per=BATCH))
    try:
        for when, value in result:
            yield when, float(value)
    finally:
        result.close()


def time_weighted_points(equity: Iterable[tuple[datetime, float]],
                         changes: Sequence[tuple[datetime, float]]
                         ) -> Iterator[tuple[datetime, float]]:
    """Equity samples with deposits and withdrawals taken out of the returns.

    Each step's return is ``(E_i - D_i) / E_(i-1) - 1``, ``D_i`` the capital added
    between the two samples; the curve starts at the first sample's equity and
    compounds those returns, so a 5,000 deposit is no +50 % and a withdrawal no loss.
    ``changes`` (oldest first) are the capital changes; ``equity`` is read as it comes.
    """
    samples = iter(equity)
    first = next(samples, None)
    if first is None:
        return
    yield first
    index = 0
    while index < len(changes) and changes[index][0] <= first[0]:
        index += 1
    previous, level = first[1], first[1]
    for when, value in samples:
        added = 0.0
        while index < len(changes) and changes[index][0] <= when:
            added += changes[index][1]
            index += 1
        level *= (value - added) / previous if previous > 0 else 1.0
        yield when, level
        previous = value


class _Curve:
    """Max drawdown over every point and each UTC day's last value, fed oldest first.

    Points are measured :data:`BATCH` at a time with the backtest's ``curve_metrics``,
    each batch led by the peak so far, so the drawdown is the one over the whole curve
    while only a batch (and one value per day) is held.
    """

    def __init__(self) -> None:
        self.points = 0
        self.peak: float | None = None
        self.drawdown = 0.0
        self.daily: dict[date, float] = {}
        self._times: list[datetime] = []
        self._values: list[float] = []

    def add(self, when: datetime, value: float) -> None:
        """One more point of the curve (times never go back)."""
        self.points += 1
        self._times.append(when)
        self._values.append(value)
        self.daily[when.astimezone(UTC).date()] = value
        if len(self._values) >= BATCH:
            self._measure()

    def _measure(self) -> None:
        """Fold the held points into the drawdown and the peak, then drop them."""
        times, values = self._times, self._values
        if self.peak is not None and values:
            times, values = [times[0], *times], [self.peak, *values]
        if len(values) >= 2:
            index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
            drawdown = curve_metrics(np.asarray(values, dtype=np.float64), index[1:],
                                     index[0], DAY)["max_drawdown"]
            self.drawdown = max(self.drawdown, drawdown)
        if values:
            self.peak = max(values)
        self._times, self._values = [], []

    def figures(self) -> tuple[float | None, float | None]:
        """(max drawdown over every point, Sharpe over daily closes); None when undefined."""
        self._measure()
        if self.points < 2:
            return None, None
        sharpe = None
        if len(self.daily) >= 3:  # E_0 and at least two daily returns
            days = pd.DatetimeIndex(pd.to_datetime(list(self.daily), utc=True))
            sharpe = curve_metrics(np.fromiter(self.daily.values(), np.float64, len(days)),
                                   days[1:], days[0], DAY)["sharpe"]
        return self.drawdown, sharpe


class _Thinned:
    """At most ``2 x limit`` evenly spaced points of a long series; the last always shows.

    Every point is kept until there are twice the limit; then every other one goes and
    only every second later point is kept, and so on: a chart of 100,000 trades draws
    a few thousand points, one of a few hundred draws them all.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.stride, self.seen = limit, 1, 0
        self.kept: list[tuple[datetime, float]] = []
        self.last: tuple[datetime, float] | None = None

    def add(self, when: datetime, value: float) -> None:
        """One more point."""
        self.seen += 1
        self.last = (when, value)
        if self.seen % self.stride == 0:
            self.kept.append(self.last)
            if len(self.kept) > 2 * self.limit:
                self.kept = self.kept[1::2]
                self.stride *= 2

    def points(self) -> list[tuple[datetime, float]]:
        """The kept points, the latest included."""
        if self.last is not None and (not self.kept or self.kept[-1] is not self.last):
            return [*self.kept, self.last]
        return list(self.kept)


class _TradeFigures:
    """Every trade figure of the page, fed batches of trades oldest exit first.

    Holds sums, the best and worst trade, one row per day, week and month with an exit,
    and the thinned cumulative P&L: never the trades themselves.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.totals = TradeTotals()
        self.fees = 0.0
        self.running = 0.0
        self.best: Trade | None = None
        self.worst: Trade | None = None
        self.periods = {period: _PeriodTotals() for period in _LABELS}
        self.cumulative = _Thinned(MAX_CHART_POINTS)  # read at call time (tests shrink it)

    @property
    def count(self) -> int:
        """Trades added so far."""
        return self.totals.count

    def add(self, batch: list[Trade], curve: _Curve | None = None,
            capital: float = 0.0) -> None:
        """Add a batch; ``curve`` also gets ``capital`` plus the running P&L at each exit."""
        self.totals.add(np.fromiter((t.pnl for t in batch), np.float64, len(batch)),
                        np.fromiter((t.duration.total_seconds() for t in batch), np.float64,
                                    len(batch)))
        for trade in batch:
            self.fees += trade.fees
            self.running += trade.pnl
            self.cumulative.add(trade.closed_at, self.running)
            if curve is not None:
                curve.add(trade.closed_at, capital + self.running)
            if self.best is None or trade.pnl >= self.best.pnl:
                self.best = trade  # the latest of equal bests, as a stable sort gives
            if self.worst is None or trade.pnl < self.worst.pnl:
                self.worst = trade
            for period, totals in self.periods.items():
                totals.add(period_start(trade.closed_at, self.tz, period), trade.pnl)

    def performance(self, title: str, curve: _Curve, source: str,
                    today: date | None) -> Performance:
        """The page's figures from what was added and the curve."""
        figures = self.totals.metrics()
        drawdown, sharpe = curve.figures()
        daily = self.periods["day"].rows("day")
        return Performance(
            title=title, currency_note="in the portfolio's money, net of fees",
            trades=self.count, total_pnl=self.totals.pnl, fees=self.fees,
            win_rate=figures["win_rate"], profit_factor=figures["profit_factor"],
            expectancy=figures["expectancy"],
            average_trade_seconds=figures["average_trade_seconds"],
            best=self.best, worst=self.worst, max_drawdown=drawdown, sharpe=sharpe,
            curve_source=source, daily=daily, weekly=self.periods["week"].rows("week"),
            monthly=self.periods["month"].rows("month"),
            heatmap=heatmap(daily, today or datetime.now(self.tz).date()),
            cumulative=[{"t": t.isoformat(), "v": round(float(v), 10)}
                        for t, v in self.cumulative.points()])


def period_start(moment: datetime, tz: tzinfo, period: str) -> date:
    """The first day of the day, ISO week (Monday) or month holding ``moment`` in ``tz``."""
    day = moment.astimezone(tz).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


_LABELS = {"day": "%a %d %b %Y", "week": "week of %d %b %Y", "month": "%B %Y"}


class _PeriodTotals:
    """Trades, P&L and winners per period start (one entry per period with an exit)."""

    def __init__(self) -> None:
        self.by_start: dict[date, list[float]] = {}

    def add(self, start: date, pnl: float) -> None:
        """Count one trade closed in the period starting ``start``."""
        totals = self.by_start.setdefault(start, [0, 0.0, 0])
        totals[0] += 1
        totals[1] += pnl
        totals[2] += pnl > 0

    def rows(self, period: str) -> list[PeriodRow]:
        """The rows, newest first."""
        return [PeriodRow(start=start, label=start.strftime(_LABELS[period]),
                          trades=int(count), pnl=float(pnl), wins=int(wins))
                for start, (count, pnl, wins) in sorted(self.by_start.items(), reverse=True)]


def heat_level(pnl: float, largest: float) -> int:
    """-4..4: the sign of ``pnl`` and its size in quarters of the largest day (0: flat)."""
    if not pnl or not largest:
        return 0
    return int(math.copysign(min(HEAT_LEVELS, math.ceil(abs(pnl) / largest * HEAT_LEVELS)),
                             pnl))


def heatmap(daily: list[PeriodRow], today: date, weeks: int = HEATMAP_WEEKS
            ) -> list[list[HeatCell]]:
    """The last ``weeks`` calendar weeks up to ``today``: one list of 7 days per week."""
    by_day = {row.start: row.pnl for row in daily}
    largest = max((abs(v) for v in by_day.values()), default=0.0)
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    grid = []
    for week in range(weeks):
        cells = []
        for weekday in range(7):
            day = first + timedelta(weeks=week, days=weekday)
            pnl = by_day.get(day)
            cells.append(HeatCell(day=day, pnl=pnl, future=day > today,
                                  level=heat_level(pnl or 0.0, largest)))
        grid.append(cells)
    return grid
