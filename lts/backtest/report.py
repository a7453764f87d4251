"""The metrics of a backtest, per asset and for the portfolio, and their writers.

Definitions (every one is asserted on a hand-computed case in
``tests/unit/backtest/test_report.py``). ``E_0`` is the equity before the first bar of
the window (the capital for the whole run), ``E_1..E_n`` the equity at each tick;
``t_0`` is the start of the first bar (``t_1 - period``) or the previous tick.

- ``total_return`` = ``E_n / E_0 - 1``.
- ``cagr`` = ``(E_n / E_0) ** (1 / years) - 1`` with ``years = (t_n - t_0) / 365.25 days``
  (None when the equity ends at or below 0).
- bar returns ``r_i = E_i / E_(i-1) - 1``; ``periods_per_year`` = 365.25 days / period.
- ``volatility`` = sample standard deviation of ``r`` (ddof 1) x sqrt(periods_per_year).
- ``sharpe`` = mean(r) / std(r) x sqrt(periods_per_year), risk-free rate 0.
- ``sortino`` = mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(periods_per_year) (downside
  deviation over all bars); None without a losing bar.
- ``max_drawdown`` = max over i of ``1 - E_i / max(E_0..E_i)`` (a fraction, >= 0);
  ``max_drawdown_bars`` / ``max_drawdown_seconds``: the longest time under water, from
  a peak to the first tick back at or above it (or the last tick when never recovered).
- trades (closed positions whose exit falls in the window): ``trades``, ``win_rate``
  (share with P&L > 0), ``profit_factor`` (gross profit / gross loss; None without a
  loss), ``expectancy`` (mean P&L per trade), ``average_trade_seconds`` and
  ``longest_trade_seconds`` (entry to exit).
- ``exposure``: share of ticks after which a position was open (for the portfolio: any).
- ``commissions``: commissions of every fill in the window, open positions' included.

None stands for "not defined" (no trade, a flat curve...), never for 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lts.backtest.result import BacktestResult, exit_index

YEAR = pd.Timedelta(days=365.25)
METRICS = ("start_equity", "end_equity", "total_return", "cagr", "volatility", "sharpe",
           "sortino", "max_drawdown", "max_drawdown_bars", "max_drawdown_seconds", "trades",
           "win_rate", "profit_factor", "expectancy", "average_trade_seconds",
           "longest_trade_seconds", "exposure", "commissions")
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure"}


def _ratio(top: float, bottom: float) -> float | None:
    """``top / bottom``, None when ``bottom`` is 0 or not finite."""
    if bottom == 0 or not math.isfinite(bottom):
        return None
    return top / bottom


def curve_metrics(equity: np.ndarray, times: pd.DatetimeIndex, start_time: pd.Timestamp,
                  period: pd.Timedelta) -> dict[str, Any]:
    """Return and risk metrics of ``equity`` (E_0 first, then one value per tick)."""
    n = len(equity) - 1
    first, last = float(equity[0]), float(equity[-1])
    out: dict[str, Any] = {"start_equity": first, "end_equity": last,
                           "total_return": _ratio(last, first)}
    if out["total_return"] is not None:
        out["total_return"] -= 1.0
    years = (times[-1] - start_time) / YEAR if n else 0.0
    growth = _ratio(last, first)
    out["cagr"] = (growth ** (1.0 / years) - 1.0
                   if growth is not None and growth > 0 and years > 0 else None)
    per_year = YEAR / period
    returns = equity[1:] / equity[:-1] - 1.0 if n else np.array([])
    std = float(np.std(returns, ddof=1)) if n >= 2 else 0.0
    mean = float(returns.mean()) if n else 0.0
    out["volatility"] = std * math.sqrt(per_year) if n >= 2 else None
    sharpe = _ratio(mean, std)
    out["sharpe"] = sharpe * math.sqrt(per_year) if sharpe is not None else None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2))) if n else 0.0
    sortino = _ratio(mean, downside)
    out["sortino"] = sortino * math.sqrt(per_year) if sortino is not None else None
    peaks = np.maximum.accumulate(equity)
    out["max_drawdown"] = float(np.max(1.0 - equity / peaks))
    out["max_drawdown_bars"], out["max_drawdown_seconds"] = _under_water(
        equity, [start_time, *times])
    return out


def _under_water(equity: np.ndarray, times: Sequence[pd.Timestamp]) -> tuple[int, float]:
    """Longest stretch below a previous peak: (ticks, seconds), peak to recovery or end."""
    longest, seconds, peak_at = 0, 0.0, 0

    def candidate(begin: int, end: int) -> None:
        nonlocal longest, seconds
        if end - begin > longest:
            longest, seconds = end - begin, (times[end] - times[begin]).total_seconds()

    for i in range(1, len(equity)):
        if equity[i] >= equity[peak_at]:
            if i - peak_at > 1:  # the points in between were below the peak
                candidate(peak_at, i)
            peak_at = i
    if equity[-1] < equity[peak_at]:
        candidate(peak_at, len(equity) - 1)
    return longest, seconds


@dataclass
class TradeTotals:
    """The sums the trade metrics are made of; batches of trades add up (streaming).

    A live portfolio's performance page feeds its closed trades batch by batch, so
    100,000 trades never sit in memory at once, and gets the backtest's figures.
    """

    count: int = 0
    wins: int = 0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    pnl: float = 0.0
    seconds: float = 0.0
    longest: float | None = None

    def add(self, pnl: np.ndarray, seconds: np.ndarray) -> None:
        """Add a batch: each trade's P&L (net of fees) and its entry-to-exit seconds."""
        if not len(pnl):
            return
        self.count += len(pnl)
        self.wins += int((pnl > 0).sum())
        self.gross_profit += float(pnl[pnl > 0].sum())
        self.gross_loss += float(-pnl[pnl < 0].sum())
        self.pnl += float(pnl.sum())
        self.seconds += float(seconds.sum())
        longest = float(seconds.max())
        self.longest = longest if self.longest is None else max(self.longest, longest)

    def metrics(self) -> dict[str, Any]:
        """Counts and averages of the trades added so far (see the module doc)."""
        count = self.count
        return {
            "trades": count,
            "win_rate": self.wins / count if count else None,
            "profit_factor": (self.gross_profit / self.gross_loss if self.gross_loss > 0
                              else None),
            "expectancy": self.pnl / count if count else None,
            "average_trade_seconds": self.seconds / count if count else None,
            "longest_trade_seconds": self.longest if count else None,
        }


