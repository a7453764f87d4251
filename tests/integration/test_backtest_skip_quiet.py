"""Skipping quiet bars changes nothing: the same books as replaying every bar in full.

:class:`MemoryReplay` skips the ticks where every asset's strategy surely holds and no
fill or kill switch can happen (``lts.backtest.memory._Skipper``). Each case runs twice
on the same bars, ``skip_quiet=False`` (every tick in full) and the default, over
several seeds, and asserts identical orders, fills, trades, equity curve, report, halts
and errors, and identical books down to every order, position and audit row and the
paper broker's book. Each case also asserts that ticks were really skipped (else it
would prove nothing).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from lts.backtest.data import load_bars
from lts.backtest.memory import MemoryReplay
from lts.backtest.report import build_report
from lts.backtest.runner import AssetSpec, BacktestSpec, run_backtest
from lts.plugins.base import Decision
from lts.plugins.strategy.sma_cross import SmaCross
from lts.trading.plugin_source import RegistryPluginSource
from tests.backtest_bars import write_walk_csv

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 16
END = START + pd.Timedelta(days=DAYS).to_pytimedelta()
SEEDS = (3, 17, 29)
COSTS = {"spread_bps": 2.0, "slippage_bps": 1.0, "commission_pct": 0.01}


def write_walk(folder, symbol, seed, volatility=0.004, drift=0.0):
    """A seeded hourly random walk with a week of warm-up before START."""
    write_walk_csv(folder, symbol, seed, start=START, days=DAYS, volatility=volatility,
                   drift=drift)


class LimitCross(SmaCross):
    """sma_cross entering with a resting limit order 0.2 % better than the close."""

    name = "limit_cross"

    def decide(self, snapshot, position, allocation):  # type: ignore[no-untyped-def]
        decision = super().decide(snapshot, position, allocation)
        if decision.action != "open":
            return decision
        step = 0.998 if decision.side == "buy" else 1.002
        return Decision(action="open", side=decision.side, order_type="limit",
                        price=snapshot.last_price * step, quantity=5.0,
                        stop_loss=decision.stop_loss, take_profit=decision.take_profit,
                        reason=decision.reason)


class Source:
    """The app's plugins, plus ``limit_cross`` (a test strategy, not registered)."""

    def __init__(self, app):
        self.registry = RegistryPluginSource(app)

    def get(self, kind: str, name: str, config: Any) -> Any:
        if (kind, name) == ("strategy", "limit_cross"):
            return LimitCross(dict(SmaCross.config_schema().load(dict(config))))
        return self.registry.get(kind, name, config)


def run_both(app, tmp_path, spec, settings=None):
    """The spec replayed bar by bar and skipping; both results and replays."""
    data = load_bars(tmp_path / "data", [a.symbol for a in spec.assets], START, END)
    full = MemoryReplay(Source(app), settings=settings, skip_quiet=False)
    skipping = MemoryReplay(Source(app), settings=settings)
    return (run_backtest(spec, data, full), full), (run_backtest(spec, data, skipping),
                                                    skipping)


def rows(records):
    """Every attribute of every record, in creation order."""
    return [dict(vars(record)) for record in records]


def assert_identical(full, skipping):
    """Results, report and books identical; some ticks really skipped."""
    (result, replay), (result2, replay2) = full, skipping
    for name in ("orders", "fills", "trades", "open_positions", "equity"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(result2, name),
                                      check_exact=True, obj=name)
    assert result.halts == result2.halts
    assert result.errors == result2.errors
    assert json.dumps(build_report(result, 2), default=str, sort_keys=True) == \
        json.dumps(build_report(result2, 2), default=str, sort_keys=True)
    books, books2 = replay.books, replay2.books
    assert rows(books.orders.values()) == rows(books2.orders.values())
    assert rows(books.positions.values()) == rows(books2.positions.values())
    assert books.audit == books2.audit
    assert books.assets == books2.assets
    assert books.portfolios == books2.portfolios
    assert replay.peak == replay2.peak
    for unit, unit2 in zip(replay.units, replay2.units, strict=True):
        assert unit.broker.book == unit2.broker.book
        assert unit.broker._checked == unit2.broker._checked
    assert replay.ticks_replayed == len(result.equity)
    assert replay2.ticks_replayed < replay.ticks_replayed, "nothing was skipped"
    return replay2.ticks_replayed / replay.ticks_replayed


def sma(**extra):
    return {"fast": 4, "slow": 12, "entry": "cross", "allow_short": True, **extra}


