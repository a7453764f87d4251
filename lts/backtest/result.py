"""What a backtest produced: plain frames, independent of how the bars were replayed.

A replay (see :mod:`lts.backtest.runner`) hands back its orders, fills and positions as
rows; :func:`build_result` turns them and the bars into a :class:`BacktestResult`:

- ``equity``: one row per replayed bar end (the tick time), a ``portfolio`` column and
  one column per symbol. The equity is computed from the trades and the bars' closes, as
  the engine marks positions (SPEC 2a): capital + realized P&L (net of commissions) +
  for each open position ``direction x (close - entry) x quantity - its fees`` (the
  trade's fees are counted from its entry, so equity does not jump at the exit).
  Per-asset columns start from an equal share of the capital (capital / assets), so
  they add up to the portfolio column.
- ``orders``: every order the engine placed (also rejected ones), with its status.
- ``fills``: every execution (entries, exits, stop-loss / take-profit fills).
- ``trades``: every closed position (lot): entry/exit time and price, quantity, side,
  P&L net of fees, fees, the exit reason (the closing order's reason) and
  ``booked_time``, the tick at which the engine booked the exit. A stop-loss or
  take-profit fill is stamped with its bar's start but known only once that bar is
  complete: the equity counts the exit from ``booked_time`` (when given), never
  earlier, so the curve never shows a bar before it ended.
- ``open_positions``: positions still open at the end, marked at the last close.
- ``gaps``: holes in the data found while loading (reported, never filled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

ORDER_COLUMNS = ("time", "symbol", "side", "quantity", "order_type", "status", "fill_price",
                 "filled_quantity", "commission", "reason", "client_order_id")
FILL_COLUMNS = ("time", "symbol", "side", "quantity", "price", "commission", "reason")
TRADE_COLUMNS = ("symbol", "side", "quantity", "entry_time", "entry_price", "exit_time",
                 "exit_price", "pnl", "fees", "exit_reason", "booked_time")
POSITION_COLUMNS = ("symbol", "side", "quantity", "entry_time", "entry_price", "fees")


@dataclass(frozen=True)
class Gap:
    """Bars missing from a symbol's data: nothing between ``after`` and ``before``."""

    symbol: str
    after: datetime
    before: datetime
    missing_bars: int

    def describe(self) -> str:
        """One line for people: where and how many bars are missing."""
        return (f"{self.symbol}: {self.missing_bars} bar(s) missing between "
                f"{self.after.isoformat()} and {self.before.isoformat()}")


@dataclass(frozen=True)
class Replayed:
    """What a replay hands back: rows of plain values (see the ``*_COLUMNS``)."""

    orders: Sequence[dict[str, object]]
    fills: Sequence[dict[str, object]]
    trades: Sequence[dict[str, object]]
    open_positions: Sequence[dict[str, object]]
    ticks: int
    errors: Sequence[str] = ()
    halts: Sequence[str] = ()


@dataclass
class BacktestResult:
    """Everything a run produced; :mod:`lts.backtest.report` computes the metrics."""

    start: datetime
    end: datetime
    initial_capital: float
    symbols: tuple[str, ...]
    period: pd.Timedelta
    equity: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    open_positions: pd.DataFrame
    bars_replayed: int
    gaps: tuple[Gap, ...] = ()
    errors: tuple[str, ...] = ()
    #: Kill-switch trips (equity <= 0, drawdown limit): "<time> <trigger> <figures>".
    halts: tuple[str, ...] = ()
    parameters: dict[str, object] = field(default_factory=dict)

    @property
    def commissions(self) -> float:
        """Every commission paid: fills of closed trades and of positions still open."""
        return float(self.fills["commission"].sum()) if len(self.fills) else 0.0


