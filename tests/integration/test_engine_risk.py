"""Pre-trade risk checks, kill switches and the drawdown trip, through the real paths."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lts.extensions import db as database
from lts.models import AuditLog, Order, Position
from lts.runtime_config import set_runtime_setting
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.manual import close_position, submit_manual_order
from tests.conftest import BACKENDS, make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import tick_once
from tests.trading_fakes import EPOCH, FAKE_ASSET, fake_source

NOW = EPOCH + timedelta(minutes=10)


pytestmark = pytest.mark.usefixtures("fresh_book")


def setup_asset(allocated: float = 5_000.0, **portfolio_fields):
    user = gen_user()
    portfolio = gen_portfolio(user, portfolio_plugin="split", portfolio_latency=1,
                              **portfolio_fields)
    asset = gen_asset(portfolio, "AAA", allocated_capital=allocated, **FAKE_ASSET)
    return portfolio, asset


def manual(asset, side="buy", quantity=10.0, **kwargs):
    return submit_manual_order(asset.id, side, quantity, now=kwargs.pop("now", NOW),
                               plugins=fake_source(), **kwargs)


def test_manual_order_fills_through_the_same_path(db):
    _, asset = setup_asset()
    placed = manual(asset)
    assert placed.status == "filled" and placed.rejected_by is None
    assert placed.client_order_id == f"lts-{asset.id}-{int(NOW.timestamp())}-m1"
    order = db.session.get(Order, placed.order_id)
    assert order.source == "manual" and order.quantity == 10.0
    assert manual(asset, now=NOW).client_order_id.endswith("-m2")


def test_global_kill_switch_rejects_stores_the_refused_manual_order_and_audits(db):
    _, asset = setup_asset()
    set_runtime_setting("kill_switch", True)
    placed = manual(asset)
    assert (placed.status, placed.rejected_by) == ("rejected", "kill_switch")
    # A user's refused order is a record: a ``rejected`` row with why, and its audit row.
    order = db.session.get(Order, placed.order_id)
    assert (order.status, order.source, order.client_order_id) == \
        ("rejected", "manual", placed.client_order_id)
    assert order.reason == "refused by the kill_switch check: the global kill switch is on"
    denied = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.risk_rejected")).one()
    assert denied.outcome == "denied" and denied.details["check"] == "kill_switch"
    assert denied.resource == f"order:{order.id}"


def test_a_refused_strategy_order_is_audited_but_stores_no_row(app, db):
    _, asset = setup_asset()
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    database.session.commit()
    set_runtime_setting("kill_switch", True)
    tick_once(app, NOW, plugins=fake_source())
    denied = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.risk_rejected")).one()
    assert denied.details["source"] == "strategy" and denied.resource == f"asset:{asset.id}"
    assert db.session.scalar(select(Order.id)) is None


def test_refused_manual_orders_never_reuse_a_client_id(db):
    _, asset = setup_asset()
    set_runtime_setting("kill_switch", True)
    refused = manual(asset)
    set_runtime_setting("kill_switch", False)
    placed = manual(asset)  # same second: before, the refused "-m1" was handed out again
    assert refused.client_order_id.endswith("-m1") and placed.client_order_id.endswith("-m2")
    assert placed.status == "filled"


def test_halted_portfolio_rejects_everything_and_reducing_only_closes(db):
    portfolio, asset = setup_asset()
    opened = manual(asset)
    position = db.session.scalars(select(Position)).one()
    portfolio.risk_state = "reducing"
    db.session.commit()
    assert manual(asset).rejected_by == "risk_state"
    portfolio.risk_state = "halted"
    db.session.commit()
    assert close_position(position.id, now=NOW, plugins=fake_source()).rejected_by == \
        "risk_state"
    portfolio.risk_state = "reducing"
    db.session.commit()
    closed = close_position(position.id, now=NOW, plugins=fake_source())
    assert closed.status == "filled" and opened.status == "filled"
    db.session.refresh(position)
    assert position.status == "closed"
    # Long from the fill price to the fill price: realized = 0 - 2 commissions.
    assert position.realized_pnl == pytest.approx(-2.0)


def test_max_order_notional(db):
    _, asset = setup_asset()
    set_runtime_setting("max_order_notional", 500.0)
    placed = manual(asset, quantity=10)  # about 10 x 100
    assert placed.rejected_by == "max_order_notional"
    assert manual(asset, quantity=4).status == "filled"


def test_max_orders_per_minute_per_portfolio(db):
    _, asset = setup_asset()
    set_runtime_setting("max_orders_per_minute", 2)
    assert manual(asset, quantity=1).status == "filled"
    assert manual(asset, quantity=1).status == "filled"
    throttled = manual(asset, quantity=1, now=NOW + timedelta(seconds=15))
    assert throttled.rejected_by == "max_orders_per_minute"
    # No row (it would keep the window full) and no client id; when to come back.
    assert (throttled.order_id, throttled.client_order_id) == (None, "")
    assert throttled.retry_after == 45  # the oldest order leaves the window at NOW + 60 s
    assert db.session.scalar(select(func.count(Order.id))) == 2
    later = NOW + timedelta(seconds=61)
    assert manual(asset, quantity=1, now=later).status == "filled"


def test_retry_after_waits_for_enough_orders_to_leave_when_the_limit_was_lowered(db):
    _, asset = setup_asset()
    for seconds in (0, 10, 20):
        assert manual(asset, quantity=1, now=NOW + timedelta(seconds=seconds)).status == "filled"
    set_runtime_setting("max_orders_per_minute", 2)
    throttled = manual(asset, quantity=1, now=NOW + timedelta(seconds=30))
    # Three in the window, two allowed: only when the second oldest leaves is one free.
    assert throttled.retry_after == 40


def test_allocation_limits_what_is_committed(db):
    _, asset = setup_asset(allocated=1_000.0)
    placed = manual(asset, quantity=20)  # ~2,000 needed
    assert placed.rejected_by == "allocation"
    assert manual(asset, quantity=6).status == "filled"
    assert manual(asset, quantity=6).rejected_by == "allocation"  # 600 + 600 > 1,000


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("two_apps", [False, True], ids=["one-app", "two-apps"])
def concurrent_manual_orders(app, database_url, tmp_path, asset_id: int, quantity: float,
                             two_apps: bool) -> list:
    """Two ``submit_manual_order`` calls released at once by a barrier; their results.

    ``two_apps``: the second runs in another app instance (its own engine and pool) on
    the same database, as a second process would.
    """
    apps = [app, make_test_app(database_url, tmp_path / "second") if two_apps else app]
    barrier = threading.Barrier(2)
    results = []
    errors = []

    def place(n: int) -> None:
        with apps[n].app_context():
            try:
                barrier.wait()
                results.append(submit_manual_order(asset_id, "buy", quantity, now=NOW,
                                                   plugins=fake_source()))
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                database.session.remove()

    threads = [threading.Thread(target=place, args=(n,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        if two_apps:
            with apps[1].app_context():
                database.engine.dispose()
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("two_apps", [False, True], ids=["one-app", "two-apps"])
def test_two_concurrent_orders_where_only_one_fits(app, db, database_url, tmp_path,
                                                   two_apps):
    """Each order fits alone, both together do not: exactly one passes the allocation.

    On SQLite ``BEGIN IMMEDIATE`` serialises the two transactions; on PostgreSQL the
    portfolio row lock does (READ COMMITTED: the second reads usage after the first
    committed).
    """
    _, asset = setup_asset(allocated=1_000.0)
    asset_id = asset.id
    db.session.commit()  # end the read transaction: its snapshot would hide the orders
    results = concurrent_manual_orders(app, database_url, tmp_path, asset_id, 6.0, two_apps)
    outcomes = sorted((r.status, r.rejected_by) for r in results)
    assert outcomes == [("filled", None), ("rejected", "allocation")]
    # The refused one is stored as ``rejected``, under an id of its own.
    assert sorted(db.session.scalars(select(Order.status))) == ["filled", "rejected"]
    assert len({r.client_order_id for r in results}) == 2
    rejected = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.risk_rejected")).one()
    assert rejected.details["check"] == "allocation"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("two_apps", [False, True], ids=["one-app", "two-apps"])
def test_two_concurrent_manual_orders_that_both_fit_are_two_orders(
        app, db, database_url, tmp_path, two_apps):
    """Same second, same asset: two orders with ids ``...-m1`` and ``...-m2``, both sent."""
    _, asset = setup_asset(allocated=5_000.0)
    asset_id = asset.id
    db.session.commit()
    results = concurrent_manual_orders(app, database_url, tmp_path, asset_id, 6.0, two_apps)
    assert [(r.status, r.rejected_by, r.duplicate) for r in results] == \
        [("filled", None, False)] * 2
    prefix = f"lts-{asset_id}-{int(NOW.timestamp())}-m"
    assert sorted(r.client_order_id for r in results) == [f"{prefix}1", f"{prefix}2"]
    assert db.session.scalar(select(func.count(Order.id))) == 2


def test_drawdown_trips_the_kill_switch_without_flattening(app, db):
    portfolio, asset = setup_asset(max_drawdown_pct=0.01)
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    database.session.commit()
    clock = ManualClock(NOW)
    engine = Engine(app, plugins=fake_source(), clock=clock)
    try:
        engine.tick()  # buys: equity = capital - 1 commission: a 0.01 % drawdown
    finally:
        engine.close()
    db.session.refresh(portfolio)
    assert portfolio.risk_state == "halted"
    trip = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "portfolio.kill_switch")).one()
    assert trip.details["trigger"] == "max_drawdown_pct"
    assert db.session.scalars(select(Position)).one().status == "open"  # not flattened


def test_drawdown_flattens_when_flatten_on_kill(app, db):
    portfolio, asset = setup_asset(max_drawdown_pct=0.01)
    asset.strategy_plugin = "fixed"
    asset.strategy_config = {"action": "open", "side": "buy"}
    database.session.commit()
    set_runtime_setting("flatten_on_kill", True)
    tick_once(app, NOW, plugins=fake_source())
    db.session.refresh(portfolio)
    assert portfolio.risk_state == "halted"
    position = db.session.scalars(select(Position)).one()
    assert position.status == "closed"
    close = db.session.get(Order, position.close_order_id)
    assert (close.source, close.status) == ("risk", "filled")
