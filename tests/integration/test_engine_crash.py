"""Crash safety: the process dies after the Order row is committed, before the broker
answers; a new engine reconciles by client_order_id and nothing is sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import Order, Position
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, BookBroker, fake_source

NOW = EPOCH + timedelta(minutes=10)


pytestmark = pytest.mark.usefixtures("fresh_book")


def buying_asset():
    portfolio = gen_portfolio(gen_user(), portfolio_plugin="split", portfolio_latency=1)
    return gen_asset(portfolio, "AAA", **{**FAKE_ASSET, "strategy_plugin": "fixed",
                                          "strategy_config": {"action": "open", "side": "buy"}})


def test_crash_after_broker_recorded_the_order_is_completed_on_restart(app, db):
    buying_asset()
    BookBroker.crash_after_record = True
    first = Engine(app, plugins=fake_source(), clock=ManualClock(NOW))
    with pytest.raises(SystemExit):
        first.tick()
    first.close()
    db.session.rollback()
    order = db.session.scalars(select(Order)).one()
    assert order.status == "pending"  # committed before the broker call, never updated
    assert list(BookBroker.book) == [order.client_order_id]

    BookBroker.crash_after_record = False
    second = Engine(app, plugins=fake_source(), clock=ManualClock(NOW + timedelta(seconds=5)))
    try:
        changes = second.start_up()
        assert [(c.client_order_id, c.before, c.after) for c in changes] == [
            (order.client_order_id, "pending", "filled")]
        second.start_up()  # a second reconciliation changes nothing
    finally:
        second.close()
    db.session.expire_all()
    orders = db.session.scalars(select(Order)).all()
    assert [(o.client_order_id, o.status) for o in orders] == [(order.client_order_id,
                                                                "filled")]
    assert BookBroker.submits == [order.client_order_id]  # sent exactly once
    position = db.session.scalars(select(Position)).one()
    assert position.order_id == order.id and position.quantity == orders[0].quantity
    assert {o.client_order_id for o in orders} == set(BookBroker.book)


def test_crash_before_the_broker_saw_the_order_marks_it_error(app, db, monkeypatch):
    asset = buying_asset()

    def die(*_args, **_kwargs):
        raise SystemExit("killed before the broker call")

    first = Engine(app, plugins=fake_source(), clock=ManualClock(NOW))
    monkeypatch.setattr("lts.trading.orders.OrderExecutor._send", die)
    with pytest.raises(SystemExit):
        first.tick()
    first.close()
    monkeypatch.undo()
    db.session.rollback()
    assert db.session.scalars(select(Order.status)).one() == "pending"

    clock = ManualClock(NOW + timedelta(minutes=1))
    second = Engine(app, plugins=fake_source(), clock=clock)
    try:
        changes = second.start_up()
        assert [(c.before, c.after) for c in changes] == [("pending", "error")]
        report = second.tick()  # a confirmed absence allows a new order with a new id
    finally:
        second.close()
    assert report.errors == ()
    rows = db.session.execute(select(Order.client_order_id, Order.status)
                              .order_by(Order.id)).all()
    epoch = int(NOW.timestamp())
    assert [tuple(r) for r in rows] == [(f"lts-{asset.id}-{epoch}-1", "error"),
                                        (f"lts-{asset.id}-{epoch + 60}-1", "filled")]
    assert BookBroker.submits == [f"lts-{asset.id}-{epoch + 60}-1"]
    error = db.session.scalars(select(Order).where(Order.status == "error")).one()
    assert "never sent" in error.reason
