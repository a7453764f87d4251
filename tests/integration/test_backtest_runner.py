"""Backtests on both replays: the live engine on a throw-away SQLite app, and MemoryReplay.

Every scenario runs on each (``make_replay``): the money-safety rules (stops on every
bar, margin, equity <= 0 halts, a failing plugin fails only its asset) must hold in the
in-memory replay exactly as in the engine over SQL.

The series is a V: 20 hourly bars falling 120 -> 100, then rising 1 a bar. With SMA3 /
SMA8 the fast average crosses above the slow one at the end of bar 23 (close 104), so
sma_cross opens long at the 00:00 tick of 2026-01-06; bar 28 (04:00) dips to 95
intrabar, through the 1 % stop.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from lts import create_app
from lts.backtest.data import load_bars
from lts.backtest.memory import MemoryReplay
from lts.backtest.report import metrics
from lts.backtest.runner import AssetSpec, BacktestSpec, EngineReplay, run_backtest
from lts.errors import ValidationFailed
from lts.trading.plugin_source import RegistryPluginSource

START = datetime(2026, 1, 5, tzinfo=UTC)
END = datetime(2026, 1, 7, tzinfo=UTC)


@pytest.fixture(params=["engine", "memory"])
def make_replay(request, app):
    """Build the replay under test: ``make_replay(prepare=...)``."""
    if request.param == "engine":
        return lambda prepare=True: EngineReplay(create_app, prepare=prepare)
    return lambda prepare=True: MemoryReplay(RegistryPluginSource(app), prepare=prepare)


def v_shape(folder, symbol="AAA", dip_at=28):
    """Write the V series (with an intrabar dip at ``dip_at``) as ``<symbol>.csv``."""
    closes = list(np.linspace(120, 100, 20)) + [100.0 + k for k in range(1, 13)]
    index = pd.date_range(START, periods=len(closes), freq="h", tz="UTC")
    lows = [c * 0.999 for c in closes]
    if dip_at is not None:
        lows[dip_at] = 95.0
    pd.DataFrame({"time": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes,
                  "high": [c * 1.001 for c in closes], "low": lows, "close": closes,
                  "volume": 1}).to_csv(folder / f"{symbol}.csv", index=False)
    return closes


def spec(**strategy):
    """One sma_cross(3, 8) asset on 1000 of capital, paper defaults."""
    config = {"fast": 3, "slow": 8, "stop_loss": 1.0, "take_profit": 0, **strategy}
    return BacktestSpec(assets=(AssetSpec("AAA", strategy_config=config),), start=START,
                        end=END, capital=1000.0)


def test_stop_loss_is_checked_on_every_bar_and_booked_when_the_bar_ends(tmp_path, make_replay):
    closes = v_shape(tmp_path)
    result = run_backtest(spec(), load_bars(tmp_path, ["AAA"], START, END),
                          make_replay())
    assert result.bars_replayed == 32 and result.errors == ()
    (trade,) = result.trades.to_dict("records")
    assert trade["side"] == "long" and trade["exit_reason"] == "stop_loss"
    assert trade["entry_time"] == pd.Timestamp("2026-01-06T00:00Z")
    assert trade["entry_price"] == pytest.approx(104 * (1 + 2 / 10_000))  # spread/2 + slippage
    assert trade["exit_price"] == pytest.approx(104 * 0.99)  # 1 % below the close it saw
    assert trade["exit_time"] == pd.Timestamp("2026-01-06T04:00Z")  # the dipping bar
    assert trade["booked_time"] == pd.Timestamp("2026-01-06T05:00Z")  # when it ended
    # the 04:00 tick still marks the open position at bar 27's close (no peeking)
    held = result.equity.loc[pd.Timestamp("2026-01-06T04:00Z"), "portfolio"]
    assert held == pytest.approx(1000 + (closes[27] - trade["entry_price"]) * trade["quantity"]
                                 - trade["fees"])
    after = result.equity.loc[pd.Timestamp("2026-01-06T05:00Z"), "portfolio"]
    assert after == pytest.approx(1000 + trade["pnl"])
    assert result.equity["portfolio"].iloc[-1] == pytest.approx(1000 + trade["pnl"])
    assert metrics(result)["trades"] == 1 and metrics(result)["win_rate"] == 0.0


def test_without_the_dip_the_position_stays_open_and_is_marked(tmp_path, make_replay):
    closes = v_shape(tmp_path, dip_at=None)
    result = run_backtest(spec(), load_bars(tmp_path, ["AAA"], START, END),
                          make_replay())
    assert result.trades.empty
    (position,) = result.open_positions.to_dict("records")
    last = result.equity["portfolio"].iloc[-1]
    assert last == pytest.approx(1000 + (closes[-1] - position["entry_price"])
                                 * position["quantity"] - position["fees"])


def test_prepare_once_or_every_tick_gives_the_same_backtest(tmp_path, make_replay):
    v_shape(tmp_path)
    data = load_bars(tmp_path, ["AAA"], START, END)
    fast = run_backtest(spec(), data, make_replay(prepare=True))
    slow = run_backtest(spec(), data, make_replay(prepare=False))
    pd.testing.assert_frame_equal(fast.trades, slow.trades)
    pd.testing.assert_frame_equal(fast.orders, slow.orders)
    pd.testing.assert_frame_equal(fast.equity, slow.equity)


def test_capital_too_small_for_one_lot_never_trades(tmp_path, make_replay):
    v_shape(tmp_path)
    # 50 of capital cannot pay for one unit at 104 (lot step 1, leverage 1).
    limited = BacktestSpec(assets=(AssetSpec("AAA", strategy_config={
        "fast": 3, "slow": 8, "stop_loss": 1.0, "take_profit": 0},
        broker_config={"leverage": 1.0}),), start=START, end=END, capital=50.0)
    result = run_backtest(limited, load_bars(tmp_path, ["AAA"], START, END),
                          make_replay())
    assert result.trades.empty and result.open_positions.empty
    assert result.orders.empty  # sized to 0 lots: no order at all, never a partial one
    assert (result.equity["portfolio"] == 50.0).all()



def test_a_bad_strategy_config_fails_before_the_replay_naming_the_asset(tmp_path, make_replay):
    v_shape(tmp_path)
    with pytest.raises(ValidationFailed) as caught:
        run_backtest(spec(fast=9), load_bars(tmp_path, ["AAA"], START, END),
                     make_replay())
    assert "fast" in caught.value.fields["assets[AAA]"][0]


def test_equity_at_or_below_zero_halts_the_portfolio_in_a_backtest(tmp_path, make_replay):
    closes = v_shape(tmp_path, dip_at=None)
    # 20x leverage: ~192 units bought near 104 at the 00:00 tick, then a crash to 90
    # loses more than the capital; the kill switch halts, and nothing opens afterwards.
    frame = pd.read_csv(tmp_path / "AAA.csv")
    frame.loc[25:, ["open", "high", "low", "close"]] = 90.0
    frame.to_csv(tmp_path / "AAA.csv", index=False)
    leveraged = BacktestSpec(assets=(AssetSpec("AAA", strategy_config={
        "fast": 3, "slow": 8, "stop_loss": 0, "take_profit": 0, "entry": "trend"},
        broker_config={"leverage": 20.0}),), start=START, end=END, capital=1000.0)
    result = run_backtest(leveraged, load_bars(tmp_path, ["AAA"], START, END),
                          make_replay())
    assert closes[23] == 104
    assert len(result.halts) == 1 and "trigger=equity" in result.halts[0]
    halted_at = pd.Timestamp(result.halts[0].split(" ")[0])
    assert halted_at == pd.Timestamp("2026-01-06T02:00Z")  # the end of the crash bar
    assert result.equity.loc[halted_at, "portfolio"] <= 0
    opened_after = result.orders[(pd.to_datetime(result.orders["time"], utc=True) > halted_at)
                                 & (result.orders["status"] == "filled")]
    assert opened_after.empty, opened_after


def test_a_failing_plugin_fails_only_its_asset_with_direct_calls(tmp_path, make_replay):
    v_shape(tmp_path)
    v_shape(tmp_path, symbol="BBB")
    config = {"fast": 3, "slow": 8, "stop_loss": 1.0, "take_profit": 0}
    both = BacktestSpec(assets=(AssetSpec("AAA", strategy_config=config),
                                AssetSpec("BBB", strategy_config=config)),
                        start=START, end=END, capital=2000.0)
    data = load_bars(tmp_path, ["AAA", "BBB"], START, END)
    (tmp_path / "BBB.csv").unlink()  # BBB's pipeline now raises on every tick
    replay = make_replay(prepare=False)
    result = run_backtest(both, data, replay)
    assert getattr(replay, "direct_calls", True)  # EngineReplay: no worker thread
    assert len(result.errors) == 32 and all("not found" in e for e in result.errors)
    assert result.trades["symbol"].tolist() == ["AAA"]  # AAA traded as on its own
    assert result.trades["exit_reason"].tolist() == ["stop_loss"]


def test_the_drawdown_limit_halts_the_portfolio_in_a_backtest(tmp_path, make_replay):
    v_shape(tmp_path, dip_at=None)
    # Trend entry at 20x: short ~170 units from the first slow average on the way down
    # (equity peaks near 3,400 at the bottom), then the V turns: 2 points up loses more
    # than 10 % of the peak by the 22:00 tick (close 102), before equity gets near 0.
    limited = BacktestSpec(assets=(AssetSpec("AAA", strategy_config={
        "fast": 3, "slow": 8, "stop_loss": 0, "take_profit": 0, "entry": "trend"},
        broker_config={"leverage": 20.0}),), start=START, end=END, capital=1000.0,
        max_drawdown_pct=10.0)
    result = run_backtest(limited, load_bars(tmp_path, ["AAA"], START, END), make_replay())
    assert len(result.halts) == 1 and "trigger=max_drawdown_pct" in result.halts[0]
    halted_at = pd.Timestamp(result.halts[0].split(" ")[0])
    assert halted_at == pd.Timestamp("2026-01-05T22:00Z")
    curve = result.equity.loc[:halted_at, "portfolio"]
    assert curve.iloc[-1] > 0
    assert (curve.max() - curve.iloc[-1]) / curve.max() >= 0.10
    before = result.equity.loc[:halted_at - pd.Timedelta(hours=1), "portfolio"]
    assert (before.max() - before.iloc[-1]) / before.max() < 0.10  # not a tick earlier
    later = result.orders[pd.to_datetime(result.orders["time"], utc=True) > halted_at]
    assert later.empty, later  # halted: the strategy is not asked, nothing is placed
