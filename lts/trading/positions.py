"""Fills turn into positions: opening fills open or grow one, closing fills close it.

P&L (SPEC 2a): long realized = (exit - entry) x qty - commissions, short the reverse.
Unrealized P&L uses ``current_price`` the same way and already subtracts the
commissions paid so far, so equity never jumps when a position closes at its mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from lts.models import Position
from lts.plugins.base import Fill, PositionInfo
from lts.plugins.precision import round_price

if TYPE_CHECKING:
    from lts.trading.books import Books

_EPSILON = 1e-9
_TABLE = Position.__table__
# ``status || '' = 'open'`` instead of ``status = 'open'`` where rows are searched by
# asset: the same rows, but SQLite cannot use the status index for it, so it searches the
# (far more selective) asset index. Without table statistics SQLite picked the status
# index and scanned every open position of every asset, for each order's risk check.
# PostgreSQL plans from statistics and uses the asset index either way.
OPEN_BY_ASSET = _TABLE.c.status.concat("") == "open"
# Built once: the hot path of every tick runs these for every asset.
_OPEN_POSITIONS = select(
    _TABLE.c.id, _TABLE.c.asset_id, _TABLE.c.side, _TABLE.c.quantity, _TABLE.c.entry_price,
    _TABLE.c.opened_at, _TABLE.c.stop_loss, _TABLE.c.take_profit, _TABLE.c.current_price,
    _TABLE.c.broker_position_id, _TABLE.c.commission,
).where(_TABLE.c.asset_id.in_(bindparam("asset_ids", expanding=True)),
        OPEN_BY_ASSET).order_by(_TABLE.c.id)
_MARK = update(_TABLE).where(_TABLE.c.id == bindparam("pid"), _TABLE.c.status == "open"
                             ).values(current_price=bindparam("price"),
                                      unrealized_pnl=bindparam("pnl"),
                                      updated_at=bindparam("now"))


# OPEN_BY_ASSET keeps SQLite off the status index here too: it scanned every open
# position of the database for each position a tick opened (~0.25 ms each).
_OPENED_BY = select(
    _TABLE.c.id, _TABLE.c.side, _TABLE.c.quantity, _TABLE.c.entry_price, _TABLE.c.commission,
    _TABLE.c.stop_loss, _TABLE.c.take_profit,
).where(_TABLE.c.order_id == bindparam("order_id"), OPEN_BY_ASSET)
# The same for every order a portfolio's step opened (settle_opened_many): one read.
_OPENED_BY_ANY = select(
    _TABLE.c.order_id, _TABLE.c.id, _TABLE.c.side, _TABLE.c.quantity, _TABLE.c.entry_price,
    _TABLE.c.commission, _TABLE.c.stop_loss, _TABLE.c.take_profit,
).where(_TABLE.c.order_id.in_(bindparam("order_ids", expanding=True)), OPEN_BY_ASSET)
_SETTLE = update(_TABLE).where(_TABLE.c.id == bindparam("pid"), _TABLE.c.status == "open"
                               ).values(stop_loss=bindparam("stop"),
                                        take_profit=bindparam("target"),
                                        current_price=bindparam("price"),
                                        unrealized_pnl=bindparam("pnl"),
                                        updated_at=bindparam("now"))


def direction(side: str) -> int:
    """+1 for a long position, -1 for a short one."""
    return 1 if side == "long" else -1


def pnl(side: str, entry: float, price: float, quantity: float, commission: float) -> float:
    """P&L of ``quantity`` from ``entry`` to ``price``, less ``commission``."""
    return direction(side) * (price - entry) * quantity - commission


def position_info(position: Any) -> PositionInfo:
    """Build the frozen view of a position plugins receive."""
    return PositionInfo(
        id=position.id, asset_id=position.asset_id, side=position.side,  # type: ignore[arg-type]
        quantity=position.quantity, entry_price=position.entry_price,
        opened_at=position.opened_at, stop_loss=position.stop_loss,
        take_profit=position.take_profit, current_price=position.current_price,
        broker_position_id=position.broker_position_id,
    )


def open_positions(session: Session | Connection, asset_ids: list[int]
                   ) -> dict[int, list[tuple[PositionInfo, float]]]:
    """Open positions per asset with the commissions they paid, in one light query."""
    held: dict[int, list[tuple[PositionInfo, float]]] = {}
    if not asset_ids:
        return held
    for r in session.execute(_OPEN_POSITIONS, {"asset_ids": asset_ids}):
        info = PositionInfo(id=r.id, asset_id=r.asset_id, side=r.side, quantity=r.quantity,
                            entry_price=r.entry_price, opened_at=r.opened_at,
                            stop_loss=r.stop_loss, take_profit=r.take_profit,
                            current_price=r.current_price,
                            broker_position_id=r.broker_position_id)
        held.setdefault(r.asset_id, []).append((info, r.commission))
    return held


def mark_params(positions: list[tuple[PositionInfo, float]], price: float, now: datetime
                ) -> list[dict[str, Any]]:
    """The parameters of :func:`write_marks` for marking ``positions`` at ``price``."""
    return [{"pid": info.id, "price": price, "now": now,
             "pnl": pnl(info.side, info.entry_price, price, info.quantity, commission)}
            for info, commission in positions]


def write_marks(session: Session | Connection, params: list[dict[str, Any]]) -> None:
    """Write marks (see :func:`mark_params`) with one executemany UPDATE of open rows."""
    if params:
        session.execute(_MARK, params)


def mark_rows(session: Session | Connection, positions: list[tuple[PositionInfo, float]],
              price: float, now: datetime) -> list[PositionInfo]:
    """Mark open positions at ``price`` with one executemany UPDATE; return updated views."""
    write_marks(session, mark_params(positions, price, now))
    return [replace(info, current_price=price) for info, _ in positions]


def mark_to_market(position: Any, price: float, now: datetime) -> None:
    """Set ``current_price`` and ``unrealized_pnl`` of an open position."""
    position.current_price = price
    position.unrealized_pnl = pnl(position.side, position.entry_price, price,
                                  position.quantity, position.commission)
    position.updated_at = now


def average_price(price: float | None, quantity: float, added_price: float,
                  added_quantity: float) -> float:
    """The average price after adding ``added_quantity`` at ``added_price``.

    Written as a move from the old average, not (p1 q1 + p2 q2) / (q1 + q2): a first
    fill, or fills all at one price, keep the broker's price exactly (the sum form
    turned one fill at 1.80737 of 29.15 units into 1.8073700000000001, about one fill in
    eight), so the stored fill price is what the broker said (issue 18).
    """
    if price is None or quantity <= 0:
        return added_price
    total = quantity + added_quantity
    if total <= 0 or added_price == price:
        return price
    return price + (added_price - price) * added_quantity / total


def record_fill_on_order(order: Any, fill: Fill) -> None:
    """Add a fill to the order's filled quantity, average price and commission."""
    total = order.filled_quantity + fill.quantity
    order.fill_price = average_price(order.fill_price, order.filled_quantity, fill.price,
                                     fill.quantity)
    order.filled_quantity = total
    order.commission = (order.commission or 0.0) + fill.commission


