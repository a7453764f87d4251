"""Sizing on equity, free margin, the equity halt and protection that never lapses (SPEC 2a).

Real engine, real migrated database, the real paper broker where fills matter; prices
come from a scripted one-minute pipeline so every expected figure can be computed by
hand.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from lts.extensions import db as database
from lts.models import Asset, AssetDecision, AuditLog, Order, Portfolio, Position, Statistic
from lts.trading import statistics
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.manual import close_position, submit_manual_order
from tests.conftest import BACKENDS
from tests.equity_fakes import at, equity_source, script
from tests.factories import gen_asset, gen_portfolio, gen_user

pytestmark = pytest.mark.usefixtures("fresh_book")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(10))


@pytest.fixture
def engine(app, db, clock) -> Iterator[Engine]:
    engine = Engine(app, plugins=equity_source(app), clock=clock)
    yield engine
    engine.close()


def make(total_capital: float = 10_000.0, **fields):
    user = gen_user()
    return gen_portfolio(user, portfolio_plugin=fields.pop("portfolio_plugin", "split"),
                         portfolio_latency=1, total_capital=total_capital, **fields)


def asset(portfolio, symbol: str, bars, *, strategy="fixed", strategy_config=None,
          broker="book", broker_config=None, **fields):
    return gen_asset(portfolio, symbol, pipeline_plugin="script", pipeline_config=script(bars),
                     strategy_plugin=strategy, strategy_config=strategy_config or {},
                     broker_plugin=broker, broker_config=broker_config or {}, **fields)


BUY = {"action": "open", "side": "buy", "reason": "always long"}


def equity_now(portfolio_id: int) -> float:
    """total_capital + realized + unrealized, as the engine computes it."""
    database.session.expire_all()
    capital = database.session.get(Portfolio, portfolio_id).total_capital
    realized, unrealized, _ = statistics.portfolio_pnl(database.session, portfolio_id)
    database.session.commit()
    return capital + realized + unrealized


def allocations(portfolio_id: int) -> dict[int, float]:
    database.session.expire_all()
    rows = database.session.execute(select(Asset.id, Asset.allocated_capital).where(
        Asset.portfolio_id == portfolio_id)).all()
    database.session.commit()
    return dict(rows)


def tick_checked(engine: Engine, clock: ManualClock, portfolio_id: int):
    """Tick once; fail if the allocations written exceed the equity they were split from."""
    before = equity_now(portfolio_id)
    report = engine.tick()
    assert sum(allocations(portfolio_id).values()) <= max(before, 0.0) + 1e-6
    clock.advance(minutes=1)
    return report


# ------------------------------------------------------------------ allocation


def test_allocation_splits_equity_less_the_margin_of_assets_whose_plugins_fail(db, engine,
                                                                              clock):
    """10,000 capital; C holds 30 x 100 but its strategy cannot load: A and B share 7,000.

    ``split`` divides total_capital (a plugin written before equity existed): the engine
    scales its 5,000 + 5,000 down to what may be allocated.
    """
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0})
    b = asset(portfolio, "BBB", {0: 100.0})
    c = asset(portfolio, "CCC", {0: 100.0}, allocated_capital=3_000.0)
    placed = submit_manual_order(c.id, "buy", 30.0, now=at(9), plugins=engine.plugins)
    assert placed.status == "filled"
    c.strategy_plugin = "no_such_strategy"
    db.session.commit()
    equity = equity_now(portfolio.id)  # 10,000 - 1 commission
    report = engine.tick()
    assert {o.asset_id: o.ok for o in report.outcomes} == {a.id: True, b.id: True, c.id: False}
    shares = allocations(portfolio.id)
    assert shares[c.id] == 0.0
    assert shares[a.id] == pytest.approx((equity - 3_000.0) / 2)
    assert shares[b.id] == pytest.approx((equity - 3_000.0) / 2)
    assert sum(shares.values()) <= equity - 3_000.0


def test_a_failing_allocator_leaves_no_stale_allocation_above_equity(db, engine):
    """Stored 6,000 + 6,000 on 10,000 and the allocator cannot load: scaled to the equity."""
    portfolio = make(portfolio_plugin="no_such_allocator")
    a = asset(portfolio, "AAA", {0: 100.0}, strategy_config={"action": "hold"},
              allocated_capital=6_000.0)
    b = asset(portfolio, "BBB", {0: 100.0}, strategy_config={"action": "hold"},
              allocated_capital=6_000.0)
    engine.tick()
    shares = allocations(portfolio.id)
    assert shares[a.id] == pytest.approx(5_000.0) and shares[b.id] == pytest.approx(5_000.0)
    assert sum(shares.values()) <= 10_000.0
    failure = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.portfolio_failed")).one()
    assert failure.details["plugin"] == "no_such_allocator"


def test_eurusd_like_losses_never_size_an_entry_on_the_original_capital(db, engine, clock):
    """1 % commission per fill, a round trip every two ticks: each entry fits the equity.

    The issue's run placed 85 entries of about 9,999 while equity went negative; here
    every entry's notional is at most the equity it was sized from, and they shrink.
    """
    portfolio = make()
    eurusd = asset(portfolio, "EUR_USD", {0: 1.1}, strategy="toggle", broker="paper",
                   broker_config={"commission_pct": 1.0, "spread_bps": 0.0,
                                  "slippage_bps": 0.0})
    entries = []
    for _ in range(20):
        equity = equity_now(portfolio.id)
        tick_checked(engine, clock, portfolio.id)
        opened = db.session.scalars(select(Order).where(
            Order.asset_id == eurusd.id, Order.side == "buy").order_by(Order.id)).all()
        if len(opened) > len(entries):
            entries.append((opened[-1].quantity * opened[-1].fill_price, equity))
    assert len(entries) == 10
    for notional, equity in entries:
        assert notional <= equity
    notionals = [n for n, _ in entries]
    assert notionals == sorted(notionals, reverse=True) and notionals[-1] < 8_500
    assert equity_now(portfolio.id) == pytest.approx(10_000 * 0.98 ** 10, rel=2e-3)


# ---------------------------------------------------------------- equity halt


def test_equity_crossing_zero_halts_at_once_and_nothing_opens_after(db, engine, clock):
    """1,000 at leverage 10, toggling: long 100 @ 100, out at 95, long 52 @ 95, 80: halt.

    - minute 10: buy floor(1,000 x 10 / 100) = 100 (commission 1): margin 1,000 fits;
    - minute 11: sell at 95: realized -500 - 2 = -502, equity 498;
    - minute 12: buy floor(498 x 10 / 95) = 52 (sized on the equity, not on 1,000);
    - minute 13: 80: the mark (-15 x 52 - 1 = -781) takes equity to -283: the portfolio
      is halted before the strategy is asked (max_drawdown_pct is unset), so its sell
      is never placed;
    - minutes 14-15: halted: marked (78), statistics written, the strategy never asked.
    """
    portfolio = make(1_000.0)
    traded = asset(portfolio, "LEV", {0: 100.0, 11: 95.0, 13: 80.0, 14: 78.0},
                   strategy="toggle", broker_config={"leverage": 10, "commission": 1.0})
    for _ in range(6):
        tick_checked(engine, clock, portfolio.id)
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [(o.side, o.quantity, o.fill_price) for o in orders] == [
        ("buy", 100.0, 100.0), ("sell", 100.0, 95.0), ("buy", 52.0, 95.0)]
    db.session.refresh(portfolio)
    assert portfolio.risk_state == "halted"
    halt = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "portfolio.kill_switch")).one()
    assert halt.details["trigger"] == "equity"
    assert halt.details["equity"] == pytest.approx(-283.0)
    assert halt.timestamp == at(13)
    position = db.session.scalars(select(Position).where(Position.status == "open")).one()
    assert (position.current_price, position.updated_at) == (78.0, at(15))
    decision = db.session.scalars(select(AssetDecision).where(
        AssetDecision.asset_id == traded.id)).one()
    assert decision.action == "hold" and "halted" in decision.reason
    samples = db.session.scalars(select(Statistic.timestamp).where(
        Statistic.key == f"portfolio.{portfolio.id}.equity").order_by(Statistic.timestamp)
    ).all()
    assert samples[-1] == at(15)  # still recorded while halted
    refused = submit_manual_order(traded.id, "buy", 1.0, now=at(16), plugins=engine.plugins)
    assert (refused.status, refused.rejected_by) == ("rejected", "risk_state")


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_free_margin_covers_the_whole_portfolio(app, db, database_url, engine):
    """B holds 80 x 100 = 8,000: an order of A needing 3,000 is refused, 2,000 passes.

    A's stored allocation (5,000) would let it through: only the portfolio-wide check
    against the equity (10,000 - 2 commissions) stops it, before anything reaches the broker.
    """
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0}, allocated_capital=5_000.0)
    b = asset(portfolio, "BBB", {0: 100.0}, allocated_capital=8_000.0)
    assert submit_manual_order(b.id, "buy", 80.0, now=at(9),
                               plugins=engine.plugins).status == "filled"
    refused = submit_manual_order(a.id, "buy", 30.0, now=at(9), plugins=engine.plugins)
    assert refused.rejected_by == "margin"
    assert refused.message.startswith("insufficient margin")
    # The refusal is stored as a rejected row; nothing else was written or sent.
    assert db.session.scalar(select(func.count(Order.id)).where(
        Order.status != "rejected")) == 1
    assert db.session.get(Order, refused.order_id).status == "rejected"
    rejected = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.risk_rejected")).one()
    assert rejected.details["check"] == "margin"
    assert submit_manual_order(a.id, "buy", 19.0, now=at(9),
                               plugins=engine.plugins).status == "filled"


def test_margin_counts_other_assets_at_their_own_leverage(db, engine):
    """B at leverage 10 holds 500 x 100 (margin 5,000): A (leverage 1) has 5,000 - 1 left."""
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0}, allocated_capital=10_000.0)
    b = asset(portfolio, "BBB", {0: 100.0}, allocated_capital=5_000.0,
              broker_config={"leverage": 10})
    assert submit_manual_order(b.id, "buy", 500.0, now=at(9),
                               plugins=engine.plugins).status == "filled"
    assert submit_manual_order(a.id, "buy", 50.0, now=at(9),
                               plugins=engine.plugins).rejected_by == "margin"
    assert submit_manual_order(a.id, "buy", 49.0, now=at(9),
                               plugins=engine.plugins).status == "filled"


# ---------------------------------------------------------- protection never lapses


def test_deactivated_asset_is_reduce_only_marked_and_its_stop_fires_on_the_right_bar(
        db, engine, clock):
    """A buys with a stop at 95 and is deactivated; B is then allocated what is left.

    At minute 11 A is marked at 99 first (equity 9,950), so B gets 9,950 - 5,000 (A's
    margin) = 4,950 and buys 99 at 50: 14,950 of positions can never stand on 10,000.

    Bars of A: 100 up to minute 10, 99 at minute 11, then minute 12 opens at 97 and trades
    down to 94: the paper stop fills at 95 on bar 12 (not at the open, not at a later
    close), while A's strategy keeps asking to buy and is held to reduce-only.
    """
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0, 11: 99.0, 12: [97.0, 97.0, 94.0, 96.0], 13: 96.0},
              strategy="entry", strategy_config={"stop_loss": 95.0}, broker="paper",
              broker_config={"spread_bps": 0.0, "slippage_bps": 0.0,
                             "commission_pct": 0.0})
    b = asset(portfolio, "BBB", {0: 50.0}, strategy_config={"action": "hold"},
              broker="paper", broker_config={"spread_bps": 0.0, "slippage_bps": 0.0,
                                             "commission_pct": 0.0})
    tick_checked(engine, clock, portfolio.id)  # minute 10: A buys 50 at 100
    position = db.session.scalars(select(Position)).one()
    assert (position.quantity, position.entry_price, position.stop_loss) == (50.0, 100.0, 95.0)
    a.is_active = False
    a.strategy_plugin = "fixed"
    a.strategy_config = BUY
    b.strategy_config = BUY
    db.session.commit()

    report = tick_checked(engine, clock, portfolio.id)  # minute 11
    by_asset = {o.asset_id: o for o in report.outcomes}
    assert by_asset[a.id].decision.action == "hold"
    assert "reduce-only" in by_asset[a.id].decision.reason
    shares = allocations(portfolio.id)
    assert shares[a.id] == 0.0
    assert shares[b.id] == pytest.approx(9_950.0 - 50 * 100.0)  # equity less A's margin
    db.session.refresh(position)
    assert position.current_price == 99.0 and position.unrealized_pnl == pytest.approx(-50.0)
    bought = db.session.scalars(select(Order).where(Order.asset_id == b.id)).one()
    assert bought.quantity == 99.0  # 4,950 / 50, not 10,000 / 50

    tick_checked(engine, clock, portfolio.id)  # minute 12: the stop
    db.session.refresh(position)
    assert (position.status, position.exit_price, position.closed_at) == ("closed", 95.0,
                                                                          at(12))
    exit_order = db.session.get(Order, position.close_order_id)
    assert (exit_order.reason, exit_order.source, exit_order.status) == ("stop_loss", "risk",
                                                                          "filled")
    orders_before = db.session.scalar(select(func.count(Order.id)))
    report = tick_checked(engine, clock, portfolio.id)  # minute 13: A is flat, out of the tick
    assert a.id not in {o.asset_id for o in report.outcomes}
    assert db.session.scalar(select(func.count(Order.id))) == orders_before


def test_halted_portfolio_whose_stop_is_crossed_gets_filled(db, engine, clock):
    """Halted with a long at 100 stopped at 95: bar 11 trades at 93, the stop fills at 95."""
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0, 11: [96.0, 96.0, 93.0, 94.0]},
              strategy="entry", strategy_config={"stop_loss": 95.0}, broker="paper",
              broker_config={"spread_bps": 0.0, "slippage_bps": 0.0,
                             "commission_pct": 0.0})
    engine.tick()
    clock.advance(minutes=1)
    portfolio.risk_state = "halted"
    db.session.commit()
    report = engine.tick()
    assert report.portfolios_run == (portfolio.id,)
    position = db.session.scalars(select(Position).where(Position.asset_id == a.id)).one()
    assert (position.status, position.exit_price) == ("closed", 95.0)
    assert db.session.scalar(select(Statistic.value).where(
        Statistic.key == f"portfolio.{portfolio.id}.equity",
        Statistic.timestamp == at(11))) == pytest.approx(10_000.0 - 5 * 100)


def test_reducing_portfolio_closes_but_does_not_open(db, engine, clock):
    portfolio = make(risk_state="reducing")
    a = asset(portfolio, "AAA", {0: 100.0}, strategy="toggle")
    report = engine.tick()
    (outcome,) = report.outcomes
    assert outcome.decision.action == "hold"
    assert outcome.decision.reason == ("portfolio reducing: only closing orders: not opening "
                                       "long (flat: buy)")
    assert db.session.scalar(select(Order.id)) is None
    portfolio.risk_state = "active"
    db.session.commit()
    clock.advance(minutes=1)
    engine.tick()
    portfolio.risk_state = "reducing"
    db.session.commit()
    clock.advance(minutes=1)
    engine.tick()  # the toggle closes: allowed
    assert [o.side for o in db.session.scalars(select(Order).where(
        Order.asset_id == a.id).order_by(Order.id))] == ["buy", "sell"]


# ----------------------------------------------------------- smaller engine points


def test_zero_quantity_entry_is_a_hold_that_says_capital_is_too_small(db, engine):
    portfolio = make(3.2)
    a = asset(portfolio, "AAA", {0: 101.5}, strategy_config=BUY)
    (outcome,) = engine.tick().outcomes
    assert outcome.decision.action == "hold" and outcome.order_ids == ()
    row = db.session.scalars(select(AssetDecision).where(AssetDecision.asset_id == a.id)).one()
    assert row.action == "hold"
    assert row.reason == ("capital too small for one lot: allocation 3.20 < price 101.5 "
                          "(always long)")


def test_new_position_is_marked_at_the_last_close_and_pct_exits_measured_from_the_fill(
        db, engine):
    """Paper fill 100 x (1 + 2 bp) = 100.02; a 1 % stop asked at 99 becomes 99.0198.

    The position is marked at the last close (100), so its unrealized P&L shows the
    spread paid at once; the order keeps the levels the strategy asked for.
    """
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0}, strategy="entry",
              strategy_config={"stop_loss": 99.0, "take_profit": 102.0, "exit_anchor": "pct"},
              broker="paper", broker_config={"commission_pct": 0.0})
    engine.tick()
    position = db.session.scalars(select(Position).where(Position.asset_id == a.id)).one()
    fill = 100.0 * (1 + 2 / 10_000)  # half the 2 bp spread + 1 bp slippage
    assert position.entry_price == pytest.approx(fill)
    assert position.stop_loss == pytest.approx(fill * 0.99)
    assert position.take_profit == pytest.approx(fill * 1.02)
    assert position.current_price == 100.0
    assert position.unrealized_pnl == pytest.approx((100.0 - fill) * position.quantity)
    order = db.session.get(Order, position.order_id)
    assert (order.stop_loss, order.take_profit) == (99.0, 102.0)


def test_equity_halt_flattens_when_flatten_on_kill(db, engine, clock):
    """Long 100 at leverage 10 from 100; the price falls to 85: equity -501, halted, closed."""
    from lts.runtime_config import set_runtime_setting

    set_runtime_setting("flatten_on_kill", True)
    portfolio = make(1_000.0)
    asset(portfolio, "LEV", {0: 100.0, 11: 85.0}, strategy_config=BUY,
          broker_config={"leverage": 10, "commission": 1.0})
    engine.tick()
    clock.advance(minutes=1)
    engine.tick()
    db.session.refresh(portfolio)
    assert portfolio.risk_state == "halted"
    position = db.session.scalars(select(Position)).one()
    assert (position.status, position.exit_price) == ("closed", 85.0)
    close = db.session.get(Order, position.close_order_id)
    assert (close.source, close.reason) == ("risk", "kill switch: flatten")


def test_a_manual_order_on_a_deactivated_asset_may_only_close(db, engine):
    portfolio = make()
    a = asset(portfolio, "AAA", {0: 100.0}, allocated_capital=5_000.0)
    assert submit_manual_order(a.id, "buy", 10.0, now=at(9),
                               plugins=engine.plugins).status == "filled"
    a.is_active = False
    db.session.commit()
    refused = submit_manual_order(a.id, "buy", 10.0, now=at(9), plugins=engine.plugins)
    assert (refused.status, refused.rejected_by) == ("rejected", "reduce_only")
    position = db.session.scalars(select(Position)).one()
    closed = close_position(position.id, now=at(9), plugins=engine.plugins)
    assert closed.status == "filled"
