"""The performance page's figures over many trades: streamed, and the same numbers.

The reference below holds every trade in a DataFrame, as the page once did, and uses the
backtest report's formulas; the service must agree with it while its peak memory stays
far below what holding the trades takes. Batches and the chart's limit are made small
here so that 20,000 trades cross many of each (the page reads 2,000 at a time).
"""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from lts.backtest.report import curve_metrics, trade_metrics
from lts.models import Order, Position, Statistic
from lts.services import performance
from lts.services.trades import TradeFilters, all_trades
from tests.factories import gen_asset, gen_portfolio, gen_user

T0 = datetime(2025, 1, 6, tzinfo=UTC)
TRADES = 20_000
SAMPLES = 4_999  # equity samples: several measuring batches, the last one partial
TODAY = date(2026, 1, 1)


@pytest.fixture
def big_book(db, monkeypatch):
    """One asset with TRADES closed trades (seeded P&L and durations), bulk-inserted."""
    monkeypatch.setattr(performance, "BATCH", 700)
    monkeypatch.setattr(performance, "MAX_CHART_POINTS", 300)
    rng = random.Random(12)
    user = gen_user("whale")
    portfolio = gen_portfolio(user, "Whale", total_capital=100_000.0)
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=50_000.0)
    opening = Order(asset_id=asset.id, side="buy", quantity=1.0, status="filled",
                    filled_quantity=1.0, fill_price=1.0, client_order_id="whale-open",
                    created_at=T0, filled_at=T0, source="strategy")
    db.session.add(opening)
    db.session.flush()
    rows = []
    for i in range(TRADES):
        closed = T0 + timedelta(minutes=25 * i, seconds=rng.randrange(60))
        opened = closed - timedelta(seconds=rng.randrange(60, 86_400))
        pnl = round(rng.gauss(0.5, 20.0), 2) if i % 97 else 0.0
        rows.append({"asset_id": asset.id, "order_id": opening.id, "side": "long",
                     "quantity": 1.0, "entry_price": 1.0, "exit_price": 1.0,
                     "current_price": 1.0, "status": "closed", "opened_at": opened,
                     "closed_at": closed, "updated_at": closed, "commission": 0.25,
                     "realized_pnl": pnl})
    db.session.execute(insert(Position), rows)
    level = 100_000.0
    samples = []
    for i in range(SAMPLES):
        level += rng.gauss(2.0, 150.0)
        samples.append({"key": f"portfolio.{portfolio.id}.equity", "value": level,
                        "timestamp": T0 + timedelta(hours=i), "portfolio_id": portfolio.id})
    db.session.execute(insert(Statistic), samples)
    db.session.commit()
    return {"user": user, "portfolio": portfolio, "asset": asset}


def _reference_trades(book):
    trades = all_trades(book["user"], TradeFilters(portfolio_id=book["portfolio"].id))
    frame = pd.DataFrame({"pnl": [t.pnl for t in trades],
                          "fees": [t.fees for t in trades],
                          "entry_time": pd.to_datetime([t.opened_at for t in trades], utc=True),
                          "exit_time": pd.to_datetime([t.closed_at for t in trades], utc=True)})
    return trades, frame


def _reference_curve(times, values):
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    array = np.asarray(values, dtype=np.float64)
    drawdown = curve_metrics(array, index[1:], index[0], performance.DAY)["max_drawdown"]
    daily = pd.Series(array, index=index).resample("1D").last().dropna()
    sharpe = curve_metrics(daily.to_numpy(), daily.index[1:], daily.index[0],
                           performance.DAY)["sharpe"]
    return drawdown, sharpe


def _measured(call):
    tracemalloc.start()
    try:
        result = call()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_portfolio_and_asset_figures_of_many_trades_match_the_in_memory_reference(
        db, big_book):
    trades, frame = _reference_trades(big_book)
    assert len(trades) == TRADES
    expected = trade_metrics(frame)
    result, peak = _measured(lambda: performance.portfolio_performance(
        big_book["user"], big_book["portfolio"].id, today=TODAY))

    assert result.trades == TRADES
    assert result.total_pnl == pytest.approx(frame["pnl"].sum(), rel=1e-9)
    assert result.fees == pytest.approx(0.25 * TRADES, rel=1e-12)
    for key in ("win_rate", "profit_factor", "expectancy", "average_trade_seconds"):
        assert getattr(result, key) == pytest.approx(expected[key], rel=1e-9), key
    best = max(range(TRADES), key=lambda i: (trades[i].pnl, i))  # the latest of equals
    worst = min(range(TRADES), key=lambda i: (trades[i].pnl, i))  # the earliest
    assert (result.best.id, result.worst.id) == (trades[best].id, trades[worst].id)

    days = frame.groupby(frame["exit_time"].dt.date)["pnl"]
    assert [(r.start, r.trades) for r in result.daily] == [
        (day, int(n)) for day, n in sorted(days.count().items(), reverse=True)]
    assert [r.pnl for r in result.daily] == pytest.approx(
        [float(v) for _, v in sorted(days.sum().items(), reverse=True)], abs=1e-6)
    assert sum(r.wins for r in result.monthly) == int((frame["pnl"] > 0).sum())
    assert sum(r.trades for r in result.weekly) == TRADES

    samples = db.session.execute(select(Statistic.timestamp, Statistic.value)
                                 .order_by(Statistic.timestamp, Statistic.id)).all()
    drawdown, sharpe = _reference_curve([t for t, _ in samples], [v for _, v in samples])
    assert result.max_drawdown == pytest.approx(drawdown, rel=1e-12)
    assert result.sharpe == pytest.approx(sharpe, rel=1e-9)

    running = np.cumsum(frame["pnl"].to_numpy())
    assert 300 <= len(result.cumulative) <= 2 * 300 + 1
    assert result.cumulative[-1] == {"t": trades[-1].closed_at.isoformat(),
                                     "v": round(float(running[-1]), 10)}
    steps = {pd.Timestamp(p["t"]) for p in result.cumulative}
    assert len(steps) == len(result.cumulative)  # thinned, never repeated
    # Holding the trades alone (the old way) takes far more than the whole call now.
    _trades, held = _measured(lambda: all_trades(
        big_book["user"], TradeFilters(portfolio_id=big_book["portfolio"].id)))
    assert peak < held / 4, (peak, held)


    asset = performance.asset_performance(big_book["user"], big_book["asset"].id, today=TODAY)
    values = [50_000.0, *(50_000.0 + running)]
    times = [trades[0].opened_at, *(t.closed_at for t in trades)]
    drawdown, sharpe = _reference_curve(times, values)
    assert asset.max_drawdown == pytest.approx(drawdown, rel=1e-12)
    assert asset.sharpe == pytest.approx(sharpe, rel=1e-9)
    assert (asset.trades, asset.curve_source) == (TRADES, "closed trades")
