"""The Core-statement booking path writes exactly what the ORM path writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lts.database import write_transaction
from lts.models import AuditLog, Order, Position
from lts.plugins.base import BrokerResult, Fill
from lts.runtime_config import set_runtime_setting
from lts.trading.core_books import CoreBooks
from lts.trading.manual import submit_manual_order
from lts.trading.orders import apply_broker_result
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, fake_source

NOW = EPOCH + timedelta(minutes=10)
ORDER_COLUMNS = ("status", "filled_quantity", "fill_price", "commission", "filled_at",
                 "broker_order_id", "reason", "updated_at")
POSITION_COLUMNS = ("side", "quantity", "entry_price", "current_price", "commission",
                    "unrealized_pnl", "realized_pnl", "status", "opened_at", "closed_at",
                    "exit_price", "stop_loss", "take_profit")


pytestmark = pytest.mark.usefixtures("fresh_book")


def _pending(db, asset, coid: str, side: str = "buy", quantity: float = 4.0) -> Order:
    asset_id = asset.id
    db.session.commit()  # end the read that loaded ``asset``: its snapshot may be stale
    order = Order(asset_id=asset_id, side=side, quantity=quantity, price=100.0,
                  stop_loss=95.0, take_profit=110.0, status="pending", client_order_id=coid,
                  source="strategy", created_at=NOW, updated_at=NOW)
    db.session.add(order)
    db.session.commit()
    return order


def _closing(db, asset, opened: Order, quantity: float = 4.0) -> Order:
    """A pending sell that closes the position ``opened`` opened (as the executor links it)."""
    position = db.session.scalars(select(Position).filter_by(order_id=opened.id)).one()
    closing = _pending(db, asset, f"{opened.client_order_id}-close", side="sell",
                       quantity=quantity)
    position.close_order_id = closing.id
    db.session.commit()
    db.session.expire_all()
    return closing


def _fill(coid: str, quantity: float, price: float, minutes: int) -> Fill:
    return Fill(client_order_id=coid, quantity=quantity, price=price,
                time=NOW + timedelta(minutes=minutes), commission=0.25)


def _book_orm(db, order_id: int, result: BrokerResult) -> None:
    session = db.session()
    with write_transaction(session):
        apply_broker_result(session, session.get(Order, order_id), result, NOW)


def _book_core(db, order_id: int, result: BrokerResult) -> None:
    db.session.commit()  # as the executor does: no session transaction during the write
    with db.engine.begin() as connection:
        books = CoreBooks(connection)
        order = books.load_order(order_id)
        apply_broker_result(books, order, result, NOW)
        books.write(order)


def _row(db, model, columns, **where):
    row = db.session.scalars(select(model).filter_by(**where)).one()
    return {c: getattr(row, c) for c in columns}


def _statuses(db, order_id: int) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(AuditLog).where(AuditLog.resource == f"order:{order_id}")
                              .order_by(AuditLog.id)).all()
    return [(r.details["from"], r.details["to"]) for r in rows]


def test_core_books_match_the_orm_for_partial_fill_fill_and_close(db):
    asset = gen_asset(gen_portfolio(gen_user()), "AAA", **FAKE_ASSET)
    orm, core = _pending(db, asset, "orm-open"), _pending(db, asset, "core-open")
    for order, book in ((orm, _book_orm), (core, _book_core)):
        coid = order.client_order_id
        book(db, order.id, BrokerResult(status="partially_filled", broker_order_id="b-1",
                                        fills=(_fill(coid, 1.0, 100.0, 1),)))
        # Cumulative answer: only the quantity beyond what is booked counts.
        book(db, order.id, BrokerResult(status="filled", broker_order_id="b-1", fills=(
            _fill(coid, 1.0, 100.0, 1), _fill(coid, 3.0, 102.0, 2))))
    db.session.expire_all()
    assert _row(db, Order, ORDER_COLUMNS, id=orm.id) == _row(db, Order, ORDER_COLUMNS, id=core.id)
    assert _row(db, Position, POSITION_COLUMNS, order_id=orm.id) == \
        _row(db, Position, POSITION_COLUMNS, order_id=core.id)
    assert _statuses(db, orm.id) == _statuses(db, core.id) == [
        ("pending", "submitted"), ("submitted", "partially_filled"),
        ("partially_filled", "filled")]

    for opened, book in ((orm, _book_orm), (core, _book_core)):
        closing = _closing(db, asset, opened)
        book(db, closing.id, BrokerResult(status="filled", fills=(
            _fill(closing.client_order_id, 4.0, 99.0, 3),)))
    db.session.expire_all()
    closed = [_row(db, Position, POSITION_COLUMNS, order_id=o.id) for o in (orm, core)]
    assert closed[0] == closed[1]
    assert closed[0]["status"] == "closed"
    # (99 - 101.5) x 4 less two fills' and the exit's commissions of 0.25 each.
    assert closed[0]["realized_pnl"] == pytest.approx(-2.5 * 4 - 0.75)


def test_core_books_release_the_position_of_a_rejected_closing_order(db):
    asset = gen_asset(gen_portfolio(gen_user()), "AAA", **FAKE_ASSET)
    opened = _pending(db, asset, "open")
    _book_core(db, opened.id, BrokerResult(status="filled", fills=(_fill("open", 4.0, 100.0, 1),)))
    closing = _pending(db, asset, "close", side="sell")
    position = db.session.scalars(select(Position)).one()
    position.close_order_id = closing.id
    db.session.commit()
    _book_core(db, closing.id, BrokerResult(status="rejected", message="no"))
    db.session.expire_all()
    assert db.session.get(Order, closing.id).status == "rejected"
    assert db.session.scalars(select(Position)).one().close_order_id is None


def test_orders_per_minute_counts_every_asset_of_the_portfolio_only(db):
    user = gen_user()
    portfolio = gen_portfolio(user, portfolio_plugin="split", portfolio_latency=1)
    first, second = (gen_asset(portfolio, s, allocated_capital=5_000.0, **FAKE_ASSET)
                     for s in ("AAA", "BBB"))
    other = gen_asset(gen_portfolio(user, portfolio_plugin="split"), "CCC",
                      allocated_capital=5_000.0, **FAKE_ASSET)
    set_runtime_setting("max_orders_per_minute", 2)

    def buy(asset):
        return submit_manual_order(asset.id, "buy", 1, now=NOW, plugins=fake_source())

    assert buy(other).status == "filled"  # another portfolio's order does not count
    assert buy(first).status == "filled"
    assert buy(second).status == "filled"
    assert buy(first).rejected_by == "max_orders_per_minute"
    assert buy(other).status == "filled"


def test_core_books_match_the_orm_for_several_new_fills_in_one_answer(db):
    asset = gen_asset(gen_portfolio(gen_user()), "AAA", **FAKE_ASSET)
    orm, core = _pending(db, asset, "orm-open"), _pending(db, asset, "core-open")
    for order, book in ((orm, _book_orm), (core, _book_core)):
        coid = order.client_order_id
        book(db, order.id, BrokerResult(status="filled", fills=(
            _fill(coid, 1.0, 100.0, 1), _fill(coid, 3.0, 102.0, 2))))
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Position.id))) == 2  # one each, not three
    assert _row(db, Position, POSITION_COLUMNS, order_id=orm.id) == \
        _row(db, Position, POSITION_COLUMNS, order_id=core.id)
    for opened, book in ((orm, _book_orm), (core, _book_core)):
        closing = _closing(db, asset, opened)
        book(db, closing.id, BrokerResult(status="filled", fills=(
            _fill(closing.client_order_id, 1.0, 99.0, 3),
            _fill(closing.client_order_id, 3.0, 98.0, 4))))
    db.session.expire_all()
    # The first fill closes 1 of 4: it is split off as its own closed position.
    closed = [_rows(db, o.id) for o in (orm, core)]
    assert closed[0] == closed[1]
    assert [(p["quantity"], p["exit_price"], p["status"]) for p in closed[0]] == [
        (3.0, 98.0, "closed"), (1.0, 99.0, "closed")]
    # Same total as closing 4 at the average 98.25: entry 101.5, four fees of 0.25.
    assert sum(p["realized_pnl"] for p in closed[0]) == pytest.approx(-3.25 * 4 - 1.0)
    assert _row(db, Order, ORDER_COLUMNS, client_order_id="orm-open-close") == \
        _row(db, Order, ORDER_COLUMNS, client_order_id="core-open-close")


def _rows(db, opening_order_id: int) -> list[dict]:
    positions = db.session.scalars(select(Position).filter_by(order_id=opening_order_id)
                                   .order_by(Position.id)).all()
    return [{c: getattr(p, c) for c in POSITION_COLUMNS} for p in positions]


def test_a_partly_filled_close_that_dies_leaves_only_the_rest_open(db):
    """Sell 4 of 10, the closing order is cancelled: 6 stay open, the next close is for 6."""
    asset = gen_asset(gen_portfolio(gen_user()), "AAA", **FAKE_ASSET)
    orm, core = (_pending(db, asset, f"{name}-open", quantity=10.0) for name in ("orm", "core"))
    for opened, book in ((orm, _book_orm), (core, _book_core)):
        coid = opened.client_order_id
        book(db, opened.id, BrokerResult(status="filled", fills=(_fill(coid, 10.0, 100.0, 1),)))
        closing = _closing(db, asset, opened, quantity=10.0)
        book(db, closing.id, BrokerResult(status="partially_filled", broker_order_id="c-1",
                                          fills=(_fill(closing.client_order_id, 4.0, 104.0, 2),)))
        book(db, closing.id, BrokerResult(status="cancelled", broker_order_id="c-1", fills=(
            _fill(closing.client_order_id, 4.0, 104.0, 2),)))
    db.session.expire_all()
    rows = [_rows(db, o.id) for o in (orm, core)]
    assert rows[0] == rows[1]
    still_open, sold = rows[0]
    assert (still_open["status"], still_open["quantity"]) == ("open", 6.0)
    assert (sold["status"], sold["quantity"], sold["exit_price"]) == ("closed", 4.0, 104.0)
    # 4 x (104 - 100), less 4/10 of the opening fee and the closing fill's fee.
    assert sold["realized_pnl"] == pytest.approx(16.0 - 0.1 - 0.25)
    assert still_open["commission"] == pytest.approx(0.15)
    # Equity moved by the closing fee only: marked at 104, nothing else changed.
    assert still_open["unrealized_pnl"] + sold["realized_pnl"] == pytest.approx(
        10 * 4.0 - 0.25 - 0.25)
    position = db.session.scalars(select(Position).filter_by(order_id=orm.id,
                                                             status="open")).one()
    assert position.close_order_id is None  # released: a new closing order may go out
