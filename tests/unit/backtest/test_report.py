"""A hand-computable backtest: 10 hourly bars, two closed trades, one open: every metric.

Capital 1000 split over AAA (traded) and BBB (never traded). Closes of AAA at the ten
ticks 01:00..10:00: 100 101 102 100 98 99 103 104 102 100.

- trade 1: long 10 at 101 (02:00), stopped at 98 (05:00), fees 1 + 1: P&L -30 - 2 = -32;
- trade 2: short 5 at 103 (07:00), closed at 102 (09:00), fees 0.5 + 0.5: P&L 5 - 1 = 4;
- open: long 2 at 100 (10:00), fee 0.5.

Portfolio equity, E_0 = 1000 at 00:00 then per tick (a held trade counts its fees):
1000, 998 (10x0-2), 1008 (10x1-2), 988 (10x-1-2), 968 (-32), 968, 967 (-1), 962
(-5-1), 972 (-32+4), 971.5 (-28-0.5).
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from lts.backtest.report import build_report, format_table, metrics, walk_forward, write_all
from lts.backtest.result import Replayed, build_result

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
CLOSES = [100, 101, 102, 100, 98, 99, 103, 104, 102, 100]
CURVE = [1000, 1000, 998, 1008, 988, 968, 968, 967, 962, 972, 971.5]
PER_YEAR = 365.25 * 24


def at(tick: int) -> datetime:
    """The time of tick ``tick`` (1..10): the end of bar ``tick - 1``."""
    return T0 + tick * HOUR


def bars(closes: list[float]) -> pd.DataFrame:
    """Hourly bars stamped 00:00..09:00 with ``closes``."""
    index = pd.date_range(T0, periods=len(closes), freq="h", tz="UTC")
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes,
                         "volume": 0.0}, index=index)


@pytest.fixture
def result():
    """The case of the module docstring."""
    trades = [
        {"symbol": "AAA", "side": "long", "quantity": 10, "entry_time": at(2),
         "entry_price": 101, "exit_time": at(5), "exit_price": 98, "pnl": -32.0,
         "fees": 2.0, "exit_reason": "stop_loss"},
        {"symbol": "AAA", "side": "short", "quantity": 5, "entry_time": at(7),
         "entry_price": 103, "exit_time": at(9), "exit_price": 102, "pnl": 4.0,
         "fees": 1.0, "exit_reason": "signal"},
    ]
    still_open = [{"symbol": "AAA", "side": "long", "quantity": 2, "entry_time": at(10),
                   "entry_price": 100, "fees": 0.5}]
    fills = [{"time": at(t), "symbol": "AAA", "side": s, "quantity": q, "price": p,
              "commission": c, "reason": ""}
             for t, s, q, p, c in [(2, "buy", 10, 101, 1.0), (5, "sell", 10, 98, 1.0),
                                   (7, "sell", 5, 103, 0.5), (9, "buy", 5, 102, 0.5),
                                   (10, "buy", 2, 100, 0.5)]]
    replayed = Replayed(orders=[], fills=fills, trades=trades, open_positions=still_open,
                        ticks=10)
    ticks = pd.DatetimeIndex([at(t) for t in range(1, 11)])
    return build_result(replayed=replayed, bars={"AAA": bars(CLOSES), "BBB": bars([50] * 10)},
                        ticks=ticks, period=pd.Timedelta(hours=1), capital=1000.0,
                        start=T0, end=at(10))


def returns(curve: list[float]) -> list[float]:
    """Bar returns of a curve, by hand."""
    return [b / a - 1 for a, b in itertools.pairwise(curve)]


def test_equity_curve_matches_the_hand_computed_one(result):
    assert result.equity["portfolio"].tolist() == CURVE[1:]
    assert result.equity["AAA"].tolist() == [v - 500 for v in CURVE[1:]]
    assert result.equity["BBB"].tolist() == [500.0] * 10


def test_every_portfolio_metric_is_the_hand_computed_value(result):
    m = metrics(result)
    r = returns(CURVE)
    mean, std = statistics.fmean(r), statistics.stdev(r)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    assert m["start_equity"] == 1000 and m["end_equity"] == 971.5
    assert m["total_return"] == pytest.approx(-0.0285, rel=1e-12)
    assert m["cagr"] == pytest.approx(0.9715 ** (PER_YEAR / 10) - 1, rel=1e-9)
    assert m["volatility"] == pytest.approx(std * math.sqrt(PER_YEAR), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(PER_YEAR), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(PER_YEAR), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(46 / 1008, rel=1e-12)  # 1008 -> 962
    assert m["max_drawdown_bars"] == 7  # peak 1008 at 03:00, not recovered by 10:00
    assert m["max_drawdown_seconds"] == 7 * 3600
    assert m["trades"] == 2
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(4 / 32)
    assert m["expectancy"] == -14.0
    assert m["average_trade_seconds"] == 2.5 * 3600
    assert m["longest_trade_seconds"] == 3 * 3600
    assert m["exposure"] == 0.6  # open after ticks 2, 3, 4, 7, 8, 10
    assert m["commissions"] == 3.5


def test_per_asset_metrics_use_an_equal_share_of_the_capital(result):
    traded, idle = metrics(result, "AAA"), metrics(result, "BBB")
    assert traded["start_equity"] == 500 and traded["end_equity"] == 471.5
    assert traded["total_return"] == pytest.approx(-28.5 / 500, rel=1e-12)
    assert traded["max_drawdown"] == pytest.approx(46 / 508, rel=1e-12)
    assert traded["trades"] == 2 and traded["commissions"] == 3.5
    assert idle["total_return"] == 0 and idle["max_drawdown"] == 0
    assert idle["volatility"] == 0
    assert idle["sharpe"] is None and idle["sortino"] is None  # a flat curve
    assert idle["trades"] == 0 and idle["win_rate"] is None and idle["expectancy"] is None
    assert idle["profit_factor"] is None and idle["exposure"] == 0
    assert idle["max_drawdown_bars"] == 0


def test_walk_forward_windows_restart_from_the_previous_tick(result):
    first, second = walk_forward(result, 2)
    assert (first["bars"], second["bars"]) == (5, 5)
    assert first["portfolio"]["total_return"] == pytest.approx(968 / 1000 - 1, rel=1e-12)
    assert second["portfolio"]["start_equity"] == 968
    assert second["portfolio"]["total_return"] == pytest.approx(971.5 / 968 - 1, rel=1e-12)
    assert first["portfolio"]["trades"] == 1 and second["portfolio"]["trades"] == 1
    assert first["portfolio"]["expectancy"] == -32 and second["portfolio"]["expectancy"] == 4
    assert first["portfolio"]["commissions"] == 2.0
    assert second["portfolio"]["commissions"] == 1.5
    assert second["portfolio"]["exposure"] == 0.6  # ticks 7, 8, 10 of 6..10
    assert second["portfolio"]["max_drawdown"] == pytest.approx(1 - 962 / 968, rel=1e-12)


def test_walk_forward_refuses_more_windows_than_bars(result):
    with pytest.raises(ValueError, match="--walk-forward 11"):
        walk_forward(result, 11)
    with pytest.raises(ValueError, match="at least 1"):
        walk_forward(result, 0)


def test_writers_give_json_table_and_csvs(result, tmp_path):
    report = build_report(result, walk_forward_windows=2)
    paths = write_all(result, report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "equity.csv", "trades.csv",
                                       "orders.csv", "fills.csv"]
    curve = pd.read_csv(paths[1])
    assert curve["portfolio"].tolist() == CURVE[1:]
    assert curve["drawdown"].max() == pytest.approx(46 / 1008, rel=1e-12)
    trades = pd.read_csv(paths[2])
    assert trades["exit_reason"].tolist() == ["stop_loss", "signal"]
    table = format_table(report)
    assert "-2.85%" in table and "total_return" in table and "BBB" in table
    assert '"walk_forward"' in paths[0].read_text()
