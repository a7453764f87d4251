"""Settling a portfolio step's opened positions in one read (issue 16): the same rows as
one ``settle_opened`` per order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lts.models import Order, Position
from lts.trading.positions import pnl, reanchor, settle_opened_many
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def opened(db, asset, n: int, *, side: str = "long", stop: float = 99.0,
           target: float = 102.0) -> Position:
    order = Order(asset_id=asset.id, side="buy" if side == "long" else "sell", quantity=2.0,
                  status="filled", client_order_id=f"settle-{asset.id}-{n}",
                  fill_price=100.5)
    db.session.add(order)
    db.session.flush()
    position = Position(asset_id=asset.id, order_id=order.id, side=side, quantity=2.0,
                        entry_price=100.5, commission=0.25, stop_loss=stop,
                        take_profit=target)
    db.session.add(position)
    db.session.flush()
    return position


def test_each_order_settles_with_its_own_anchor_price_and_decimals(db):
    portfolio = gen_portfolio(gen_user())
    one, two = gen_asset(portfolio, "ONE"), gen_asset(portfolio, "TWO")
    pct = opened(db, one, 1)
    distance = opened(db, two, 2, side="short", stop=101.0, target=98.0)
    untouched = opened(db, two, 3)
    db.session.commit()
    plan = [(pct.order_id, 101.0, "pct", 100.0, None),
            (distance.order_id, 99.5, "distance", 100.0, 2)]
    db.session.rollback()  # end the session's read snapshot before the write
    with db.engine.begin() as connection:
        settle_opened_many(connection, plan, NOW)
    db.session.expire_all()
    got = {p.id: p for p in db.session.query(Position)}
    assert got[pct.id].stop_loss == pytest.approx(reanchor(99.0, "pct", 100.0, 100.5))
    assert got[pct.id].take_profit == pytest.approx(100.5 * 1.02)
    assert got[pct.id].current_price == 101.0
    assert got[pct.id].unrealized_pnl == pytest.approx(pnl("long", 100.5, 101.0, 2.0, 0.25))
    assert (got[distance.id].stop_loss, got[distance.id].take_profit) == (101.5, 98.5)
    assert got[distance.id].current_price == 99.5
    assert got[distance.id].unrealized_pnl == pytest.approx(
        pnl("short", 100.5, 99.5, 2.0, 0.25))
    assert (got[untouched.id].stop_loss, got[untouched.id].current_price) == (99.0, None)

