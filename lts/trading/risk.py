"""Pre-trade risk checks, run inside the write transaction that inserts the order.

Because the checks and the insert share one ``BEGIN IMMEDIATE`` transaction (and the
portfolio row is locked ``FOR UPDATE`` on PostgreSQL), two concurrent orders see each
other: a limit only one of them fits is passed by one only.

The free-margin check (SPEC 2a) covers the whole portfolio: an order that increases
exposure needs notional / leverage <= equity - margin used, where equity is
total_capital + realized + unrealized P&L and margin used is, per asset, the cost of its
open positions and live opening orders over that asset's leverage (the order's own
broker for its asset, the stored broker config's ``leverage`` for the others).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Text, bindparam, case, cast, func, or_, select

from lts.models import Asset, Order, Portfolio, Position
from lts.trading.errors import RiskRejected
from lts.trading.order_state import OPEN_STATUSES
from lts.trading.positions import OPEN_BY_ASSET
from lts.trading.units import config_leverage

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
    ``equity`` is the portfolio's current equity (None: not known, no margin check) and
    ``other_margin`` the margin used by its other assets (after their leverage).
    ``asset_active`` False: the asset is deactivated, reduce-only until flat.
    """

    portfolio_id: int
    risk_state: str
    asset_id: int
    allocated_capital: float
    recent_orders: int = 0
    committed: float = 0.0
    equity: float | None = None
    other_margin: float = 0.0
    asset_active: bool = True


_POSITIONS = Position.__table__
_ORDERS = Order.__table__
_ASSETS = Asset.__table__
_PORTFOLIOS = Portfolio.__table__
_ASSET_ID = bindparam("asset_id")
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
_SUBJECT_AND_RECENT = _SUBJECT.add_columns(_PORTFOLIOS.c.total_capital, _RECENT_ORDERS,
                                           _ASSETS.c.is_active)
_LOCK_PORTFOLIO = _SUBJECT.with_for_update(of=_PORTFOLIOS)
_LOCK_PORTFOLIO_BY_ID = (select(_PORTFOLIOS.c.id).where(_PORTFOLIOS.c.id == bindparam("pid"))
                         .with_for_update())


def lock_portfolio(connection: Connection, portfolio_id: int) -> None:
    """Lock the portfolio row first (PostgreSQL), before any position row is written.

    Why: placing locks the portfolio (:func:`load_subject`) and then links or writes
    positions. A tick transaction that wrote positions first (marks, settling new
    positions) and then touched the portfolio row (a statistics row's foreign key takes
    ``KEY SHARE`` on it; a halt updates it) waited on that placing while it waited on
    the positions: a deadlock, seen under load. One order for everybody, portfolio then
    positions, makes the cycle impossible. SQLite's ``BEGIN IMMEDIATE`` already
    serialises writers.
    """
    if connection.dialect.name != "sqlite":
        connection.execute(_LOCK_PORTFOLIO_BY_ID, {"pid": portfolio_id}).one()
# Per asset of the portfolio: its committed capital (open positions at entry, plus live
# opening orders: closing orders free capital, not use it) and its P&L (realized over
# all positions, unrealized over open ones), for the equity and the margin of the whole
# portfolio. One round trip; a few rows per portfolio.
_EACH = _ASSETS.alias("each_asset")
_EACH_POSITIONS = select(
    func.coalesce(func.sum(_POSITIONS.c.quantity * _POSITIONS.c.entry_price), 0.0)
).where(_POSITIONS.c.asset_id == _EACH.c.id, OPEN_BY_ASSET).correlate(_EACH).scalar_subquery()
# The statuses are OR-ed equalities, not an expanding IN: that one is re-rendered into
# SQL text at every execution, and this query runs for every order.
# The closing orders' subquery is correlated to the asset explicitly: left to itself it
# took ``each_asset`` into its own FROM and scanned every position of the database.
_EACH_ORDERS = select(
    func.coalesce(func.sum(_ORDERS.c.quantity * func.coalesce(_ORDERS.c.price, 0.0)), 0.0)
).where(_ORDERS.c.asset_id == _EACH.c.id,
        or_(*(_ORDERS.c.status == status for status in OPEN_STATUSES)),
        _ORDERS.c.id.not_in(select(_POSITIONS.c.close_order_id).where(
            _POSITIONS.c.asset_id == _EACH.c.id,
            _POSITIONS.c.close_order_id.is_not(None)).correlate(_EACH))
        ).correlate(_EACH).scalar_subquery()
