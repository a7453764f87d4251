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

from sqlalchemy import Connection, bindparam, func, or_, select

from lts.models import Asset, Order, Portfolio, Position
from lts.trading.errors import RiskRejected
from lts.trading.order_state import OPEN_STATUSES
from lts.trading.positions import OPEN_BY_ASSET

RISK_SETTING_KEYS = ("kill_switch", "risk_state", "max_order_notional",
                     "max_orders_per_minute")
# Float noise must not turn "exactly the allocation" into a rejection.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RiskLimits:
    """The runtime limits in force for one check (read from the Config table)."""

    kill_switch: bool = False
    max_order_notional: float | None = None
    max_orders_per_minute: int = 60
    global_state: str = "active"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RiskLimits:
        """Build from effective settings; the kill switch and ``risk_state`` agree on halted."""
        state = global_risk_state(settings)
        return cls(kill_switch=state == "halted",
                   max_order_notional=settings["max_order_notional"],
                   max_orders_per_minute=int(settings["max_orders_per_minute"]),
                   global_state=state)


def global_risk_state(settings: Mapping[str, Any]) -> str:
    """The global risk state from the ``kill_switch`` and ``risk_state`` settings.

    Two keys because ``kill_switch`` predates the risk states and stays settable on its
    own (config files, the admin config page): either one saying halted means halted.
    """
    if settings.get("kill_switch"):
        return "halted"
    return str(settings.get("risk_state") or "active")


@dataclass(frozen=True)
class OrderCheck:
    """What the checks need to know about the order being placed."""

    notional: float
    closing: bool
    flatten: bool = False
    leverage: float = 1.0


@dataclass(frozen=True)
class RiskSubject:
    """The portfolio and asset an order is checked against, read in its transaction.

    ``recent_orders`` counts the portfolio's orders of the last 60 s; ``committed`` is the
    asset's capital in open positions plus live opening orders (before leverage).
    """

    portfolio_id: int
    risk_state: str
    asset_id: int
    allocated_capital: float
    recent_orders: int = 0
    committed: float = 0.0


_POSITIONS = Position.__table__
_ORDERS = Order.__table__
_ASSETS = Asset.__table__
_PORTFOLIOS = Portfolio.__table__
_ASSET_ID = bindparam("asset_id")
# Capital in the asset's open positions, at entry.
_POSITIONS_CAPITAL = select(
    func.coalesce(func.sum(_POSITIONS.c.quantity * _POSITIONS.c.entry_price), 0.0)
).where(_POSITIONS.c.asset_id == _ASSET_ID, OPEN_BY_ASSET).scalar_subquery()
# Capital in the asset's live opening orders (closing orders free capital, not use it).
# The statuses are OR-ed equalities, not an expanding IN: that one is re-rendered into
# SQL text at every execution, and this query runs for every order.
_ORDERS_CAPITAL = select(
    func.coalesce(func.sum(_ORDERS.c.quantity * func.coalesce(_ORDERS.c.price, 0.0)), 0.0)
).where(_ORDERS.c.asset_id == _ASSET_ID,
        or_(*(_ORDERS.c.status == status for status in OPEN_STATUSES)),
        _ORDERS.c.id.not_in(select(_POSITIONS.c.close_order_id).where(
            _POSITIONS.c.asset_id == _ASSET_ID,
            _POSITIONS.c.close_order_id.is_not(None)))).scalar_subquery()
# The portfolio's orders of the last minute (max_orders_per_minute). The inner assets
# table is an alias: correlating it with the outer one would count one asset's orders.
_SIBLINGS = _ASSETS.alias("siblings")
_RECENT_ORDERS = select(func.count(_ORDERS.c.id)).join(
    _SIBLINGS, _SIBLINGS.c.id == _ORDERS.c.asset_id
).where(_SIBLINGS.c.portfolio_id == _PORTFOLIOS.c.id,
        _ORDERS.c.created_at > bindparam("since")).correlate(_PORTFOLIOS).scalar_subquery()
_SUBJECT = (select(_PORTFOLIOS.c.id, _PORTFOLIOS.c.risk_state, _ASSETS.c.allocated_capital)
            .join(_ASSETS, _ASSETS.c.portfolio_id == _PORTFOLIOS.c.id)
            .where(_ASSETS.c.id == _ASSET_ID))
# Everything the checks read, in one round trip: this runs for every order placed.
_SUBJECT_AND_USAGE = _SUBJECT.add_columns(_RECENT_ORDERS, _POSITIONS_CAPITAL, _ORDERS_CAPITAL)
_LOCK_PORTFOLIO = _SUBJECT.with_for_update(of=_PORTFOLIOS)


def load_subject(connection: Connection, asset_id: int, now: datetime) -> RiskSubject:
    """Read (and on PostgreSQL first lock) the asset's portfolio row and its usage.

    On SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises writers, so
    one query reads everything. On PostgreSQL the portfolio row is locked by a statement
    of its own *before* the usage is read: in READ COMMITTED each statement sees what was
    committed when it started, so an order committed while we waited for the lock is
    counted (subqueries of the locking statement itself would not see it).
    """
    if connection.dialect.name != "sqlite":
        connection.execute(_LOCK_PORTFOLIO, {"asset_id": asset_id}).one()
    row = connection.execute(_SUBJECT_AND_USAGE, {
        "asset_id": asset_id, "since": now - timedelta(minutes=1)}).one()
    return RiskSubject(row[0], row[1], asset_id, float(row[2]), int(row[3] or 0),
                       float(row[4] or 0.0) + float(row[5] or 0.0))


def check_order(subject: RiskSubject, order: OrderCheck, limits: RiskLimits) -> None:
    """Raise RiskRejected naming the first check ``order`` fails.

    Closing orders reduce risk, so they pass ``reducing`` (the portfolio's or the global
    one) and the size limits; only a halted portfolio or the global kill switch (global
    ``halted``) stops them, and flatten orders sent by
    the kill switch itself pass even those.
    """
    portfolio_id = subject.portfolio_id
    if limits.kill_switch and not order.flatten:
        raise RiskRejected("kill_switch", "the global kill switch is on")
    if subject.risk_state == "halted" and not order.flatten:
        raise RiskRejected("risk_state", f"portfolio {portfolio_id} is halted")
    if order.closing:
        return
    if limits.global_state == "reducing":
        raise RiskRejected("risk_state", "the global risk state is reducing: only closing "
                                         "orders pass")
    if subject.risk_state == "reducing":
        raise RiskRejected("risk_state",
                           f"portfolio {portfolio_id} is reducing: only closing orders pass")
    if limits.max_order_notional is not None and \
            order.notional > limits.max_order_notional + _TOLERANCE:
        raise RiskRejected("max_order_notional",
                           f"notional {order.notional:.2f} exceeds "
                           f"{limits.max_order_notional:.2f}")
    recent = subject.recent_orders
    if recent >= limits.max_orders_per_minute:
        raise RiskRejected("max_orders_per_minute",
                           f"portfolio {portfolio_id} sent {recent} orders in the last minute "
                           f"(limit {limits.max_orders_per_minute})")
    # A partially filled order counts whole (its position too): erring on the safe side.
    used = subject.committed / order.leverage
    margin = order.notional / order.leverage
    allocated = subject.allocated_capital
    if used + margin > allocated * (1 + _TOLERANCE) + _TOLERANCE:
        raise RiskRejected("allocation",
                           f"needs {margin:.2f} but only {max(allocated - used, 0):.2f} of the "
                           f"{allocated:.2f} allocated to asset {subject.asset_id} is free")
