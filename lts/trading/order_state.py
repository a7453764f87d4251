"""The order state machine of SPEC 2a: the only place an order's status changes.

Every transition is checked, stamps ``updated_at`` and adds an audit row to the
caller's books (:mod:`lts.trading.books`), so it commits, or not, with the change it
describes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lts.models.enums import TERMINAL_ORDER_STATUSES
from lts.trading.errors import InvalidTransition

if TYPE_CHECKING:
    from lts.trading.books import Books

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"submitted", "unknown", "rejected", "error"}),
    "submitted": frozenset({"partially_filled", "filled", "cancelled", "rejected", "unknown"}),
    "unknown": frozenset({"submitted", "partially_filled", "filled", "cancelled",
                          "rejected", "error"}),
    "partially_filled": frozenset({"filled", "cancelled"}),
    "filled": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
    "error": frozenset(),
}
OPEN_STATUSES = ("pending", "submitted", "unknown", "partially_filled")


def is_terminal(status: str) -> bool:
    """Whether no further transition may leave ``status``."""
    return status in TERMINAL_ORDER_STATUSES


def can_transition(current: str, target: str) -> bool:
    """Whether the state machine allows ``current`` -> ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def transition(books: Books, order: Any, target: str, now: datetime,
               reason: str | None = None) -> None:
    """Move ``order`` to ``target``; raise InvalidTransition if SPEC 2a forbids it."""
    current = order.status
    if not can_transition(current, target):
        raise InvalidTransition(
            f"order {order.client_order_id}: {current} -> {target} is not allowed"
        )
    order.status = target
    order.updated_at = now
    # The order's reason is why it was placed (the decision's), never overwritten: a
    # status change's own reason goes to its audit row (and the broker's words to
    # broker_response). An order placed without one takes the first it is given.
    if reason and not order.reason:
        order.reason = reason
    values = {
        "action": "order.status", "timestamp": now, "resource": f"order:{order.id}",
        "outcome": "error" if target in ("error", "rejected") else "ok",
        "details": {"client_order_id": order.client_order_id, "from": current, "to": target,
                    "reason": reason or ""},
    }
    books.add_audit(values)


def advance(books: Books, order: Any, target: str, now: datetime,
            reason: str | None = None) -> None:
    """Move ``order`` to ``target``, through ``submitted`` when that is the only way.

    A broker may answer ``filled`` to a ``pending`` order: the order was submitted and
    filled, so both transitions are recorded. Staying in the same status is a no-op.
    """
    if order.status == target:
        return
    if not can_transition(order.status, target) and can_transition(order.status, "submitted") \
            and can_transition("submitted", target):
        transition(books, order, "submitted", now)
    transition(books, order, target, now, reason)
