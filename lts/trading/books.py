"""Where booking an order's answer reads and writes: the ORM session, or Core rows.

:func:`lts.trading.orders.apply_broker_result` and :func:`lts.trading.positions.apply_fill`
hold the rules (state machine, fills, P&L) once; they reach storage only through the
small :class:`Books` interface. :class:`SessionBooks` serves ORM objects (reconciliation,
broker-reported fills: rare paths). :class:`lts.trading.core_books.CoreBooks` serves plain
records written with a few Core statements, for the hot path of placing an order.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lts.models import Position


class Books(Protocol):
    """Storage operations the booking rules need."""

    def add(self, row: Any) -> None:
        """Add an audit row (an AuditLog) to the transaction."""

    def related_positions(self, order: Any) -> list[Any]:
        """Return the open position ``order`` closes and any position it opened."""

    def new_position(self, **values: Any) -> Any:
        """Create a position with ``values``; it is written with the transaction."""

    def position_closed_by(self, order_id: int) -> Any | None:
        """Return the open position whose closing order is ``order_id``, if any."""


class SessionBooks:
    """:class:`Books` on an ORM session: objects are flushed by the session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        """Add an ORM object to the session."""
        self.session.add(row)

    def related_positions(self, order: Any) -> list[Any]:
        """One query finds either the open position this order closes or the one it opened."""
        return list(self.session.scalars(select(Position).where(or_(
            and_(Position.close_order_id == order.id, Position.status == "open"),
            Position.order_id == order.id))).all())

    def new_position(self, **values: Any) -> Any:
        """Create and add a Position."""
        position = Position(**values)
        self.session.add(position)
        return position

    def position_closed_by(self, order_id: int) -> Any | None:
        """Read the open position ``order_id`` closes."""
        return self.session.scalar(select(Position).where(Position.close_order_id == order_id,
                                                          Position.status == "open"))


def as_books(target: Any) -> Books:
    """Pass :class:`Books` through; wrap a session (or a ``scoped_session``)."""
    if hasattr(target, "related_positions"):
        return target  # type: ignore[no-any-return]
    return SessionBooks(target)