@pytest.mark.parametrize("seed", SEEDS)
def test_sma_cross_reversing_without_exits_three_assets(app, db, tmp_path, seed):
    # Always in the market after the first cross, shorts included, three assets sharing
    # the equity with leverage: nearly every tick is skipped.
    for n, symbol in enumerate(("AAA", "BBB", "CCC")):
        write_walk(tmp_path / "data", symbol, seed + n)
    config = sma(stop_loss=0, take_profit=0)
    costs = {**COSTS, "leverage": 3.0}
    spec = BacktestSpec(assets=tuple(AssetSpec(s, "sma_cross", config, costs, lookback=40)
                                     for s in ("AAA", "BBB", "CCC")),
                        start=START, end=END, capital=5000.0)
    full, skipping = run_both(app, tmp_path, spec)
    assert len(full[0].trades) >= 20
    assert set(full[0].trades["side"]) == {"long", "short"}
    assert assert_identical(full, skipping) < 0.8


@pytest.mark.parametrize("seed", SEEDS)
def test_sma_cross_with_stops_targets_and_no_reverse(app, db, tmp_path, seed):
    for n, symbol in enumerate(("AAA", "BBB")):
        write_walk(tmp_path / "data", symbol, seed + n)
    config = sma(stop_loss=0.8, take_profit=1.5, reverse=False, cross_bars=2)
    spec = BacktestSpec(assets=tuple(AssetSpec(s, "sma_cross", config, COSTS, lookback=40)
                                     for s in ("AAA", "BBB")),
                        start=START, end=END, capital=5000.0,
                        portfolio_plugin="inverse_volatility")
    full, skipping = run_both(app, tmp_path, spec)
    exits = set(full[0].trades["exit_reason"])
    assert exits & {"stop_loss", "take_profit"}, exits
    assert assert_identical(full, skipping) < 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_prediction_threshold_with_and_without_exits(app, db, tmp_path, seed):
    write_walk(tmp_path / "data", "AAA", seed)
    write_walk(tmp_path / "data", "BBB", seed + 1)
    plain = {"threshold": 0.004, "forecast_window": 12, "horizon": 3, "stop_loss": 0,
             "take_profit": 0, "allow_short": True}
    exits = {**plain, "stop_loss": 0.7, "take_profit": 1.0}
    spec = BacktestSpec(assets=(AssetSpec("AAA", "prediction_threshold", plain, COSTS,
                                          lookback=40),
                                AssetSpec("BBB", "prediction_threshold", exits, COSTS,
                                          lookback=40)),
                        start=START, end=END, capital=5000.0)
    full, skipping = run_both(app, tmp_path, spec)
    assert set(full[0].trades["symbol"]) == {"AAA", "BBB"}
    assert assert_identical(full, skipping) < 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_resting_limit_orders(app, db, tmp_path, seed):
    write_walk(tmp_path / "data", "AAA", seed)
    write_walk(tmp_path / "data", "BBB", seed + 1)
    spec = BacktestSpec(assets=(AssetSpec("AAA", "limit_cross", sma(stop_loss=1.0,
                                                                    take_profit=0),
                                          COSTS, lookback=40),
                                AssetSpec("BBB", "sma_cross", sma(stop_loss=0,
                                                                  take_profit=0),
                                          COSTS, lookback=40)),
                        start=START, end=END, capital=5000.0)
    full, skipping = run_both(app, tmp_path, spec)
    orders = full[0].orders
    assert ((orders["order_type"] == "limit") & (orders["status"] == "filled")).any()
    assert assert_identical(full, skipping) < 1.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("flatten", [False, True])
def test_drawdown_kill_switch(app, db, tmp_path, seed, flatten):
    # Positions without exits on a volatile walk and a tight drawdown limit: the switch
    # trips on a tick that would have been skipped, so the skipper must find it.
    write_walk(tmp_path / "data", "AAA", seed, volatility=0.01)
    write_walk(tmp_path / "data", "BBB", seed + 1, volatility=0.01)
    spec = BacktestSpec(assets=tuple(AssetSpec(s, "sma_cross", sma(stop_loss=0,
                                                                   take_profit=0),
                                               {**COSTS, "leverage": 4.0}, lookback=40)
                                     for s in ("AAA", "BBB")),
                        start=START, end=END, capital=5000.0, max_drawdown_pct=6.0)
    full, skipping = run_both(app, tmp_path, spec, settings={"flatten_on_kill": flatten})
    assert full[0].halts, "the case must trip the kill switch"
    assert assert_identical(full, skipping) < 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_equity_at_zero_halts_on_the_same_tick(app, db, tmp_path, seed):
    # 20x leverage on a falling, volatile walk: equity goes to zero between crosses.
    write_walk(tmp_path / "data", "AAA", seed, volatility=0.02, drift=-0.004)
    spec = BacktestSpec(assets=(AssetSpec("AAA", "sma_cross",
                                          sma(stop_loss=0, take_profit=0, allow_short=False),
                                          {**COSTS, "leverage": 20.0}, lookback=40),),
                        start=START, end=END, capital=1000.0)
    full, skipping = run_both(app, tmp_path, spec)
    assert any("trigger=equity" in line for line in full[0].halts), full[0].halts
    assert assert_identical(full, skipping) < 1.0
