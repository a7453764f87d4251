"""Closed trades: one closed position with its entry, exit, fees and why it was closed.

A trade is a closed :class:`~lts.models.Position`; its exit reason is derived in SQL
from the order that closed it, so the reason filter, the page, the performance metrics
and the streamed CSV export all read the same column:

- ``manual``: a person closed it (``source = 'manual'``: the dashboard, the API, flatten);
- ``stop`` / ``target``: the broker's stop loss or take profit fired (the engine books
  those exits as ``risk`` orders whose reason is ``stop_loss`` / ``take_profit``);
- ``signal``: the strategy decided to close (``source = 'strategy'``);
- ``risk``: any other risk exit (a kill switch that flattens, reduce-only);
- ``unknown``: no closing order is recorded (an imported or reconciled position).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, case, func, literal, select
from sqlalchemy.orm import aliased

from lts.errors import ValidationFailed
from lts.extensions import db
from lts.models import Asset, Order, Portfolio, Position, User
from lts.models.enums import POSITION_SIDES
from lts.models.sorting import POSITION_SORTS
from lts.services.listing import ListShape, check_range, scoped_list
from lts.services.pagination import Page, clamp

EXIT_REASONS = ("stop", "target", "signal", "manual", "risk", "unknown")

_close = aliased(Order, name="close_order")

# The portfolio's name by primary key: the scope join of scoped_list exists only for
# users restricted to their own portfolios, so the name is not read from it.
_owner = aliased(Portfolio, name="owner")
_PORTFOLIO_NAME = (select(_owner.name).where(_owner.id == Asset.portfolio_id)
                   .correlate(Asset).scalar_subquery().label("portfolio"))

#: The exit reason of a closed position, from its closing order (see the module doc).
EXIT_REASON = case(
    (_close.id.is_(None), literal("unknown")),
    (_close.source == "manual", literal("manual")),
    (_close.reason == "stop_loss", literal("stop")),
    (_close.reason == "take_profit", literal("target")),
    (_close.source == "strategy", literal("signal")),
    else_=literal("risk"),
).label("exit_reason")


@dataclass(frozen=True)
class TradeFilters:
    """What the trades view and its export are filtered by (all optional).

    ``since`` / ``until`` bound the exit time, ``[since, until)``, aware UTC.
    """

    portfolio_id: int | None = None
    asset_id: int | None = None
    side: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_filters(args: Any, tz: Any = None) -> TradeFilters:
    """Read the filters of a query string (``date_from``/``date_to`` as whole days).

    Days are read in ``tz`` (a ``tzinfo``; UTC when None), so a trader
    filtering "3 December" in Paris gets the trades that closed on their 3 December.
    A bad value raises ValidationFailed naming the field.
    """
    zone = tz or UTC
    errors: dict[str, list[str]] = {}

    def integer(name: str) -> int | None:
        text = (args.get(name) or "").strip()
        if not text:
            return None
        if not text.isdigit():
            errors[name] = ["must be a positive whole number"]
            return None
        return int(text)

    def day(name: str) -> date | None:
        text = (args.get(name) or "").strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            errors[name] = ["must be a date as YYYY-MM-DD"]
            return None

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        text = (args.get(name) or "").strip()
        if text and text not in allowed:
            errors[name] = [f"must be one of {', '.join(allowed)}"]
            return None
        return text or None

    portfolio_id, asset_id = integer("portfolio_id"), integer("asset_id")
    side, reason = choice("side", POSITION_SIDES), choice("reason", EXIT_REASONS)
    first, last = day("date_from"), day("date_to")
    if first and last and last < first:
        errors["date_to"] = ["must not be before date_from"]
    if errors:
        raise ValidationFailed("invalid filter", errors)
    since = datetime.combine(first, time(), zone) if first else None
    until = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    return TradeFilters(portfolio_id=portfolio_id, asset_id=asset_id, side=side, reason=reason,
                        since=since, until=until)


def trades_statement(actor: User, filters: TradeFilters) -> tuple[Select[Any], dict[str, Any]]:
    """The closed trades ``actor`` may see under ``filters``, newest exit first.

    Returns the statement (plain columns: rows, not ORM objects, so a streamed export
    holds one batch at a time) and its bind parameters.
    """
    check_range(filters.since, filters.until)
    shape, params = ListShape.of(actor, {
        "portfolio_id": filters.portfolio_id, "asset_id": filters.asset_id,
        "side": filters.side, "since": filters.since, "until": filters.until,
        "status": "closed"}, "closed_at", "desc", kind="position",
        statuses=("closed",), sides=POSITION_SIDES, sorts=POSITION_SORTS)
    columns = select(
        Position.id, _PORTFOLIO_NAME, Asset.symbol, Position.side,
        Position.quantity, Position.opened_at, Position.entry_price, Position.closed_at,
        Position.exit_price, Position.realized_pnl, Position.commission, EXIT_REASON,
        Asset.portfolio_id, Position.asset_id)
    statement = scoped_list(columns, Position, Position.closed_at, shape)
    statement = statement.outerjoin(_close, _close.id == Position.close_order_id)
    if filters.reason is not None:
        statement = statement.where(EXIT_REASON.element == bindparam("exit_reason"))
        params["exit_reason"] = filters.reason
    statement = statement.order_by(Position.closed_at.desc(), Position.id.desc())
    return statement, params


@dataclass(frozen=True)
class Trade:
    """One closed trade as the table, the export and the metrics read it."""

    id: int
    portfolio: str
    portfolio_id: int
    asset_id: int
    symbol: str
    side: str
    quantity: float
    opened_at: datetime
    entry_price: float
    closed_at: datetime
    exit_price: float | None
    pnl: float
    fees: float
    exit_reason: str

    @property
    def duration(self) -> timedelta:
        """Entry to exit."""
        return self.closed_at - self.opened_at

    @property
    def pnl_percent(self) -> float | None:
        """P&L (net of fees) as a percentage of the entry notional; None for a zero one."""
        notional = self.entry_price * self.quantity
        return self.pnl / notional * 100.0 if notional else None

    @classmethod
    def of(cls, row: Any) -> Trade:
        """A trade from one row of :func:`trades_statement`."""
        m = row._mapping
        return cls(id=m["id"], portfolio=m["portfolio"], portfolio_id=m["portfolio_id"],
                   asset_id=m["asset_id"], symbol=m["symbol"], side=m["side"],
                   quantity=m["quantity"], opened_at=m["opened_at"],
                   entry_price=m["entry_price"], closed_at=m["closed_at"],
                   exit_price=m["exit_price"], pnl=m["realized_pnl"], fees=m["commission"],
                   exit_reason=m["exit_reason"])


def list_trades(actor: User, filters: TradeFilters, *, page: int | None = 1,
                per_page: int | None = None) -> Page[Trade]:
    """One page of closed trades, newest exit first."""
    page, per_page = clamp(page, per_page)
    statement, params = trades_statement(actor, filters)
    total = db.session.execute(
        select(func.count()).select_from(statement.order_by(None).subquery()), params
    ).scalar_one()
    rows = db.session.execute(statement.limit(per_page).offset((page - 1) * per_page), params)
    return Page(items=[Trade.of(r) for r in rows], page=page, per_page=per_page, total=total)


def iter_trades(actor: User, filters: TradeFilters, *, batch: int = 2_000
                ) -> Iterator[list[Trade]]:
    """Every closed trade under ``filters``, oldest exit first, ``batch`` trades at a time.

    Read with ``yield_per`` (as the export is), so the performance figures of 100,000
    trades never hold them all.
    """
    statement, params = trades_statement(actor, filters)
    statement = statement.order_by(None).order_by(Position.closed_at, Position.id)
    result = db.session.execute(statement.execution_options(yield_per=batch), params)
    try:
        for partition in result.partitions():
            yield [Trade.of(row) for row in partition]
    finally:
        result.close()


def all_trades(actor: User, filters: TradeFilters) -> list[Trade]:
    """Every closed trade under ``filters``, oldest exit first, in one list (small sets)."""
    return [trade for batch in iter_trades(actor, filters) for trade in batch]