def trade_metrics(trades: pd.DataFrame) -> dict[str, Any]:
    """Counts and averages of closed trades (P&L net of fees)."""
    totals = TradeTotals()
    if len(trades):
        totals.add(trades["pnl"].astype(float).to_numpy(),
                   (trades["exit_time"] - trades["entry_time"]).dt.total_seconds().to_numpy())
    return totals.metrics()


def exposure_mask(result: BacktestResult, symbol: str | None) -> np.ndarray:
    """Per tick, whether a position (of ``symbol``, or any) was open after that tick."""
    ticks = result.equity.index
    mask = np.zeros(len(ticks), dtype=bool)
    spans = [(r["symbol"], r["entry_time"], exit_index(ticks, r))
             for r in result.trades.to_dict("records")]
    spans += [(r["symbol"], r["entry_time"], len(ticks))
              for r in result.open_positions.to_dict("records")]
    for owner, entry, last in spans:
        if symbol is not None and owner != symbol:
            continue
        first = int(ticks.searchsorted(pd.Timestamp(entry), "left"))
        mask[first:last] = True
    return mask


def metrics(result: BacktestResult, symbol: str | None = None,
            window: slice = slice(None)) -> dict[str, Any]:
    """Every metric for the portfolio (``symbol`` None) or one symbol, over ``window`` ticks."""
    column = "portfolio" if symbol is None else symbol
    series = result.equity[column]
    positions = range(len(series))[window]
    if not len(positions):
        raise ValueError("a window needs at least one bar")
    first, stop = positions[0], positions[-1] + 1
    times = series.index[first:stop]
    if first == 0:
        start_value = (result.initial_capital if symbol is None
                       else result.initial_capital / len(result.symbols))
        start_time = times[0] - result.period
    else:
        start_value, start_time = float(series.iloc[first - 1]), series.index[first - 1]
    values = np.concatenate(([start_value], series.to_numpy(dtype=np.float64)[first:stop]))
    out = curve_metrics(values, times, start_time, result.period)
    trades = result.trades
    if symbol is not None:
        trades = trades[trades["symbol"] == symbol]
    closed_in = (trades["exit_time"] > start_time) & (trades["exit_time"] <= times[-1])
    out.update(trade_metrics(trades[closed_in]))
    out["exposure"] = float(exposure_mask(result, symbol)[first:stop].mean())
    fills = result.fills
    if symbol is not None:
        fills = fills[fills["symbol"] == symbol]
    fill_times = pd.to_datetime(fills["time"], utc=True)
    out["commissions"] = float(fills["commission"][(fill_times > start_time)
                                                   & (fill_times <= times[-1])].sum())
    return {key: out[key] for key in METRICS}


