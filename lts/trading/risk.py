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

from sqlalchemy import func, select
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


def check_order(session: Session, portfolio: Portfolio, asset: Asset, order: OrderCheck,
                limits: RiskLimits, now: datetime) -> None:
    """Raise RiskRejected naming the first check ``order`` fails.

    Closing orders reduce risk, so they pass ``reducing`` and the size limits; only a
    halted portfolio or the global kill switch stops them, and flatten orders sent by
    the kill switch itself pass even those.
    """
    if limits.kill_switch and not order.flatten:
        raise RiskRejected("kill_switch", "the global kill switch is on")
    if portfolio.risk_state == "halted" and not order.flatten:
        raise RiskRejected("risk_state", f"portfolio {portfolio.id} is halted")
    if order.closing:
        return
    if portfolio.risk_state == "reducing":
        raise RiskRejected("risk_state",
                           f"portfolio {portfolio.id} is reducing: only closing orders pass")
    if limits.max_order_notional is not None and \
            order.notional > limits.max_order_notional + _TOLERANCE:
        raise RiskRejected("max_order_notional",
                           f"notional {order.notional:.2f} exceeds "
                           f"{limits.max_order_notional:.2f}")
    recent = _orders_last_minute(session, portfolio.id, now)
    if recent >= limits.max_orders_per_minute:
        raise RiskRejected("max_orders_per_minute",
                           f"portfolio {portfolio.id} sent {recent} orders in the last minute "
                           f"(limit {limits.max_orders_per_minute})")
    used = committed_capital(session, asset.id, order.leverage)
    margin = order.notional / order.leverage
    if used + margin > asset.allocated_capital * (1 + _TOLERANCE) + _TOLERANCE:
        raise RiskRejected("allocation",
                           f"needs {margin:.2f} but only "
                           f"{max(asset.allocated_capital - used, 0):.2f} of the "
                           f"{asset.allocated_capital:.2f} allocated to asset {asset.id} is free")


def _orders_last_minute(session: Session, portfolio_id: int, now: datetime) -> int:
    """Orders of the portfolio created in the 60 seconds before ``now``."""
    return int(session.scalar(
        select(func.count(Order.id)).join(Asset, Asset.id == Order.asset_id)
        .where(Asset.portfolio_id == portfolio_id,
               Order.created_at > now - timedelta(minutes=1))
    ) or 0)


def committed_capital(session: Session, asset_id: int, leverage: float = 1.0) -> float:
    """Capital tied up in the asset: open positions plus live opening orders.

    Notional is divided by ``leverage``; a partially filled order counts whole (its
    position too): erring on the safe side.
    """
    positions = session.scalar(
        select(func.coalesce(func.sum(Position.quantity * Position.entry_price), 0.0))
        .where(Position.asset_id == asset_id, Position.status == "open")
    ) or 0.0
    closing_ids = select(Position.close_order_id).where(
        Position.asset_id == asset_id, Position.close_order_id.is_not(None))
    orders = session.scalar(
        select(func.coalesce(func.sum(Order.quantity * func.coalesce(Order.price, 0.0)), 0.0))
        .where(Order.asset_id == asset_id, Order.status.in_(OPEN_STATUSES),
               Order.id.not_in(closing_ids))
    ) or 0.0
    return float(positions + orders) / leverage