def frame(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns`` (empty rows give an empty frame)."""
    return pd.DataFrame(list(rows), columns=list(columns))


def closes_at_ticks(bars: dict[str, pd.DataFrame], ticks: pd.DatetimeIndex,
                    period: pd.Timedelta) -> pd.DataFrame:
    """Per symbol, the close of the newest bar complete at each tick (carried over gaps).

    A bar stamped ``t`` is complete at ``t + period``; before a symbol's first bar the
    value is NaN (no position can be open then).
    """
    out = {}
    for symbol, candles in bars.items():
        ends = candles.index + period
        closes = pd.Series(candles["close"].to_numpy(dtype=np.float64), index=ends)
        out[symbol] = closes.reindex(ticks, method="ffill")
    return pd.DataFrame(out, index=ticks)


def exit_index(ticks: pd.DatetimeIndex, row: dict[str, object]) -> int:
    """The first tick at which a closed trade counts as closed (its booking, else its exit)."""
    booked = row.get("booked_time")
    when = booked if booked is not None and not pd.isna(booked) else row["exit_time"]
    return int(ticks.searchsorted(pd.Timestamp(when), "left"))  # type: ignore[arg-type]


def equity_curves(trades: pd.DataFrame, open_positions: pd.DataFrame, closes: pd.DataFrame,
                  capital: float) -> pd.DataFrame:
    """Equity at each tick, per symbol (equal capital share) and for the portfolio.

    Realized P&L counts from the tick at or after the exit; an open position counts its
    mark from the tick at or after its entry (the engine fills at a tick), less the
    commission it paid. O(trades + ticks): realized P&L as steps summed once, marks
    added over each position's own ticks.
    """
    ticks = closes.index
    symbols = list(closes.columns)
    share = capital / len(symbols) if symbols else capital
    # Realized P&L as steps at each exit tick summed once (a slice per trade added the
    # P&L to every later tick: O(trades x ticks), seconds for 100,000 bars), then marks.
    steps = np.zeros((len(ticks) + 1, len(symbols)), dtype=np.float64)
    rows = [(r, False) for r in trades.to_dict("records")]
    rows += [(r, True) for r in open_positions.to_dict("records")]
    spans = []
    for row, still_open in rows:
        col = symbols.index(str(row["symbol"]))
        first = int(ticks.searchsorted(pd.Timestamp(row["entry_time"]), "left"))
        if still_open:
            last = len(ticks)
        else:
            last = exit_index(ticks, row)
            steps[last, col] += float(row["pnl"])  # type: ignore[arg-type]
        spans.append((row, col, first, last))
    values = np.cumsum(steps[:-1], axis=0)
    prices = closes.to_numpy(dtype=np.float64)
    for row, col, first, last in spans:
        if last > first:
            sign = 1.0 if row["side"] == "long" else -1.0
            marks = sign * (prices[first:last, col] - float(row["entry_price"]))  # type: ignore[arg-type]
            values[first:last, col] += (marks * float(row["quantity"])  # type: ignore[arg-type]
                                        - float(row["fees"]))  # type: ignore[arg-type]
    per_asset = pd.DataFrame(values + share, index=ticks, columns=symbols)
    result = pd.DataFrame({"portfolio": values.sum(axis=1) + capital}, index=ticks)
    return pd.concat([result, per_asset], axis=1)


def build_result(*, replayed: Replayed, bars: dict[str, pd.DataFrame],
                 ticks: pd.DatetimeIndex, period: pd.Timedelta, capital: float,
                 start: datetime, end: datetime, gaps: Sequence[Gap] = (),
                 parameters: dict[str, object] | None = None) -> BacktestResult:
    """Assemble a :class:`BacktestResult` from a replay's rows and the bars."""
    trades = frame(replayed.trades, TRADE_COLUMNS)
    positions = frame(replayed.open_positions, POSITION_COLUMNS)
    closes = closes_at_ticks(bars, ticks, period)
    for table in (trades, positions):
        for column in ("entry_time", "exit_time", "booked_time"):
            if column in table:
                table[column] = pd.to_datetime(table[column], utc=True)
    return BacktestResult(
        start=start, end=end, initial_capital=float(capital), symbols=tuple(bars),
        period=period, equity=equity_curves(trades, positions, closes, capital),
        orders=frame(replayed.orders, ORDER_COLUMNS), fills=frame(replayed.fills, FILL_COLUMNS),
        trades=trades, open_positions=positions, bars_replayed=int(replayed.ticks),
        gaps=tuple(gaps), errors=tuple(replayed.errors),
        halts=tuple(replayed.halts), parameters=dict(parameters or {}))
