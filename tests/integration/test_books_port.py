"""One storage port, two implementations: the same scenarios on SqlBooks and MemoryBooks.

Every scenario runs the very same rule functions (state machine, fills into positions,
risk checks, the equity kill switch) through :class:`~lts.trading.books.Books`, on
:class:`~lts.trading.books.SqlBooks` over SQLite and PostgreSQL (when
``LTS_TEST_DATABASE_URL`` is set) and on :class:`~lts.trading.books.MemoryBooks`.
Each asserts hand-computed figures, and the last test checks that the two
implementations end with identical rows, audit included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lts.models import AuditLog, Order, Portfolio, Position, User
from lts.plugins.base import BrokerResult, Fill
from lts.trading.books import (
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    Books,
    DuplicateClientOrderId,
    MemoryBooks,
    SqlBooks,
)
from lts.trading.engine import book_mark_fill
from lts.trading.errors import InvalidTransition, RiskRejected
from lts.trading.order_state import transition
from lts.trading.orders import apply_broker_result
from lts.trading.risk import OrderCheck, RiskLimits, check_order
from tests.conftest import make_test_app, migrate_to_head

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AUDIT_COLUMNS = ("action", "resource", "outcome", "details", "timestamp")


class MemorySide:
    """Scenario plumbing on MemoryBooks."""

    name = "memory"

    def __init__(self) -> None:
        self.books = MemoryBooks()

    def portfolio(self, capital: float = 10_000.0, risk_state: str = "active") -> int:
        portfolio_id = len(self.books.portfolios) + 1  # ids as a fresh table hands them out
        self.books.add_portfolio(portfolio_id, total_capital=capital, risk_state=risk_state)
        return portfolio_id

    def asset(self, portfolio_id: int, allocated: float = 5_000.0, *, active: bool = True,
              leverage: float | None = None) -> int:
        asset_id = len(self.books.assets) + 1
        config = {} if leverage is None else {"leverage": leverage}
        self.books.add_asset(asset_id, portfolio_id, allocated_capital=allocated,
                             is_active=active, broker_config=config)
        return asset_id

    @contextlib.contextmanager
    def unit(self) -> Iterator[Books]:
        yield self.books
        self.books.write()

    def orders(self) -> list[dict[str, Any]]:
        return [_plain(o.values(), ORDER_COLUMNS) for o in self.books.orders.values()]

    def positions(self) -> list[dict[str, Any]]:
        return [_plain(p.values(), POSITION_COLUMNS) for p in self.books.positions.values()]

    def audit(self) -> list[dict[str, Any]]:
        return [_plain(a, AUDIT_COLUMNS) for a in self.books.audit if _booked(a)]

    def risk_state(self, portfolio_id: int) -> str:
        return str(self.books.portfolios[portfolio_id]["risk_state"])


class SqlSide:
    """Scenario plumbing on SqlBooks: one write transaction per unit."""

    def __init__(self, name: str, app: Any) -> None:
        from lts.extensions import db

        self.name = name
        self.app = app
        self.db = db
        self._user: int | None = None

    def portfolio(self, capital: float = 10_000.0, risk_state: str = "active") -> int:
        from tests.factories import gen_portfolio, gen_user

        if self._user is None:
            self._user = gen_user().id
        user = self.db.session.get(User, self._user)
        portfolio = gen_portfolio(user, total_capital=capital, risk_state=risk_state)
        self.db.session.commit()
        return int(portfolio.id)

    def asset(self, portfolio_id: int, allocated: float = 5_000.0, *, active: bool = True,
              leverage: float | None = None) -> int:
        from tests.factories import gen_asset

        config = {} if leverage is None else {"leverage": leverage}
        asset = gen_asset(self.db.session.get(Portfolio, portfolio_id),
                          allocated_capital=allocated, is_active=active, broker_config=config)
        self.db.session.commit()
        return int(asset.id)

    @contextlib.contextmanager
    def unit(self) -> Iterator[Books]:
        self.db.session.commit()
        connection = self.db.engine.connect().execution_options(sqlite_immediate=True)
        with connection, connection.begin():
            books = SqlBooks(connection)
            yield books
            books.write()

    def _rows(self, model: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        self.db.session.commit()
        with self.db.engine.connect() as connection:
            table = model.__table__
            return [_plain(dict(r._mapping), columns)
                    for r in connection.execute(select(table).order_by(table.c.id))]

    def orders(self) -> list[dict[str, Any]]:
        return self._rows(Order, ORDER_COLUMNS)

    def positions(self) -> list[dict[str, Any]]:
        return self._rows(Position, POSITION_COLUMNS)

    def audit(self) -> list[dict[str, Any]]:
        return [row for row in self._rows(AuditLog, AUDIT_COLUMNS) if _booked(row)]

    def risk_state(self, portfolio_id: int) -> str:
        self.db.session.commit()
        return str(self.db.session.get(Portfolio, portfolio_id, populate_existing=True)
                   .risk_state)


def _booked(audit: dict[str, Any]) -> bool:
    """Audit rows the books write (users and portfolios made by factories have theirs)."""
    return audit["resource"].startswith("order:") or audit["action"] == "portfolio.kill_switch"


def _plain(values: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The compared columns; stored datetimes read back in UTC."""
    out = {}
    for column in columns:
        value = values.get(column)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out[column] = value
    return out


