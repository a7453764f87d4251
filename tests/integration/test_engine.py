"""The engine against a real migrated SQLite file, with deterministic fake plugins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lts.models import AssetDecision, AuditLog, Order, Position, Statistic
from lts.plugins.base import AssetOutcome, Decision
from lts.runtime_config import set_runtime_setting
from lts.trading.decisions import record_decisions
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import FAKE_ASSET, BookBroker

pytestmark = pytest.mark.usefixtures("fresh_book")


def make_portfolio(db, *, assets=("AAA",), latency=1, **fields):
    user = gen_user()
    portfolio = gen_portfolio(user, portfolio_plugin="split", portfolio_latency=latency,
                              total_capital=10_000.0, **fields)
    made = [gen_asset(portfolio, symbol, **FAKE_ASSET) for symbol in assets]
    return portfolio, made


def test_tick_opens_a_position_with_pending_then_filled_order(db, engine, walk_clock):
    portfolio, (asset,) = make_portfolio(db)
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    db.session.commit()
    report = engine.tick()
    assert report.portfolios_run == (portfolio.id,)
    assert report.errors == ()
    order = db.session.scalars(select(Order)).one()
    epoch = int(walk_clock().timestamp())
    assert order.client_order_id == f"lts-{asset.id}-{epoch}-1"
    assert order.status == "filled"
    price = order.fill_price
    assert order.quantity == (10_000 // price)
    position = db.session.scalars(select(Position)).one()
    assert (position.side, position.status, position.quantity) == ("long", "open", order.quantity)
    transitions = [a.details["to"] for a in db.session.scalars(
        select(AuditLog).where(AuditLog.action == "order.status").order_by(AuditLog.id))]
    assert transitions == ["submitted", "filled"]
    keys = set(db.session.scalars(select(Statistic.key)))
    assert {"loop.tick_seconds", f"portfolio.{portfolio.id}.equity",
            f"portfolio.{portfolio.id}.realized_pnl", f"asset.{asset.id}.unrealized_pnl"} <= keys


def test_portfolio_not_due_is_skipped_until_its_latency_passes(db, engine, walk_clock):
    portfolio, _ = make_portfolio(db, latency=5)
    assert engine.tick().portfolios_run == (portfolio.id,)
    walk_clock.advance(minutes=4)
    assert engine.tick().portfolios_run == ()
    walk_clock.advance(minutes=1)
    assert engine.tick().portfolios_run == (portfolio.id,)


def test_inactive_user_is_not_run_but_a_halted_portfolio_is_marked_only(db, engine):
    halted, (asset,) = make_portfolio(db, risk_state="halted")
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    idle, _ = make_portfolio(db)
    from lts.models import User

    db.session.get(User, idle.user_id).is_active = False
    db.session.commit()
    report = engine.tick()
    assert report.portfolios_run == (halted.id,)
    (outcome,) = report.outcomes
    assert outcome.decision.action == "hold" and "halted" in outcome.decision.reason
    assert db.session.scalar(select(Order.id)) is None  # the strategy was not asked
    assert db.session.scalar(select(Statistic.value).where(
        Statistic.key == f"portfolio.{halted.id}.equity")) == 10_000.0


def test_raising_plugin_fails_only_its_asset(db, engine):
    _portfolio, (good, bad) = make_portfolio(db, assets=("AAA", "BBB"))
    bad.strategy_plugin = "raising"
    db.session.commit()
    report = engine.tick()
    by_asset = {o.asset_id: o for o in report.outcomes}
    assert by_asset[good.id].ok and not by_asset[bad.id].ok
    assert "strategy exploded" in by_asset[bad.id].error
    failure = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.asset_failed")).one()
    assert failure.resource == f"asset:{bad.id}" and failure.outcome == "error"
    assert "RuntimeError: strategy exploded" in failure.details["error"]
    assert "decide" in failure.details["error"]


def test_hanging_plugin_times_out_and_the_tick_goes_on(db, app, engine):
    set_runtime_setting("plugin_timeout_seconds", 0.2)
    _portfolio, (hung, good) = make_portfolio(db, assets=("AAA", "BBB"))
    hung.strategy_plugin = "hanging"
    db.session.commit()
    report = engine.tick()
    by_asset = {o.asset_id: o for o in report.outcomes}
    assert not by_asset[hung.id].ok and "timed out" in by_asset[hung.id].error
    assert by_asset[good.id].ok
    failure = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.asset_failed")).one()
    assert failure.details["timed_out"] is True


def test_broker_exception_after_sending_leaves_order_unknown_then_lookup_resolves(db, engine,
                                                                                   walk_clock):
    _portfolio, (asset,) = make_portfolio(db)
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "sell"}
    db.session.commit()
    BookBroker.fail_submit = ConnectionError("HTTP 503")
    report = engine.tick()
    assert report.errors == ()
    order = db.session.scalars(select(Order)).one()
    assert order.status == "unknown"
    assert "HTTP 503" in order.broker_response["message"]
    BookBroker.fail_submit = None
    changes = engine.reconcile(walk_clock())
    assert [(c.before, c.after) for c in changes] == [("unknown", "filled")]
    db.session.refresh(order)
    assert order.status == "filled"
    assert BookBroker.submits == [order.client_order_id]  # sent once
    position = db.session.scalars(select(Position)).one()
    assert position.side == "short"


def test_replayed_tick_maps_to_the_same_client_order_id_and_sends_nothing_twice(
        db, engine, walk_clock):
    portfolio, (asset,) = make_portfolio(db)
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    db.session.commit()
    engine.tick()
    portfolio.last_execution = None  # replay the same tick time
    db.session.commit()
    for position in db.session.scalars(select(Position)):
        position.status = "closed"  # let the strategy want the same order again
    db.session.commit()
    report = engine.tick()
    assert report.errors == ()
    assert db.session.scalar(select(Order.id).where(Order.id > 1)) is None
    assert len(BookBroker.submits) == 1


def test_unexpected_error_in_one_portfolio_does_not_stop_the_others(db, engine, monkeypatch):
    first, _ = make_portfolio(db)
    second, _ = make_portfolio(db)
    original = Engine._finish_portfolio

    def broken(self, context, portfolio_id, units, snapshots, **kwargs):
        if portfolio_id == first.id:
            raise RuntimeError("disk full")
        return original(self, context, portfolio_id, units, snapshots, **kwargs)

    monkeypatch.setattr(Engine, "_finish_portfolio", broken)
    report = engine.tick()
    assert report.portfolios_run == (first.id, second.id)
    failure = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.portfolio_failed")).one()
    assert failure.resource == f"portfolio:{first.id}" and "disk full" in \
        failure.details["error"]
    assert db.session.scalar(select(Statistic.id).where(
        Statistic.key == f"portfolio.{second.id}.equity")) is not None


def test_each_assets_latest_decision_is_kept_holds_included(db, engine, walk_clock):
    _portfolio, (held, traded, broken) = make_portfolio(db, assets=("AAA", "BBB", "CCC"))
    held.strategy_plugin, traded.strategy_plugin = "fixed", "fixed"
    held.strategy_config = {"action": "hold", "reason": "prediction 0.1% < threshold 0.5%"}
    traded.strategy_config = {"action": "open", "side": "buy", "reason": "breakout"}
    broken.strategy_plugin = "raising"
    db.session.commit()
    engine.tick()
    rows = {d.asset_id: d for d in db.session.scalars(select(AssetDecision))}
    assert set(rows) == {held.id, traded.id}  # a failed step decided nothing
    assert (rows[held.id].action, rows[held.id].side, rows[held.id].orders_placed,
            rows[held.id].reason) == ("hold", None, 0, "prediction 0.1% < threshold 0.5%")
    assert (rows[traded.id].action, rows[traded.id].side,
            rows[traded.id].orders_placed) == ("open", "buy", 1)
    walk_clock.advance(minutes=1)
    engine.tick()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AssetDecision)) == 2
    assert db.session.get(AssetDecision, held.id).decided_at == walk_clock()
    held_id = held.id
    db.session.delete(held)  # an asset without orders may go: its decision goes with it
    db.session.commit()
    assert db.session.get(AssetDecision, held_id) is None


def test_decisions_are_written_in_slices_updated_and_inserted_alike(db, walk_clock, monkeypatch):
    import lts.trading.decisions as decisions

    monkeypatch.setattr(decisions, "SLICE", 2)  # 5 assets: slices of 2, 2 and 1
    _portfolio, assets = make_portfolio(db, assets=("A", "B", "C", "D", "E"))
    first = [AssetOutcome(asset_id=a.id, ok=True, decision=Decision.hold("one"))
             for a in assets[::2]]  # A, C, E get a row now; B, D on the next write
    assert record_decisions(db.session, first, walk_clock()) == 3
    later = walk_clock() + timedelta(minutes=1)
    every = [AssetOutcome(asset_id=a.id, ok=True, decision=Decision.hold("two"))
             for a in assets]
    assert record_decisions(db.session, every, later) == 5
    db.session.commit()
    rows = {r.asset_id: (r.reason, r.decided_at) for r in db.session.scalars(
        select(AssetDecision))}
    assert rows == {a.id: ("two", later) for a in assets}


def test_a_decision_for_an_asset_deleted_during_the_tick_is_dropped(db, walk_clock):
    _portfolio, (asset,) = make_portfolio(db)
    outcomes = [AssetOutcome(asset_id=asset.id, ok=True, decision=Decision.hold("x" * 900)),
                AssetOutcome(asset_id=asset.id + 1000, ok=True, decision=Decision.hold("gone"))]
    assert record_decisions(db.session, outcomes, walk_clock()) == 1
    db.session.commit()
    assert len(db.session.get(AssetDecision, asset.id).reason) == 500
