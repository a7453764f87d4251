"""Pre-trade risk checks, run inside the write transaction that inserts the order.

Because the checks and the insert share one ``BEGIN IMMEDIATE`` transaction (and the
portfolio row is locked ``FOR UPDATE`` on PostgreSQL), two concurrent orders see each
other: a limit only one of them fits is passed by one only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from lts.models import Asset, Order, Portfolio, Position
from lts.trading.errors import RiskRejected
from lts.trading.order_state import OPEN_STATUSES

RISK_SETTING_KEYS = ("kill_switch", "max_order_notional", "max_orders_per_minute")
# Float noise must not turn "exactly the allocation" into a rejection.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RiskLimits:
    """The runtime limits in force for one check (read from the Config table)."""

    kill_switch: bool = False
    max_order_notional: float | None = None
    max_orders_per_minute: int = 60

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RiskLimits:
        """Build from effective settings."""
        return cls(kill_switch=bool(settings["kill_switch"]),
                   max_order_notional=settings["max_order_notional"],
                   max_orders_per_minute=int(settings["max_orders_per_minute"]))


@dataclass(frozen=True)
class OrderCheck:
    """What the checks need to know about the order being placed."""

    notional: float
    closing: bool
    flatten: bool = False
    leverage: float = 1.0


@dataclass(frozen=True)
class RiskSubject:
    """The portfolio and asset an order is checked against, read in its transaction."""

    portfolio_id: int
    risk_state: str
    asset_id: int
    allocated_capital: float


def load_subject(session: Session, asset_id: int) -> RiskSubject:
    """Read (and on PostgreSQL lock) the asset's portfolio row for the checks."""
    row = session.execute(
        select(Portfolio.id, Portfolio.risk_state, Asset.allocated_capital)
        .join(Asset, Asset.portfolio_id == Portfolio.id)
        .where(Asset.id == asset_id).with_for_update(of=Portfolio)
    ).one()
    return RiskSubject(row[0], row[1], asset_id, float(row[2]))


def check_order(session: Session, subject: RiskSubject, order: OrderCheck,
                limits: RiskLimits, now: datetime) -> None:
    """Raise RiskRejected naming the first check ``order`` fails.

    Closing orders reduce risk, so they pass ``reducing`` and the size limits; only a
    halted portfolio or the global kill switch stops them, and flatten orders sent by
    the kill switch itself pass even those.
    """
    portfolio_id = subject.portfolio_id
    if limits.kill_switch and not order.flatten:
        raise RiskRejected("kill_switch", "the global kill switch is on")
    if subject.risk_state == "halted" and not order.flatten:
        raise RiskRejected("risk_state", f"portfolio {portfolio_id} is halted")
    if order.closing:
        return
    if subject.risk_state == "reducing":
        raise RiskRejected("risk_state",
                           f"portfolio {portfolio_id} is reducing: only closing orders pass")
    if limits.max_order_notional is not None and \
            order.notional > limits.max_order_notional + _TOLERANCE:
        raise RiskRejected("max_order_notional",
                           f"notional {order.notional:.2f} exceeds "
                           f"{limits.max_order_notional:.2f}")
    recent = _orders_last_minute(session, portfolio_id, now)
    if recent >= limits.max_orders_per_minute:
        raise RiskRejected("max_orders_per_minute",
                           f"portfolio {portfolio_id} sent {recent} orders in the last minute "
                           f"(limit {limits.max_orders_per_minute})")
    used = committed_capital(session, subject.asset_id, order.leverage)
    margin = order.notional / order.leverage
    allocated = subject.allocated_capital
    if used + margin > allocated * (1 + _TOLERANCE) + _TOLERANCE:
        raise RiskRejected("allocation",
                           f"needs {margin:.2f} but only {max(allocated - used, 0):.2f} of the "
                           f"{allocated:.2f} allocated to asset {subject.asset_id} is free")


def _orders_last_minute(session: Session, portfolio_id: int, now: datetime) -> int:
    """Orders of the portfolio created in the 60 seconds before ``now``."""
    return int(session.scalar(
        select(func.count(Order.id)).join(Asset, Asset.id == Order.asset_id)
        .where(Asset.portfolio_id == portfolio_id,
               Order.created_at > now - timedelta(minutes=1))
    ) or 0)


_POSITIONS = Position.__table__
_ORDERS = Order.__table__
# One round trip: capital in open positions plus live opening orders of one asset.
_COMMITTED = select(
    select(func.coalesce(func.sum(_POSITIONS.c.quantity * _POSITIONS.c.entry_price), 0.0))
    .where(_POSITIONS.c.asset_id == bindparam("asset_id"), _POSITIONS.c.status == "open")
    .scalar_subquery(),
    select(func.coalesce(func.sum(_ORDERS.c.quantity * func.coalesce(_ORDERS.c.price, 0.0)),
                         0.0))
    .where(_ORDERS.c.asset_id == bindparam("asset_id"),
           _ORDERS.c.status.in_(OPEN_STATUSES),
           _ORDERS.c.id.not_in(select(_POSITIONS.c.close_order_id).where(
               _POSITIONS.c.asset_id == bindparam("asset_id"),
               _POSITIONS.c.close_order_id.is_not(None))))
    .scalar_subquery(),
)


def committed_capital(session: Session, asset_id: int, leverage: float = 1.0) -> float:
    """Capital tied up in the asset: open positions plus live opening orders.

    Notional is divided by ``leverage``; a partially filled order counts whole (its
    position too): erring on the safe side.
    """
    positions, orders = session.execute(_COMMITTED, {"asset_id": asset_id}).one()
    return float((positions or 0.0) + (orders or 0.0)) / leverage