@pytest.fixture(params=["memory", "sqlite",
                        pytest.param("postgresql", marks=pytest.mark.postgres)])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The books a scenario runs on."""
    if request.param == "memory":
        yield MemorySide()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{request.getfixturevalue('database_path')}"
    else:
        url = request.getfixturevalue("postgres_url")
        migrator = make_test_app(url, tmp_path / "migrate")
        migrate_to_head(migrator)
        with migrator.app_context():
            from lts.extensions import db

            db.engine.dispose()
    app = make_test_app(url, tmp_path)
    with app.app_context():
        from lts.extensions import db

        try:
            yield SqlSide(request.param, app)
        finally:
            db.session.remove()
            db.engine.dispose()


def _order(side: Any, asset_id: int, coid: str, *, side_: str = "buy", quantity: float = 4.0,
           price: float = 100.0, status: str = "pending", at: datetime = NOW) -> int:
    with side.unit() as books:
        order = books.new_order(asset_id=asset_id, order_type="market", side=side_,
                                quantity=quantity, price=price, stop_loss=95.0,
                                take_profit=110.0, status=status, client_order_id=coid,
                                source="strategy", created_at=at, updated_at=at)
        return int(order.id)


def _answer(side: Any, order_id: int, result: BrokerResult, now: datetime = NOW) -> str:
    with side.unit() as books:
        order = books.load_order(order_id)
        apply_broker_result(books, order, result, now)
        return str(order.status)


def _fill(coid: str, quantity: float, price: float, minutes: int, **extra: Any) -> Fill:
    return Fill(client_order_id=coid, quantity=quantity, price=price,
                time=NOW + timedelta(minutes=minutes), commission=0.25, **extra)


def _closing(side: Any, asset_id: int, opened_id: int, coid: str, quantity: float = 4.0
             ) -> int:
    """A pending sell linked to the position ``opened_id`` opened, as the executor links it."""
    order_id = _order(side, asset_id, coid, side_="sell", quantity=quantity)
    with side.unit() as books:
        (position,) = [p for p in books.related_positions(books.load_order(opened_id))
                       if p.status == "open"]
        position.close_order_id = order_id
    return order_id


def _statuses(side: Any, order_id: int) -> list[tuple[str, str]]:
    return [(a["details"]["from"], a["details"]["to"]) for a in side.audit()
            if a["resource"] == f"order:{order_id}" and a["action"] == "order.status"]


# ------------------------------------------------------------------------ booking

def test_partial_fill_then_cumulative_fill_then_close(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    assert _answer(side, opened, BrokerResult(status="partially_filled", broker_order_id="b-1",
                                              fills=(_fill("open", 1.0, 100.0, 1),))) \
        == "partially_filled"
    # Cumulative answer: only the quantity beyond what is booked counts.
    assert _answer(side, opened, BrokerResult(status="filled", broker_order_id="b-1", fills=(
        _fill("open", 1.0, 100.0, 1), _fill("open", 3.0, 102.0, 2)))) == "filled"
    (order,) = side.orders()
    assert (order["filled_quantity"], order["fill_price"], order["commission"]) == \
        (4.0, 101.5, 0.5)
    assert order["filled_at"] == NOW + timedelta(minutes=2)
    (position,) = side.positions()
    assert (position["status"], position["quantity"], position["entry_price"]) == \
        ("open", 4.0, 101.5)
    assert _statuses(side, opened) == [("pending", "submitted"),
                                       ("submitted", "partially_filled"),
                                       ("partially_filled", "filled")]
    closing = _closing(side, asset, opened, "close")
    _answer(side, closing, BrokerResult(status="filled", fills=(_fill("close", 4.0, 99.0, 3),)))
    (position,) = side.positions()
    assert (position["status"], position["exit_price"]) == ("closed", 99.0)
    # (99 - 101.5) x 4 less two opening fills' and the exit's commissions of 0.25 each.
    assert position["realized_pnl"] == pytest.approx(-2.5 * 4 - 0.75)


def test_the_same_answer_twice_books_nothing_twice(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    answer = BrokerResult(status="filled", fills=(_fill("open", 4.0, 100.0, 1),))
    _answer(side, opened, answer)
    before = (side.orders(), side.positions(), len(side.audit()))
    _answer(side, opened, answer)
    assert (side.orders(), side.positions(), len(side.audit())) == before


def test_several_fills_in_one_answer_and_a_close_split_by_its_fills(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    _answer(side, opened, BrokerResult(status="filled", fills=(
        _fill("open", 1.0, 100.0, 1), _fill("open", 3.0, 102.0, 2))))
    assert len(side.positions()) == 1  # one position grown, not two
    closing = _closing(side, asset, opened, "close")
    _answer(side, closing, BrokerResult(status="filled", fills=(
        _fill("close", 1.0, 99.0, 3), _fill("close", 3.0, 98.0, 4))))
    rows = side.positions()
    assert [(p["quantity"], p["exit_price"], p["status"]) for p in rows] == [
        (3.0, 98.0, "closed"), (1.0, 99.0, "closed")]
    # Same total as closing 4 at the average 98.25: entry 101.5, four fees of 0.25.
    assert sum(p["realized_pnl"] for p in rows) == pytest.approx(-3.25 * 4 - 1.0)


def test_a_rejected_closing_order_releases_its_position(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    _answer(side, opened, BrokerResult(status="filled", fills=(_fill("open", 4.0, 100.0, 1),)))
    closing = _closing(side, asset, opened, "close")
    assert _answer(side, closing, BrokerResult(status="rejected", message="no")) == "rejected"
    (position,) = side.positions()
    assert (position["status"], position["close_order_id"]) == ("open", None)


def test_a_partly_filled_close_that_dies_leaves_only_the_rest_open(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open", quantity=10.0)
    _answer(side, opened, BrokerResult(status="filled", fills=(_fill("open", 10.0, 100.0, 1),)))
    closing = _closing(side, asset, opened, "close", quantity=10.0)
    _answer(side, closing, BrokerResult(status="partially_filled", broker_order_id="c-1",
                                        fills=(_fill("close", 4.0, 104.0, 2),)))
    _answer(side, closing, BrokerResult(status="cancelled", broker_order_id="c-1",
                                        fills=(_fill("close", 4.0, 104.0, 2),)))
    still_open, sold = side.positions()
    assert (still_open["status"], still_open["quantity"], still_open["close_order_id"]) == \
        ("open", 6.0, None)
    assert (sold["status"], sold["quantity"], sold["exit_price"]) == ("closed", 4.0, 104.0)
    # 4 x (104 - 100), less 4/10 of the opening fee and the closing fill's fee.
    assert sold["realized_pnl"] == pytest.approx(16.0 - 0.1 - 0.25)


def test_a_terminal_order_never_moves_and_forbidden_transitions_raise(side):
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    _answer(side, opened, BrokerResult(status="filled", fills=(_fill("open", 4.0, 100.0, 1),)))
    assert _answer(side, opened, BrokerResult(status="cancelled")) == "filled"
    with pytest.raises(InvalidTransition), side.unit() as books:
        transition(books, books.load_order(opened), "submitted", NOW)


def test_a_client_order_id_is_stored_once(side):
    asset = side.asset(side.portfolio())
    _order(side, asset, "lts-1-100-1")
    with pytest.raises((IntegrityError, DuplicateClientOrderId)):
        _order(side, asset, "lts-1-100-1")
    assert [o["client_order_id"] for o in side.orders()] == ["lts-1-100-1"]


def test_a_broker_stop_fill_books_an_exit_order_once(side):
    """A protective fill with no order of ours: an exit order of its own, booked once."""
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open")
    _answer(side, opened, BrokerResult(status="filled", fills=(_fill("open", 4.0, 100.0, 1),)))
    (position,) = side.positions()
    stop = Fill(client_order_id=None, quantity=4.0, price=95.0, commission=0.25,
                time=NOW + timedelta(minutes=5), position_id=position["id"],
                reason="stop_loss")
    for _ in range(2):
        with side.unit() as books:
            book_mark_fill(books, asset, stop, NOW + timedelta(minutes=5))
    orders = side.orders()
    assert len(orders) == 2
    exit_order = orders[1]
    assert (exit_order["status"], exit_order["source"], exit_order["order_type"],
            exit_order["side"], exit_order["filled_quantity"]) == \
        ("filled", "risk", "stop", "sell", 4.0)
    (position,) = side.positions()
    assert (position["status"], position["exit_price"], position["close_order_id"]) == \
        ("closed", 95.0, exit_order["id"])
    assert position["realized_pnl"] == pytest.approx(-5.0 * 4 - 0.5)


# ----------------------------------------------------------------- money safety

def _check(side: Any, asset: int, notional: float, *, closing: bool = False,
           limits: RiskLimits | None = None, leverage: float = 1.0,
           at: datetime = NOW) -> None:
    with side.unit() as books:
        subject = books.risk_subject(asset, at, closing=closing)
        check_order(subject, OrderCheck(notional=notional, closing=closing,
                                        leverage=leverage), limits or RiskLimits())


def _open_position(side: Any, asset: int, coid: str, quantity: float, price: float) -> int:
    order = _order(side, asset, coid, quantity=quantity, price=price)
    _answer(side, order, BrokerResult(status="filled", fills=(_fill(coid, quantity, price, 0),)))
    return order


def test_margin_counts_equity_other_assets_and_live_opening_orders(side):
    portfolio = side.portfolio(capital=10_000.0)
    first = side.asset(portfolio, allocated=10_000.0)
    second = side.asset(portfolio, allocated=10_000.0, leverage=2.0)
    _open_position(side, second, "b-open", 40.0, 100.0)  # 4,000 at leverage 2: 2,000 margin
    _order(side, first, "a-live", quantity=30.0, price=100.0, status="submitted")  # 3,000
    with side.unit() as books:
        subject = books.risk_subject(first, NOW)
    assert (subject.committed, subject.other_margin) == (3_000.0, 2_000.0)
    assert subject.equity == pytest.approx(10_000.0 - 0.25)  # the opening fee
    _check(side, first, 4_999.0)  # 3,000 + 2,000 + 4,999 < 9,999.75
    with pytest.raises(RiskRejected) as refused:
        _check(side, first, 5_001.0)
    assert refused.value.check == "margin"


def test_equity_at_or_below_zero_halts_once_and_halted_refuses_opening_orders(side):
    portfolio = side.portfolio(capital=1_000.0)
    asset = side.asset(portfolio, allocated=1_000.0)
    opened = _open_position(side, asset, "open", 10.0, 100.0)
    closing = _closing(side, asset, opened, "close", quantity=10.0)
    _answer(side, closing, BrokerResult(status="filled", fills=(_fill("close", 10.0, 0.0, 1),)))
    with side.unit() as books:
        realized, unrealized, per_asset = books.portfolio_pnl(portfolio)
        assert (realized, unrealized) == (pytest.approx(-1_000.5), 0.0)
        assert per_asset == {asset: 0.0}
        assert books.halt(portfolio, NOW, trigger="equity", equity=-0.5) is True
    with side.unit() as books:
        assert books.halt(portfolio, NOW, trigger="equity", equity=-0.5) is False
    assert side.risk_state(portfolio) == "halted"
    halts = [a for a in side.audit() if a["action"] == "portfolio.kill_switch"]
    assert [(a["resource"], a["details"]) for a in halts] == [
        (f"portfolio:{portfolio}", {"trigger": "equity", "equity": -0.5})]
    with pytest.raises(RiskRejected) as refused:
        _check(side, asset, 1.0)
    assert refused.value.check == "risk_state"
    with pytest.raises(RiskRejected):
        _check(side, asset, 1.0, closing=True)  # halted stops closes too (flatten aside)


def test_reduce_only_and_reducing_let_only_closing_orders_through(side):
    portfolio = side.portfolio(risk_state="reducing")
    asset = side.asset(portfolio)
    with pytest.raises(RiskRejected) as refused:
        _check(side, asset, 100.0)
    assert refused.value.check == "risk_state"
    _check(side, asset, 100.0, closing=True)
    inactive = side.asset(side.portfolio(), active=False)
    with pytest.raises(RiskRejected) as refused:
        _check(side, inactive, 100.0)
    assert refused.value.check == "reduce_only"
    _check(side, inactive, 100.0, closing=True)


def test_orders_per_minute_count_the_portfolio_only(side):
    portfolio = side.portfolio()
    first, second = side.asset(portfolio), side.asset(portfolio)
    other = side.asset(side.portfolio())
    limits = RiskLimits(max_orders_per_minute=2)
    _order(side, first, "a", at=NOW - timedelta(seconds=30), status="rejected")
    _order(side, second, "b", at=NOW - timedelta(seconds=59), status="rejected")
    _order(side, other, "c", at=NOW - timedelta(seconds=10), status="rejected")
    _order(side, first, "old", at=NOW - timedelta(seconds=61), status="rejected")
    with pytest.raises(RiskRejected) as refused:
        _check(side, first, 1.0, limits=limits)
    assert refused.value.check == "max_orders_per_minute"
    _check(side, other, 1.0, limits=limits)


# ------------------------------------------------------------------ one port

def _everything(side: Any) -> tuple[list[dict[str, Any]], ...]:
    """Run a mixed scenario; return every row the books hold."""
    asset = side.asset(side.portfolio())
    opened = _order(side, asset, "open", quantity=10.0)
    _answer(side, opened, BrokerResult(status="partially_filled", broker_order_id="o-1",
                                       fills=(_fill("open", 6.0, 100.0, 1),)))
    _answer(side, opened, BrokerResult(status="filled", broker_order_id="o-1", fills=(
        _fill("open", 6.0, 100.0, 1), _fill("open", 4.0, 101.0, 2))))
    closing = _closing(side, asset, opened, "close", quantity=10.0)
    _answer(side, closing, BrokerResult(status="partially_filled",
                                        fills=(_fill("close", 3.0, 104.0, 3),)))
    _answer(side, closing, BrokerResult(status="cancelled",
                                        fills=(_fill("close", 3.0, 104.0, 3),)))
    (position,) = [p for p in side.positions() if p["status"] == "open"]
    with side.unit() as books:
        book_mark_fill(books, asset, Fill(client_order_id=None, quantity=7.0, price=97.0,
                                          commission=0.5, time=NOW + timedelta(minutes=9),
                                          position_id=position["id"], reason="take_profit"),
                       NOW + timedelta(minutes=9))
    return side.orders(), side.positions(), side.audit()


def test_sql_and_memory_books_end_with_identical_rows(side):
    if side.name == "memory":
        pytest.skip("compared against memory from the SQL runs")
    memory = _everything(MemorySide())
    sql = _everything(side)
    assert sql[0] == memory[0]
    assert sql[1] == memory[1]
    assert sql[2] == memory[2]
    assert len(sql[1]) == 2 and all(p["status"] == "closed" for p in sql[1])


# -------------------------------------------------------------------- placing

def _stage(side: Any, intent: Any, coid: str, limits: RiskLimits | None = None) -> Any:
    from lts.trading.orders import stage_pending

    with side.unit() as books:
        order, _ = stage_pending(books, intent, coid, NOW, limits or RiskLimits())
        return order.id


def test_placing_stages_a_pending_row_its_audit_and_links_the_position_it_closes(side):
    from lts.trading.orders import OrderIntent

    asset = side.asset(side.portfolio())
    opened = _stage(side, OrderIntent(asset_id=asset, side="buy", quantity=10.0,
                                      reference_price=100.0, reason="why"), "lts-1-1-1")
    (order,) = side.orders()
    assert (order["status"], order["price"], order["reason"], order["quantity"]) == \
        ("pending", 100.0, "why", 10.0)
    created = [a for a in side.audit() if a["action"] == "order.created"]
    assert [a["resource"] for a in created] == [f"order:{opened}"]
    _answer(side, opened, BrokerResult(status="filled", fills=(
        _fill("lts-1-1-1", 10.0, 100.0, 0),)))
    (position,) = side.positions()
    close = OrderIntent(asset_id=asset, side="sell", quantity=10.0, reference_price=100.0,
                        closes_position_id=position["id"])
    closing = _stage(side, close, "lts-1-1-2")
    assert side.positions()[0]["close_order_id"] == closing
    # A second close while the first is live is refused: never sell the position twice.
    with pytest.raises(RiskRejected) as refused:
        _stage(side, close, "lts-1-1-3")
    assert refused.value.check == "position"
    assert len(side.orders()) == 2
    # An opening order beyond the allocation is refused before any row is written.
    with pytest.raises(RiskRejected) as refused:
        _stage(side, OrderIntent(asset_id=asset, side="buy", quantity=100.0,
                                 reference_price=100.0), "lts-1-1-4")
    assert refused.value.check in ("margin", "allocation")
    assert len(side.orders()) == 2
    with pytest.raises((IntegrityError, DuplicateClientOrderId)):
        _stage(side, OrderIntent(asset_id=asset, side="buy", quantity=1.0,
                                 reference_price=100.0), "lts-1-1-1")


# ------------------------------------------------- the live executor vs memory

def _snapshot(price: float) -> Any:
    import pandas as pd

    from lts.plugins.base import MarketSnapshot

    candles = pd.DataFrame({"open": [price], "high": [price], "low": [price],
                            "close": [price], "volume": [1.0]},
                           index=pd.DatetimeIndex([NOW - timedelta(minutes=1)], tz=UTC))
    return MarketSnapshot(symbol="AAA", candles=candles, as_of=NOW)


PLACED_COLUMNS = ("asset_id", "side", "quantity", "price", "status", "client_order_id",
                  "filled_quantity", "fill_price", "commission", "reason", "source",
                  "created_at", "updated_at", "filled_at", "broker_order_id", "order_type")


def _script(place: Any, position_id: Any) -> list[tuple[str, str | None]]:
    """Open, open beyond the allocation, close, close again: what each placing answered."""
    from lts.trading.orders import OrderIntent

    answers = []
    for n, price in ((1, 100.0), (2, 101.0)):
        placed = place(OrderIntent(asset_id=1, side="buy", quantity=10.0,
                                   reference_price=price, reason=f"open {n}"),
                       f"lts-1-0-{n}", price)
        answers.append((placed.status, placed.rejected_by))
    for n in (3, 4):
        placed = place(OrderIntent(asset_id=1, side="sell", quantity=10.0,
                                   reference_price=103.0, reason="close",
                                   closes_position_id=position_id()), f"lts-1-0-{n}", 103.0)
        answers.append((placed.status, placed.rejected_by))
    return answers


def test_the_live_executor_and_memory_placing_book_the_same_rows(db):
    """OrderExecutor.place over SQLite and place_on_books over MemoryBooks, same broker."""
    from lts.trading.orders import OrderExecutor, place_on_books
    from lts.trading.plugin_calls import PluginCaller
    from lts.trading.units import build_unit
    from tests.factories import gen_asset, gen_portfolio, gen_user
    from tests.trading_fakes import FAKE_ASSET, fake_source, reset_book

    reset_book()
    gen_asset(gen_portfolio(gen_user(), total_capital=10_000.0), "AAA",
              allocated_capital=1_500.0, **FAKE_ASSET)
    db.session.commit()
    from lts.models import Asset

    unit = build_unit(fake_source(), db.session.get(Asset, 1))
    db.session.commit()
    caller = PluginCaller(current_app._get_current_object())
    executor = OrderExecutor(db.session(), caller, RiskLimits(), 10.0)
    try:
        live = _script(lambda intent, coid, price: executor.place(
            intent, coid, unit.info, unit.broker, _snapshot(price), NOW),
            lambda: db.session.scalars(select(Position.id)).first())
    finally:
        executor.close()
        caller.close()
        db.session.commit()
    reset_book()
    memory = MemoryBooks()
    memory.add_portfolio(1, total_capital=10_000.0)
    memory.add_asset(1, 1, allocated_capital=1_500.0)
    in_memory = _script(lambda intent, coid, price: place_on_books(
        memory, intent, coid, unit.info, unit.broker, _snapshot(price), NOW, RiskLimits()),
        lambda: next(iter(memory.positions)))
    reset_book()
    assert live == in_memory == [("filled", None), ("rejected", "allocation"),
                                 ("filled", None), ("rejected", "position")]
    sql = SqlSide("sqlite", current_app._get_current_object())
    assert [_plain(r, PLACED_COLUMNS) for r in sql.orders()] == \
        [_plain(o.values(), PLACED_COLUMNS) for o in memory.orders.values()]
    assert sql.positions() == [_plain(p.values(), POSITION_COLUMNS)
                               for p in memory.positions.values()]
    (position,) = sql.positions()
    # 10 x (103 - 100) less the fake broker's two commissions of 1.
    assert (position["status"], position["realized_pnl"]) == ("closed", 28.0)
    memory_audit = [a for a in memory.audit]
    sql_audit = [a for a in sql._rows(AuditLog, AUDIT_COLUMNS)
                 if a["action"].startswith("order.")]
    assert [(a["action"], a["resource"], a["outcome"]) for a in sql_audit] == \
        [(a["action"], a["resource"], a["outcome"]) for a in memory_audit]
