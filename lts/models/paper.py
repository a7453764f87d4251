"""The paper broker's own book: the orders the simulated exchange has accepted.

It also keeps, per resting order (``paper_orders.last_checked_bar``) and per position it
watches (``paper_position_checks``), the time of the newest bar it has checked, so that
the next check starts right after it however long the loop was down (SPEC 2a,
"Protection never lapses").

Kept apart from the engine's ``orders`` table on purpose. The engine writes its Order
row before calling the broker; the paper broker writes here inside ``submit``, in its
own short transaction, as a real exchange would on its side. After a crash the engine
asks the broker by ``client_order_id`` and the answer comes from this table, so the two
books can be compared and an order is never sent twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lts.extensions import db
from lts.models.enums import ORDER_SIDES, ORDER_TYPES, check_in
from lts.models.types import UTCDateTime, utcnow

PAPER_ORDER_STATUSES = ("submitted", "filled", "cancelled", "rejected")
PAPER_ORDER_KINDS = ("open", "close", "stop_loss", "take_profit")


class PaperOrder(db.Model):
    """One order as the paper exchange recorded it, with its fill."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        CheckConstraint(check_in("side", ORDER_SIDES), name="side"),
        CheckConstraint(check_in("order_type", ORDER_TYPES), name="order_type"),
        CheckConstraint(check_in("status", PAPER_ORDER_STATUSES), name="status"),
        CheckConstraint(check_in("kind", PAPER_ORDER_KINDS), name="kind"),
        # A rejected order may carry the unusable quantity it was sent with (0 for NaN).
        CheckConstraint("quantity > 0 OR status = 'rejected'", name="quantity_positive"),
        Index("ix_paper_orders_asset_id_status", "asset_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(100), unique=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(8), default="market")
    kind: Mapped[str] = mapped_column(String(12), default="open")
    quantity: Mapped[float]
    price: Mapped[float | None]  # the limit price of a limit order
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    fill_price: Mapped[float | None]
    commission: Mapped[float] = mapped_column(default=0.0)
    stop_loss: Mapped[float | None]
    take_profit: Mapped[float | None]
    position_id: Mapped[int | None]  # the engine's position this order closes, if any
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Newest bar a resting order was checked against; None: none since ``created_at``.
    last_checked_bar: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<PaperOrder {self.client_order_id} {self.side} {self.quantity} {self.status}>"


class PaperPositionCheck(db.Model):
    """The newest bar the paper broker checked a position's stop loss / take profit on.

    ``position_id`` is the engine's position (no foreign key: the exchange's book stands
    on its own, like ``paper_orders.position_id``). The row goes when the position is
    closed through the broker or by its exit.
    """

    __tablename__ = "paper_position_checks"

    position_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"),
                                          index=True)
    last_checked_bar: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<PaperPositionCheck {self.position_id} {self.last_checked_bar}>"