def apply_fill(books: Books, order: Any, fill: Fill, now: datetime) -> Any:
    """Book one fill of ``order``: open/grow its position, or close the one it closes.

    ``order`` is a record of ``books`` (:mod:`lts.trading.books`).
    """
    record_fill_on_order(order, fill)
    related = books.related_positions(order)
    closing = next((p for p in related
                    if p.close_order_id == order.id and p.status == "open"), None)
    if closing is not None:
        _book_closing_fill(books, closing, order, fill, now)
        return closing
    # A position the order opened and a part of it already closed (split off below) share
    # the order: more opening fills grow the part still open.
    opened = next((p for p in related if p.order_id == order.id and p.status == "open"),
                  None)
    return _book_opening_fill(books, order, fill, now, opened)


def _book_opening_fill(books: Books, order: Any, fill: Fill, now: datetime,
                       position: Any | None) -> Any:
    """Open the order's position, or grow it at the average entry price."""
    if position is None:
        position = books.new_position(
            asset_id=order.asset_id, order_id=order.id,
            side="long" if order.side == "buy" else "short",
            quantity=fill.quantity, entry_price=fill.price, commission=fill.commission,
            stop_loss=order.stop_loss, take_profit=order.take_profit,
            status="open", opened_at=fill.time, updated_at=now, realized_pnl=0.0,
        )
    else:
        total = position.quantity + fill.quantity
        position.entry_price = average_price(position.entry_price, position.quantity,
                                             fill.price, fill.quantity)
        position.quantity = total
        position.commission += fill.commission
    mark_to_market(position, fill.price, now)
    return position