def walk_forward(result: BacktestResult, windows: int) -> list[dict[str, Any]]:
    """The same metrics over ``windows`` consecutive windows of (nearly) equal bar counts."""
    if windows < 1:
        raise ValueError("--walk-forward must be at least 1")
    ticks = len(result.equity)
    if windows > ticks:
        raise ValueError(f"--walk-forward {windows} is more windows than the {ticks} bars")
    out = []
    for n, part in enumerate(np.array_split(np.arange(ticks), windows), start=1):
        window = slice(int(part[0]), int(part[-1]) + 1)
        index = result.equity.index
        out.append({"window": n, "from": index[window.start].isoformat(),
                    "to": index[window.stop - 1].isoformat(), "bars": len(part),
                    "portfolio": metrics(result, None, window),
                    "assets": {s: metrics(result, s, window) for s in result.symbols}})
    return out


def build_report(result: BacktestResult, walk_forward_windows: int = 0) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    report: dict[str, Any] = {
        "from": result.start.isoformat(), "to": result.end.isoformat(),
        "symbols": list(result.symbols), "initial_capital": result.initial_capital,
        "bars_replayed": result.bars_replayed,
        "gaps": [g.describe() for g in result.gaps],
        "errors": list(result.errors),
        "halts": list(result.halts),
        "parameters": result.parameters,
        "portfolio": metrics(result) if len(result.equity) else None,
        "assets": {s: metrics(result, s) for s in result.symbols} if len(result.equity) else {},
    }
    if walk_forward_windows:
        report["walk_forward"] = walk_forward(result, walk_forward_windows)
    return report


def _cell(key: str, value: Any) -> str:
    """One metric as the terminal table shows it."""
    if value is None:
        return "-"
    if key in _PERCENT:
        return f"{value * 100:.2f}%"
    if key.endswith("_seconds"):
        return str(pd.Timedelta(seconds=float(value)))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.2f}"


def format_table(report: Mapping[str, Any]) -> str:
    """The metrics as a plain-text table: one row per metric, portfolio then assets."""
    if report.get("portfolio") is None:
        return "no bars replayed"
    names = ["portfolio", *report["assets"]]
    columns = [report["portfolio"], *report["assets"].values()]
    rows = [["metric", *names]]
    rows += [[key, *(_cell(key, c[key]) for c in columns)] for key in METRICS]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    """Timestamps and numpy numbers in the report, as JSON."""
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(report: Mapping[str, Any], path: Path) -> None:
    """Write the report as indented JSON."""
    path.write_text(json.dumps(report, indent=2, default=_json_default), encoding="utf-8")


def write_equity_csv(result: BacktestResult, path: Path) -> None:
    """The equity curve (portfolio and assets) and the portfolio's drawdown, one row a tick."""
    curve = result.equity.copy()
    peaks = np.maximum.accumulate(np.concatenate(
        ([result.initial_capital], curve["portfolio"].to_numpy(dtype=np.float64))))[1:]
    curve["drawdown"] = 1.0 - curve["portfolio"] / peaks
    curve.index.name = "time"
    curve.to_csv(path)


def write_trades_csv(result: BacktestResult, path: Path) -> None:
    """Every closed trade, one row each."""
    result.trades.to_csv(path, index=False)


def write_all(result: BacktestResult, report: Mapping[str, Any], folder: Path) -> list[Path]:
    """report.json, equity.csv, trades.csv, orders.csv and fills.csv under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in ("report.json", "equity.csv", "trades.csv",
                                        "orders.csv", "fills.csv")]
    write_json(report, paths[0])
    write_equity_csv(result, paths[1])
    write_trades_csv(result, paths[2])
    result.orders.to_csv(paths[3], index=False)
    result.fills.to_csv(paths[4], index=False)
    return paths
