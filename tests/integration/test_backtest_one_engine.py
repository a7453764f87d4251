"""One engine: a backtest and the live engine, driven by a fake clock over SQLite, agree.

The same sma_cross asset over the same bars: once through ``run_backtest`` (its own
throw-away app, indicators prepared once over the whole series), once as a stored asset
of the test app's database ticked by :class:`Engine` at the same times (indicators
computed by ``decide`` from each snapshot). Orders, fills, trades and equity must be
identical. The in-memory replay (:class:`MemoryReplay`: the engine's step on
``MemoryBooks`` and the paper broker's fill rules in memory, no database) is held to
the same live run: this test is the proof that it books what the SQL engine books.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from lts import create_app
from lts.backtest.data import load_bars
from lts.backtest.memory import MemoryReplay
from lts.backtest.result import build_result
from lts.backtest.runner import (
    AssetSpec,
    BacktestSpec,
    EngineReplay,
    read_books,
    run_backtest,
)
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.plugin_source import RegistryPluginSource
from tests.backtest_bars import write_walk_csv
from tests.factories import gen_asset, gen_portfolio, gen_user

START = datetime(2026, 2, 2, tzinfo=UTC)
END = datetime(2026, 2, 6, tzinfo=UTC)
CONFIG = {"fast": 4, "slow": 10, "stop_loss": 0.6, "take_profit": 1.2, "entry": "cross"}
COSTS = {"spread_bps": 2.0, "slippage_bps": 1.0, "commission_pct": 0.01}


@pytest.fixture
def app_overrides(tmp_path):
    """The live app reads the same data folder."""
    return {"data_dir": str(tmp_path / "data")}


def write_walk(folder, symbol="AAA", seed=11):
    """A seeded hourly random walk of 4 days with a week of warm-up before START."""
    write_walk_csv(folder, symbol, seed, start=START, days=4)


def comparable(frame, drop=()):
    """A frame without the columns that name rows differently (ids), rounded."""
    return frame.drop(columns=list(drop)).reset_index(drop=True)


def live_run(app, db, data, symbols=("AAA",), capital=5000.0, broker_config=COSTS):
    """The same assets stored in the test app's database, ticked by the live Engine."""
    owner = gen_user("live")
    portfolio = gen_portfolio(owner, "live", total_capital=capital, portfolio_latency=1)
    ids = {}
    for symbol in symbols:
        asset = gen_asset(portfolio, symbol, pipeline_plugin="csv",
                          pipeline_config={"file": f"{symbol}.csv", "lookback": 60},
                          strategy_plugin="sma_cross", strategy_config=CONFIG,
                          broker_config=broker_config)
        ids[asset.id] = symbol
    ticks = data.ticks()
    clock = ManualClock(ticks[0].to_pydatetime())
    engine = Engine(app, clock=clock)
    try:
        for tick in ticks:
            clock.now = tick.to_pydatetime()
            report = engine.tick(clock.now)
            assert not report.errors, report.errors
    finally:
        engine.close()
    replayed = read_books(db, ids, len(ticks), ())
    return build_result(replayed=replayed, bars=dict(data.bars), ticks=ticks,
                        period=data.period, capital=capital, start=START, end=END)


def assert_same_books(backtest, live):
    """Orders (but their client ids, which name the asset ids), fills, trades, equity."""
    ids = ["client_order_id"]
    pd.testing.assert_frame_equal(comparable(backtest.orders, ids), comparable(live.orders, ids))
    pd.testing.assert_frame_equal(comparable(backtest.fills), comparable(live.fills))
    pd.testing.assert_frame_equal(comparable(backtest.trades), comparable(live.trades))
    pd.testing.assert_frame_equal(backtest.equity, live.equity)


@pytest.mark.parametrize("replay_kind", ["memory", "engine"])
def test_backtest_and_live_engine_book_the_same_orders_fills_and_equity(app, db, tmp_path,
                                                                       replay_kind):
    write_walk(tmp_path / "data")
    data = load_bars(tmp_path / "data", ["AAA"], START, END)
    spec = BacktestSpec(assets=(AssetSpec("AAA", "sma_cross", CONFIG, COSTS, lookback=60),),
                        start=START, end=END, capital=5000.0)
    replay = MemoryReplay(RegistryPluginSource(app)) if replay_kind == "memory" \
        else EngineReplay(create_app)
    backtest = run_backtest(spec, data, replay)
    assert len(backtest.trades) >= 3, "the case must trade to prove anything"
    assert set(backtest.trades["exit_reason"]) & {"stop_loss", "take_profit"}, \
        "the case must hit a stop or a target to prove the exits"
    assert_same_books(backtest, live_run(app, db, data))


def test_two_assets_sharing_equity_book_the_same_in_memory_as_live(app, db, tmp_path):
    # Two assets split the equity every tick (equal_weight), with 5x leverage: the
    # allocation, the margin held by the other asset and the shared P&L all feed the
    # sizing, so any difference between the two books shows up in the quantities.
    write_walk(tmp_path / "data")
    write_walk(tmp_path / "data", "BBB", seed=5)
    data = load_bars(tmp_path / "data", ["AAA", "BBB"], START, END)
    leveraged = {**COSTS, "leverage": 5.0}
    spec = BacktestSpec(assets=tuple(AssetSpec(s, "sma_cross", CONFIG, leveraged, lookback=60)
                                     for s in ("AAA", "BBB")),
                        start=START, end=END, capital=5000.0)
    backtest = run_backtest(spec, data, MemoryReplay(RegistryPluginSource(app)))
    assert set(backtest.trades["symbol"]) == {"AAA", "BBB"}
    assert_same_books(backtest, live_run(app, db, data, ("AAA", "BBB"),
                                         broker_config=leveraged))


def test_instrument_precision_rounds_the_same_in_memory_as_live(app, db, tmp_path):
    # The paper broker's price_decimals / quantity_decimals (issue 18): fills rounded
    # half-even to 2 decimals, quantities down to 1, in the memory book as in the table,
    # and the engine's sizing and stored prices the same in both replays.
    write_walk(tmp_path / "data")
    data = load_bars(tmp_path / "data", ["AAA"], START, END)
    precise = {**COSTS, "price_decimals": 2, "quantity_decimals": 1, "lot_step": 0.01}
    spec = BacktestSpec(assets=(AssetSpec("AAA", "sma_cross", CONFIG, precise, lookback=60),),
                        start=START, end=END, capital=5000.0)
    backtest = run_backtest(spec, data, MemoryReplay(RegistryPluginSource(app)))
    assert len(backtest.trades) >= 3, "the case must trade to prove anything"
    prices = backtest.fills["price"]
    assert (prices == prices.round(2)).all() and (prices != prices.round(1)).any()
    quantities = backtest.orders["quantity"]
    assert (quantities == quantities.round(1)).all()
    assert_same_books(backtest, live_run(app, db, data, broker_config=precise))