def _book_closing_fill(books: Books, position: Any, order: Any, fill: Fill,
                       now: datetime) -> None:
    """Close the position, or split off the part this fill closes as a closed position.

    A fill for less than the open quantity closes that much at once: a new closed
    position row (same opening order, entry and times) holds the closed quantity, its
    realized P&L and its share of the commissions; the open position keeps the rest.
    So the open quantity always matches what the broker still holds, and if the closing
    order then dies (cancelled, expired), the next closing order is sized for the rest,
    never for quantity already sold. Equity moves by the fill's commission only.
    """
    closed = min(fill.quantity, position.quantity)
    rest = position.quantity - closed
    if closed <= _EPSILON:  # a fill of nothing (a broker's odd report): only its fee
        position.commission += fill.commission
        mark_to_market(position, fill.price, now)
        return
    if rest > _EPSILON:
        paid_share = position.commission * closed / position.quantity
        lot_commission = paid_share + fill.commission
        books.new_position(
            asset_id=position.asset_id, order_id=position.order_id,
            close_order_id=order.id, side=position.side, quantity=closed,
            entry_price=position.entry_price, commission=lot_commission,
            stop_loss=position.stop_loss, take_profit=position.take_profit,
            broker_position_id=position.broker_position_id, status="closed",
            opened_at=position.opened_at, closed_at=fill.time, exit_price=fill.price,
            current_price=fill.price, unrealized_pnl=0.0, updated_at=now,
            realized_pnl=pnl(position.side, position.entry_price, fill.price, closed,
                             lot_commission))
        position.quantity = rest
        position.commission -= paid_share
        mark_to_market(position, fill.price, now)
        return
    position.commission += fill.commission
    position.exit_price = fill.price
    position.current_price = fill.price
    position.realized_pnl = pnl(position.side, position.entry_price, fill.price,
                                position.quantity, position.commission)
    position.unrealized_pnl = 0.0
    position.status = "closed"
    position.closed_at = fill.time
    position.updated_at = now


def reanchor(level: float | None, anchor: str, reference: float, fill: float,
             price_decimals: int | None = None) -> float | None:
    """Move an exit level computed from ``reference`` to the ``fill`` (see Decision).

    ``pct`` keeps the percentage distance, ``distance`` the price distance; ``price``
    (absolute levels) and unusable prices leave the level as it is. A moved level is
    rounded half-even to the instrument's ``price_decimals`` (None: as computed), as
    the broker will hold it (:mod:`lts.plugins.precision`).
    """
    if level is None or reference <= 0 or fill <= 0:
        return level
    if anchor == "pct":
        return round_price(level * fill / reference, price_decimals)
    if anchor == "distance":
        return round_price(level + (fill - reference), price_decimals)
    return level


def settle_opened(connection: Connection, order_id: int, last_price: float, *,
                  anchor: str, reference: float, now: datetime,
                  price_decimals: int | None = None) -> None:
    """Finish a position an opening order just opened: exits from the fill, mark at the close.

    The position was booked at its fill price (spread and slippage included); it is
    marked at the snapshot's last close like every other position, so equity shows the
    cost of the spread at once. Relative stop loss / take profit levels are measured from
    the fill price (SPEC 2a, :class:`lts.plugins.base.Decision`).
    """
    rows = connection.execute(_OPENED_BY, {"order_id": order_id}).all()
    if not rows:
        return
    connection.execute(_SETTLE, [
        {"pid": r.id, "now": now, "price": last_price,
         "stop": reanchor(r.stop_loss, anchor, reference, r.entry_price, price_decimals),
         "target": reanchor(r.take_profit, anchor, reference, r.entry_price,
                            price_decimals),
         "pnl": pnl(r.side, r.entry_price, last_price, r.quantity, r.commission)}
        for r in rows])


def settle_opened_many(connection: Connection,
                       opened: Sequence[tuple[int, float, str, float, int | None]],
                       now: datetime) -> None:
    """:func:`settle_opened` for several opening orders: one read, one executemany UPDATE.

    ``opened``: ``(order_id, last_price, anchor, reference, price_decimals)`` each, as a
    portfolio's step collects them (``TickContext.opened``). The same rows and values
    as one :func:`settle_opened` per order, in two statements instead of two per order.
    """
    if not opened:
        return
    how = {order_id: (last_price, anchor, reference, decimals)
           for order_id, last_price, anchor, reference, decimals in opened}
    rows = connection.execute(_OPENED_BY_ANY, {"order_ids": list(how)}).all()
    if not rows:
        return
    params = []
    for r in rows:
        last_price, anchor, reference, decimals = how[r.order_id]
        params.append({
            "pid": r.id, "now": now, "price": last_price,
            "stop": reanchor(r.stop_loss, anchor, reference, r.entry_price, decimals),
            "target": reanchor(r.take_profit, anchor, reference, r.entry_price, decimals),
            "pnl": pnl(r.side, r.entry_price, last_price, r.quantity, r.commission)})
    connection.execute(_SETTLE, params)
