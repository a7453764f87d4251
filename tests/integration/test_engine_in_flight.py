"""Reconciliation never settles an order whose placing call may be in flight (SPEC 2a).

A ``pending`` row is written before the broker call and booked after it: meanwhile a
lookup answers "not found" although the order is on its way. Reconciliation (periodic,
start-up, lease takeover, "run now") leaves such an order alone: while this process is
placing it, while it is younger than the broker timeout plus a margin and its process
keeps its claim; "run now" touches its own portfolio's orders only.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import AuditLog, Order, ProcessClaim
from lts.plugins.base import BrokerResult, Fill
from lts.trading import books as books_module
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.lease import end_claim, lost_claims, placing, process_holder_id, renew_claim
from lts.trading.orders import placing_window
from lts.trading.runner import LoopRunner
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, BookBroker, fake_source

NOW = EPOCH + timedelta(minutes=10)
OTHER = "other-host:4242:deadbeef"
TIMEOUT = 10.0
WINDOW = placing_window(TIMEOUT)

pytestmark = pytest.mark.usefixtures("fresh_book")


def _asset(db, name: str = "AAA"):  # type: ignore[no-untyped-def]
    portfolio = gen_portfolio(gen_user(), portfolio_plugin="split", portfolio_latency=1)
    return gen_asset(portfolio, name, **{**FAKE_ASSET, "strategy_plugin": "fixed",
                                         "strategy_config": {"action": "hold"}})


def _pending(db, asset, coid: str, *, placed_by: str | None = OTHER,  # type: ignore[no-untyped-def]
             status: str = "pending", created=NOW) -> Order:
    order = Order(asset_id=asset.id, side="buy", quantity=1.0, price=100.0, status=status,
                  client_order_id=coid, source="manual", created_at=created,
                  updated_at=created, placed_by=placed_by)
    db.session.add(order)
    db.session.commit()
    return order


def _engine(app, at):  # type: ignore[no-untyped-def]
    return Engine(app, plugins=fake_source(), clock=ManualClock(at))


def _status(db, order_id: int) -> str:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.get(Order, order_id).status


def _filled_in_book(coid: str) -> None:
    """The broker has the order (its answer is on the way back to the placing call)."""
    BookBroker.book[coid] = BrokerResult(status="filled", broker_order_id=f"B-{coid}", fills=(
        Fill(client_order_id=coid, quantity=1.0, price=100.0, time=NOW, commission=1.0),))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_young_pending_order_of_a_live_process_is_left_alone_until_its_window_ends(
        app, db):
    asset = _asset(db)
    order = _pending(db, asset, "lts-x-1")
    renew_claim(db.session(), OTHER, NOW, 30)
    engine = _engine(app, NOW)
    try:
        assert engine.reconcile(NOW + timedelta(seconds=5), timeout=TIMEOUT) == []
        assert _status(db, order.id) == "pending"
        renew_claim(db.session(), OTHER, NOW + WINDOW, 30)  # still alive, but too old
        changes = engine.reconcile(NOW + WINDOW + timedelta(seconds=1), timeout=TIMEOUT)
    finally:
        engine.close()
    assert [(c.before, c.after) for c in changes] == [("pending", "error")]


def test_a_pending_order_whose_process_lost_its_claim_is_settled_at_once(app, db):
    asset = _asset(db)
    lost = _pending(db, asset, "lts-x-1")
    renew_claim(db.session(), OTHER, NOW, 2)  # expires 2 s after NOW: the process died
    _filled_in_book("lts-x-1")
    engine = _engine(app, NOW)
    try:
        changes = engine.reconcile(NOW + timedelta(seconds=5), timeout=TIMEOUT)
    finally:
        engine.close()
    assert [(c.order_id, c.before, c.after) for c in changes] == [(lost.id, "pending",
                                                                   "filled")]


def test_an_order_this_process_is_placing_is_never_looked_up(app, db):
    asset = _asset(db)
    order = _pending(db, asset, "lts-x-1", placed_by=process_holder_id())
    engine = _engine(app, NOW)
    try:
        with placing(order.id):
            assert engine.start_up(NOW + WINDOW * 10) == []
            assert _status(db, order.id) == "pending"
        # Placed here and no longer listed: its call ended (or died), so it is settled.
        changes = engine.start_up(NOW + timedelta(seconds=1))
    finally:
        engine.close()
    assert [(c.before, c.after) for c in changes] == [("pending", "error")]


def test_an_unknown_order_in_flight_is_booked_when_found_but_never_declared_never_sent(
        app, db):
    asset = _asset(db)
    missing = _pending(db, asset, "lts-x-1", status="unknown")
    found = _pending(db, asset, "lts-x-2", status="unknown")
    renew_claim(db.session(), OTHER, NOW, 600)
    _filled_in_book("lts-x-2")
    engine = _engine(app, NOW)
    try:
        changes = engine.reconcile(NOW + timedelta(seconds=5), timeout=TIMEOUT)
        assert [(c.order_id, c.after) for c in changes] == [(found.id, "filled")]
        assert _status(db, missing.id) == "unknown"
        later = engine.reconcile(NOW + WINDOW + timedelta(seconds=1), timeout=TIMEOUT)
    finally:
        engine.close()
    assert [(c.order_id, c.after) for c in later] == [(missing.id, "error")]


def test_run_now_reconciles_only_its_own_portfolios_orders(app, db):
    mine, theirs = _asset(db, "MINE"), _asset(db, "THEIRS")
    stale_mine = _pending(db, mine, "lts-m-1", created=NOW - WINDOW * 2)
    stale_theirs = _pending(db, theirs, "lts-t-1", created=NOW - WINDOW * 2)
    engine = _engine(app, NOW)
    try:
        engine.tick(NOW, portfolio_ids=[mine.portfolio_id])
    finally:
        engine.close()
    assert _status(db, stale_mine.id) == "error"
    assert _status(db, stale_theirs.id) == "pending"  # the loop's business, not this run's
    reconciled = db.session.scalars(select(AuditLog.resource).where(
        AuditLog.action == "order.reconciled")).all()
    assert reconciled == [f"order:{stale_mine.id}"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_claims_are_renewed_ended_and_reported_lost_only_once_expired(app, db):
    session = db.session()
    renew_claim(session, "a", NOW, 30)
    renew_claim(session, "b", NOW, 30)
    renew_claim(session, "a", NOW + timedelta(seconds=20), 30)  # renewed: moves forward
    assert lost_claims(session, {"a", "b", "never-claimed"}, NOW + timedelta(seconds=31)) \
        == {"b"}
    end_claim(session, "a", NOW + timedelta(seconds=32))
    assert lost_claims(session, {"a"}, NOW + timedelta(seconds=33)) == {"a"}
    assert {c.holder for c in session.scalars(select(ProcessClaim))} == {"a", "b"}


def test_an_order_records_the_process_that_placed_it(app, db):
    asset = gen_asset(gen_portfolio(gen_user(), portfolio_plugin="split",
                                    portfolio_latency=1), "AAA",
                      **{**FAKE_ASSET, "strategy_plugin": "fixed",
                         "strategy_config": {"action": "open", "side": "buy"}})
    engine = _engine(app, NOW)
    try:
        engine.tick()
    finally:
        engine.close()
    order = db.session.scalars(select(Order).where(Order.asset_id == asset.id)).one()
    assert (order.status, order.placed_by) == ("filled", process_holder_id())


def test_a_status_change_is_never_committed_without_its_audit_row(app, db, monkeypatch):
    gen_asset(gen_portfolio(gen_user(), portfolio_plugin="split", portfolio_latency=1), "AAA",
              **{**FAKE_ASSET, "strategy_plugin": "fixed",
                 "strategy_config": {"action": "open", "side": "buy"}})
    calls: list[int] = []

    original = books_module.write_audit_rows

    def failing_audit(connection, rows):  # type: ignore[no-untyped-def]
        if not any(row["action"] == "order.status" for row in rows):
            return original(connection, rows)  # the pending row's audit (placing step 1)
        calls.append(len(rows))
        raise RuntimeError("the audit insert failed")

    monkeypatch.setattr(books_module, "write_audit_rows", failing_audit)
    engine = _engine(app, NOW)
    try:
        engine.tick()  # the asset step fails and is audited; the tick goes on
    finally:
        engine.close()
    assert calls  # booking reached its audit rows
    order = db.session.scalars(select(Order)).one()
    assert order.status == "pending"  # filled at the broker, but not booked without audit


def test_the_loop_keeps_this_process_claim_alive_and_ends_it_on_shutdown(app, db):
    clock = ManualClock(NOW)
    runner = LoopRunner(app, clock=clock, holder="runner-a",
                        engine_factory=lambda a: Engine(a, plugins=fake_source(), clock=clock))
    ttl = timedelta(seconds=float(app.config["LTS"]["lease_seconds"]))
    try:
        assert runner.heartbeat(NOW)
        claim = db.session.get(ProcessClaim, process_holder_id())
        assert claim.expires_at == NOW + ttl
        runner.run_once(NOW + timedelta(seconds=5))  # every tick renews it too
        db.session.rollback()  # end this session's read snapshot
        assert db.session.get(ProcessClaim, process_holder_id()).expires_at \
            == NOW + timedelta(seconds=5) + ttl
        assert lost_claims(db.session(), {process_holder_id()}, NOW + ttl) == set()
    finally:
        clock.now = NOW + timedelta(seconds=6)
        runner.shutdown()
    # Stopped cleanly: nothing of it can be in flight, its orders may be settled at once.
    db.session.rollback()
    assert lost_claims(db.session(), {process_holder_id()}, NOW + timedelta(seconds=7)) \
        == {process_holder_id()}
