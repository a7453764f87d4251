"""Orders sent to brokers and the positions their fills open and close.

Both tables are financial records: rows are never deleted by cascades (``RESTRICT``).
Money and quantities are floats as the seed specifies; services round prices and
quantities to the instrument's step before storing them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lts.extensions import db
from lts.models.enums import (
    DECISION_ACTIONS,
    ORDER_SIDES,
    ORDER_SOURCES,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    POSITION_STATUSES,
    check_in,
)
from lts.models.portfolio import Asset
from lts.models.types import UTCDateTime, utcnow


class Order(db.Model):
    """An order, written ``pending`` with its ``client_order_id`` before the broker call."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(check_in("order_type", ORDER_TYPES), name="order_type"),
        CheckConstraint(check_in("side", ORDER_SIDES), name="side"),
        CheckConstraint(check_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(check_in("source", ORDER_SOURCES), name="source"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("filled_quantity >= 0", name="filled_quantity_non_negative"),
        Index("ix_orders_asset_id_created_at", "asset_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    order_type: Mapped[str] = mapped_column(String(8), default="market")
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float]
    price: Mapped[float | None]
    stop_loss: Mapped[float | None]
    take_profit: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(100))
    broker_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_order_id: Mapped[str] = mapped_column(String(100), unique=True)
    fill_price: Mapped[float | None]
    reason: Mapped[str | None] = mapped_column(Text)
    filled_quantity: Mapped[float] = mapped_column(default=0.0)
    commission: Mapped[float] = mapped_column(default=0.0)
    source: Mapped[str] = mapped_column(String(16), default="strategy")
    # The process whose placing call wrote the row (lts.trading.lease.process_holder_id):
    # reconciliation leaves a young pending order alone while that process is alive.
    placed_by: Mapped[str | None] = mapped_column(String(200))
    # The pipeline, strategy, broker and portfolio plugins in use when the row was
    # written: {kind: {name, version, interface_version}} (lts.trading.plugin_versions).
    plugin_versions: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    asset: Mapped[Asset] = relationship()

    def __repr__(self) -> str:
        return f"<Order {self.id} {self.client_order_id} {self.side} {self.status}>"


class Position(db.Model):
    """A holding opened by a fill and closed by another; keeps its own P&L."""

    __tablename__ = "positions"
    __table_args__ = (
        CheckConstraint(check_in("side", POSITION_SIDES), name="side"),
        CheckConstraint(check_in("status", POSITION_STATUSES), name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    side: Mapped[str] = mapped_column(String(5))
    quantity: Mapped[float]
    entry_price: Mapped[float]
    current_price: Mapped[float | None]
    unrealized_pnl: Mapped[float] = mapped_column(default=0.0)
    realized_pnl: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)
    broker_position_id: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    close_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT")
    )
    exit_price: Mapped[float | None]
    stop_loss: Mapped[float | None]
    take_profit: Mapped[float | None]
    commission: Mapped[float] = mapped_column(default=0.0)

    asset: Mapped[Asset] = relationship()
    order: Mapped[Order] = relationship(foreign_keys=[order_id])
    close_order: Mapped[Order | None] = relationship(foreign_keys=[close_order_id])

    def __repr__(self) -> str:
        return f"<Position {self.id} {self.side} {self.quantity} {self.status}>"


class AssetDecision(db.Model):
    """The strategy's latest decision for an asset and why: one row per asset.

    Holds are decisions too, and "why did it not trade?" is what a user asks first; an
    order keeps its own reason, but a hold leaves nothing else behind. The engine
    overwrites the row every tick, so it never grows; it goes with its asset.
    """

    __tablename__ = "asset_decisions"
    __table_args__ = (
        CheckConstraint(check_in("action", DECISION_ACTIONS), name="action"),
        CheckConstraint("orders_placed >= 0", name="orders_placed_non_negative"),
    )

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(8))
    side: Mapped[str | None] = mapped_column(String(4))
    reason: Mapped[str] = mapped_column(String(500), default="")
    orders_placed: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<AssetDecision {self.asset_id} {self.action} {self.decided_at}>"


class SchedulerLease(db.Model):
    """Which process runs ticks: the holder renews before ``expires_at`` or loses it."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<SchedulerLease {self.name} held by {self.holder}>"


class ProcessClaim(db.Model):
    """A running process says it is alive until ``expires_at`` (its loop renews it).

    Orders name the process that placed them; once its claim has expired, none of its
    placing calls can still be in flight, so reconciliation may settle its orders.
    """

    __tablename__ = "process_claims"

    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    def __repr__(self) -> str:
        return f"<ProcessClaim {self.holder} until {self.expires_at}>"