_EACH_PNL = select(func.coalesce(func.sum(
    _POSITIONS.c.realized_pnl
    + case((_POSITIONS.c.status == "open", _POSITIONS.c.unrealized_pnl), else_=0.0)), 0.0)
).where(_POSITIONS.c.asset_id == _EACH.c.id).correlate(_EACH).scalar_subquery()
# The broker config as its stored text (decoded, with its leverage, once per distinct
# text by :func:`_text_leverage`): decoding the JSON of every asset for every order
# cost more than the rest of the row.
_PORTFOLIO_USAGE = select(_EACH.c.id, cast(_EACH.c.broker_config, Text), _EACH_POSITIONS,
                          _EACH_ORDERS, _EACH_PNL).where(_EACH.c.portfolio_id == bindparam("pid"))


@functools.lru_cache(maxsize=4096)
def _text_leverage(raw: str | None) -> float:
    """:func:`config_leverage` of a broker config given as its stored JSON text."""
    if raw is None:
        return 1.0
    try:
        config = json.loads(raw)
    except (TypeError, ValueError):
        return 1.0
    return config_leverage(config if isinstance(config, dict) else None)


def load_subject(connection: Connection, asset_id: int, now: datetime, *,
                 closing: bool = False) -> RiskSubject:
    """Read (and on PostgreSQL first lock) the asset's portfolio row and its usage.

    On SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises writers, so
    one query reads everything. On PostgreSQL the portfolio row is locked by a statement
    of its own *before* the usage is read: in READ COMMITTED each statement sees what was
    committed when it started, so an order committed while we waited for the lock is
    counted (subqueries of the locking statement itself would not see it).

    ``closing``: the subject of a closing order, whose checks (:func:`check_order`) stop
    at the risk states, so the portfolio's usage is not read (``equity`` stays None).
    That query is most of the cost of the checks, and closes are a large share of orders.
    """
    if connection.dialect.name != "sqlite":
        connection.execute(_LOCK_PORTFOLIO, {"asset_id": asset_id}).one()
    row = connection.execute(_SUBJECT_AND_RECENT, {
        "asset_id": asset_id, "since": now - timedelta(minutes=1)}).one()
    portfolio_id = row[0]
    if closing:
        return RiskSubject(portfolio_id, row[1], asset_id, float(row[2]), int(row[4] or 0),
                           asset_active=bool(row[5]))
    equity = float(row[3])
    committed = other_margin = 0.0
    for each_id, broker_config, positions, orders, pnl in connection.execute(
            _PORTFOLIO_USAGE, {"pid": portfolio_id}):
        equity += float(pnl or 0.0)
        used = float(positions or 0.0) + float(orders or 0.0)
        if each_id == asset_id:
            committed = used
        elif used:
            other_margin += used / _text_leverage(broker_config)
    return RiskSubject(portfolio_id, row[1], asset_id, float(row[2]), int(row[4] or 0),
                       committed, equity=equity, other_margin=other_margin,
                       asset_active=bool(row[5]))


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
    if not subject.asset_active:
        raise RiskRejected("reduce_only", f"asset {subject.asset_id} is deactivated: "
                                          "reduce-only until flat")
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
    if subject.equity is not None:
        free = subject.equity - subject.other_margin - used
        if margin > free * (1 + _TOLERANCE) + _TOLERANCE:
            raise RiskRejected("margin",
                               f"insufficient margin: needs {margin:.2f} but only "
                               f"{max(free, 0.0):.2f} of equity {subject.equity:.2f} "
                               f"is free")
    allocated = subject.allocated_capital
    if used + margin > allocated * (1 + _TOLERANCE) + _TOLERANCE:
        raise RiskRejected("allocation",
                           f"needs {margin:.2f} but only {max(allocated - used, 0):.2f} of the "
                           f"{allocated:.2f} allocated to asset {subject.asset_id} is free")
