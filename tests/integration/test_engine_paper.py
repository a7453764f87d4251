"""The engine with the built-in synthetic pipeline and paper broker: exits and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lts.models import Order, Position
from lts.plugins.registry import get_registry
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.manual import submit_manual_order
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import HoldStrategy

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def paper_asset(app, db):
    get_registry(app).register("strategy", HoldStrategy, origin="test")
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
    return gen_asset(portfolio, "EUR_USD", strategy_plugin="hold",
                     allocated_capital=10_000.0)


def test_stop_loss_or_take_profit_exit_closes_the_position_through_an_exit_order(
        app, db, paper_asset):
    opened = submit_manual_order(paper_asset.id, "buy", 10, now=NOW)
    assert opened.status == "filled"
    entry = db.session.scalars(select(Position)).one()
    entry_price = entry.entry_price
    db.session.get(Position, entry.id).stop_loss = entry_price * 0.999
    db.session.get(Position, entry.id).take_profit = entry_price * 1.001
    db.session.commit()

    engine = Engine(app, clock=ManualClock(NOW + timedelta(hours=6)))
    try:
        report = engine.tick()
        assert report.errors == ()
        engine.tick(NOW + timedelta(hours=6, minutes=1))  # the exit is reported again
    finally:
        engine.close()

    position = db.session.scalars(select(Position)).one()
    assert position.status == "closed"
    exit_order = db.session.get(Order, position.close_order_id)
    assert exit_order.client_order_id == f"paper-exit-{position.id}"
    assert (exit_order.source, exit_order.status) == ("risk", "filled")
    assert exit_order.reason in ("stop_loss", "take_profit")
    expected = (position.exit_price - position.entry_price) * 10 - position.commission
    assert position.realized_pnl == pytest.approx(expected)
    assert db.session.scalar(select(Order.id).where(Order.id > exit_order.id)) is None


def test_restart_after_paper_fill_books_it_once_from_the_paper_book(app, db, paper_asset,
                                                                    monkeypatch):
    def die(*_args, **_kwargs):
        raise SystemExit("killed after the broker answered, before booking")

    monkeypatch.setattr("lts.trading.orders.OrderExecutor._book", die)
    with pytest.raises(SystemExit):
        submit_manual_order(paper_asset.id, "sell", 10, now=NOW)
    monkeypatch.undo()
    db.session.rollback()
    order = db.session.scalars(select(Order)).one()
    assert order.status == "pending"

    engine = Engine(app, clock=ManualClock(NOW + timedelta(seconds=30)))
    try:
        changes = engine.start_up()
        assert [(c.before, c.after) for c in changes] == [("pending", "filled")]
    finally:
        engine.close()
    db.session.expire_all()
    order = db.session.scalars(select(Order)).one()
    position = db.session.scalars(select(Position)).one()
    assert (order.status, position.side, position.quantity) == ("filled", "short", 10)
    from lts.models.paper import PaperOrder

    book = db.session.scalars(select(PaperOrder.client_order_id)).all()
    assert book == [order.client_order_id]  # the paper broker traded it exactly once
