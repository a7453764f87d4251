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
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from lts.backtest.report import curve_metrics, trade_metrics
from lts.extensions import db
from lts.models import Asset, Portfolio, Statistic, User
from lts.models.statistic_keys import CAPITAL_CHANGE, EQUITY, portfolio_key
from lts.services.access import load_owned
from lts.services.trades import Trade, TradeFilters, all_trades

DAY = pd.Timedelta(days=1)
HEATMAP_WEEKS = 26
HEAT_LEVELS = 4


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
    trades = all_trades(actor, TradeFilters(portfolio_id=portfolio.id))
    equity = _series(portfolio_key(portfolio.id, EQUITY))
    changes = _series(portfolio_key(portfolio.id, CAPITAL_CHANGE))
    times, values = time_weighted_curve(equity, changes)
    return _build(portfolio.name, trades, times, values, "equity statistics", tz, today)


def asset_performance(actor: User, asset_id: int, *, tz: tzinfo = UTC,
                      today: date | None = None) -> Performance:
    """The performance of one asset the actor may read (NotFound otherwise)."""
    asset = load_owned(Asset, asset_id, actor, "read")
    trades = all_trades(actor, TradeFilters(asset_id=asset.id))
    capital = float(asset.allocated_capital or 0.0) or float(asset.portfolio.total_capital)
    times = [t.closed_at for t in trades]
    values = list(capital + np.cumsum([t.pnl for t in trades])) if trades else []
    if trades:
        times.insert(0, trades[0].opened_at)
        values.insert(0, capital)
    return _build(f"{asset.symbol} ({asset.portfolio.name})", trades, times, values,
                  "closed trades", tz, today)


def _series(key: str) -> list[tuple[datetime, float]]:
    """The samples of one statistics series, oldest first."""
    rows = db.session.execute(select(Statistic.timestamp, Statistic.value)
                              .where(Statistic.key == key)
                              .order_by(Statistic.timestamp, Statistic.id))
    return [(t, float(v)) for t, v in rows]


def time_weighted_curve(equity: list[tuple[datetime, float]],
                        changes: list[tuple[datetime, float]]
                        ) -> tuple[list[datetime], list[float]]:
    """Equity samples with deposits and withdrawals taken out of the returns.

    Each step's return is ``(E_i - D_i) / E_(i-1) - 1``, ``D_i`` the capital added
    between the two samples; the curve starts at the first sample's equity and
    compounds those returns, so a 5,000 deposit is no +50 % and a withdrawal no loss.
    """
    if not equity:
        return [], []
    times, values = [equity[0][0]], [equity[0][1]]
    index = 0
    while index < len(changes) and changes[index][0] <= equity[0][0]:
        index += 1
    previous = equity[0][1]
    for when, value in equity[1:]:
        added = 0.0
        while index < len(changes) and changes[index][0] <= when:
            added += changes[index][1]
            index += 1
        step = (value - added) / previous if previous > 0 else 1.0
        times.append(when)
        values.append(values[-1] * step)
        previous = value
    return times, values


def _curve_figures(times: list[datetime], values: list[float]
                   ) -> tuple[float | None, float | None]:
    """(max drawdown over every point, Sharpe over daily closes) of a curve."""
    if len(values) < 2:
        return None, None
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    array = np.asarray(values, dtype=np.float64)
    drawdown = curve_metrics(array, index[1:], index[0], DAY)["max_drawdown"]
    daily = pd.Series(array, index=index).resample("1D").last().dropna()
    sharpe = None
    if len(daily) >= 3:  # E_0 and at least two daily returns
        sharpe = curve_metrics(daily.to_numpy(), daily.index[1:], daily.index[0],
                               DAY)["sharpe"]
    return drawdown, sharpe


def _build(title: str, trades: list[Trade], times: list[datetime], values: list[float],
           source: str, tz: tzinfo, today: date | None) -> Performance:
    """Assemble every figure from the trades (oldest exit first) and the curve."""
    frame = pd.DataFrame({"pnl": [t.pnl for t in trades],
                          "entry_time": pd.to_datetime([t.opened_at for t in trades], utc=True),
                          "exit_time": pd.to_datetime([t.closed_at for t in trades], utc=True)})
    figures = trade_metrics(frame)
    drawdown, sharpe = _curve_figures(times, values)
    by_pnl = sorted(trades, key=lambda t: t.pnl)
    local_today = today or datetime.now(tz).date()
    daily = period_rows(trades, tz, "day")
    running = np.cumsum([t.pnl for t in trades]) if trades else []
    return Performance(
        title=title, currency_note="in the portfolio's money, net of fees",
        trades=len(trades), total_pnl=float(sum(t.pnl for t in trades)),
        fees=float(sum(t.fees for t in trades)), win_rate=figures["win_rate"],
        profit_factor=figures["profit_factor"], expectancy=figures["expectancy"],
        average_trade_seconds=figures["average_trade_seconds"],
        best=by_pnl[-1] if trades else None, worst=by_pnl[0] if trades else None,
        max_drawdown=drawdown, sharpe=sharpe, curve_source=source,
        daily=daily, weekly=period_rows(trades, tz, "week"),
        monthly=period_rows(trades, tz, "month"),
        heatmap=heatmap(daily, local_today),
        cumulative=[{"t": t.closed_at.isoformat(), "v": round(float(v), 10)}
                    for t, v in zip(trades, running, strict=True)])


def period_start(moment: datetime, tz: tzinfo, period: str) -> date:
    """The first day of the day, ISO week (Monday) or month holding ``moment`` in ``tz``."""
    day = moment.astimezone(tz).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


_LABELS = {"day": "%a %d %b %Y", "week": "week of %d %b %Y", "month": "%B %Y"}


def period_rows(trades: list[Trade], tz: tzinfo, period: str) -> list[PeriodRow]:
    """Profit per day, week or month of exit, newest first (periods without trades left out)."""
    totals: dict[date, list[float]] = defaultdict(list)
    for trade in trades:
        totals[period_start(trade.closed_at, tz, period)].append(trade.pnl)
    return [PeriodRow(start=start, label=start.strftime(_LABELS[period]), trades=len(pnls),
                      pnl=float(sum(pnls)), wins=sum(1 for p in pnls if p > 0))
            for start, pnls in sorted(totals.items(), reverse=True)]


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
