"""CSV exports of trades, orders and positions under the filters the page shows.

An export is streamed: the statement is executed with ``yield_per`` (a server-side
cursor where the database has one; SQLite hands rows over as they are stepped), and
rows are written to the response in chunks of :data:`CHUNK_ROWS`, so 100,000 rows never
sit in memory at once. The filters are checked, and the statement built, before the
first byte is sent: a bad filter is a 422 naming the field, never a truncated file.

Times are ISO-8601 UTC (a spreadsheet's or a script's input, whatever the viewer's
time zone); text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@`` first) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from lts.errors import ValidationFailed
from lts.extensions import db
from lts.models import Asset, Order, Portfolio, Position, User
from lts.models.enums import ORDER_SIDES, ORDER_STATUSES, POSITION_SIDES, POSITION_STATUSES
from lts.models.sorting import ORDER_SORTS, POSITION_SORTS
from lts.services.listing import ListShape, scoped_list
from lts.services.trades import parse_filters, trades_statement

KINDS = ("trades", "orders", "positions")
CHUNK_ROWS = 500
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    """A checked export: its file name and the lines still to be produced."""

    filename: str
    lines: Iterator[str]


def _portfolio_name() -> Any:
    """The owning portfolio's name (a correlated lookup by primary key)."""
    owner = aliased(Portfolio, name="owner")
    return (select(owner.name).where(owner.id == Asset.portfolio_id).correlate(Asset)
            .scalar_subquery().label("portfolio"))


def _trades(actor: User, args: Mapping[str, str], tz: tzinfo | None
            ) -> tuple[Select[Any], dict[str, Any], list[str], Callable[[Any], list[Any]]]:
    """The trades statement and how one of its rows becomes a CSV row."""
    statement, params = trades_statement(actor, parse_filters(args, tz))
    header = ["id", "portfolio", "symbol", "side", "quantity", "entry_time", "entry_price",
              "exit_time", "exit_price", "duration_seconds", "pnl", "pnl_percent", "fees",
              "exit_reason"]

    def row(r: Any) -> list[Any]:
        notional = r.entry_price * r.quantity
        return [r.id, r.portfolio, r.symbol, r.side, r.quantity, r.opened_at, r.entry_price,
                r.closed_at, r.exit_price, (r.closed_at - r.opened_at).total_seconds(),
                r.realized_pnl, r.realized_pnl / notional * 100.0 if notional else None,
                r.commission, r.exit_reason]
    return statement, params, header, row


def _list_values(args: Mapping[str, str], tz: tzinfo | None) -> dict[str, Any]:
    """The order/position filters of a query string (dates as the trades read them)."""
    filters = parse_filters({k: v for k, v in args.items()
                             if k in ("portfolio_id", "asset_id", "date_from", "date_to")}, tz)
    status = (args.get("status") or "").strip() or None
    side = (args.get("side") or "").strip() or None
    return {"portfolio_id": filters.portfolio_id, "asset_id": filters.asset_id,
            "status": status, "side": side, "since": filters.since, "until": filters.until}


def _orders(actor: User, args: Mapping[str, str], tz: tzinfo | None
            ) -> tuple[Select[Any], dict[str, Any], list[str], Callable[[Any], list[Any]]]:
    """The orders statement (filtered like the Orders page) and its CSV row."""
    shape, params = ListShape.of(actor, _list_values(args, tz), "created_at", "desc",
                                 kind="order", statuses=ORDER_STATUSES, sides=ORDER_SIDES,
                                 sorts=ORDER_SORTS)
    columns = [Order.id, Order.client_order_id, _portfolio_name(), Asset.symbol,
               Order.created_at, Order.side, Order.order_type, Order.quantity, Order.price,
               Order.stop_loss, Order.take_profit, Order.status, Order.filled_quantity,
               Order.fill_price, Order.filled_at, Order.commission, Order.source, Order.reason]
    statement = scoped_list(select(*columns), Order, Order.created_at, shape).order_by(
        Order.created_at.desc(), Order.id.desc())
    header = [c.key for c in columns]
    return statement, params, header, list


def _positions(actor: User, args: Mapping[str, str], tz: tzinfo | None
               ) -> tuple[Select[Any], dict[str, Any], list[str], Callable[[Any], list[Any]]]:
    """The positions statement (filtered like the Positions page) and its CSV row."""
    shape, params = ListShape.of(actor, _list_values(args, tz), "opened_at", "desc",
                                 kind="position", statuses=POSITION_STATUSES,
                                 sides=POSITION_SIDES, sorts=POSITION_SORTS)
    columns = [Position.id, _portfolio_name(), Asset.symbol, Position.side,
               Position.quantity, Position.opened_at, Position.entry_price, Position.status,
               Position.current_price, Position.unrealized_pnl, Position.stop_loss,
               Position.take_profit, Position.closed_at, Position.exit_price,
               Position.realized_pnl, Position.commission]
    statement = scoped_list(select(*columns), Position, Position.opened_at, shape).order_by(
        Position.opened_at.desc(), Position.id.desc())
    header = [c.key for c in columns]
    return statement, params, header, list


_BUILDERS = {"trades": _trades, "orders": _orders, "positions": _positions}


def cell(value: Any) -> Any:
    """One CSV cell: times as ISO UTC, formula-looking text defused, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(actor: User, kind: str, args: Mapping[str, str], *, tz: tzinfo | None = None,
               now: datetime) -> Export:
    """Check the filters and return the streamed CSV of ``kind`` the actor may see."""
    if kind not in KINDS:
        raise ValidationFailed(f"unknown export: kind must be one of {', '.join(KINDS)}",
                               {"kind": [f"must be one of {', '.join(KINDS)}"]})
    try:
        statement, params, header, to_row = _BUILDERS[kind](actor, args, tz)
    except ValidationFailed as exc:  # the page shows only the message: name the fields in it
        named = "; ".join(f"{k} {', '.join(v)}" for k, v in exc.fields.items())
        raise ValidationFailed(f"{exc.message}: {named}" if named else exc.message,
                               exc.fields) from None
    return Export(filename=f"lts-{kind}-{now:%Y%m%d-%H%M%S}.csv",
                  lines=_stream(statement, params, header, to_row))


def _stream(statement: Select[Any], params: dict[str, Any], header: list[str],
            to_row: Callable[[Any], list[Any]]) -> Iterator[str]:
    """The CSV text, one chunk of rows at a time (``yield_per``: no full fetch)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    result = db.session.execute(statement.execution_options(yield_per=CHUNK_ROWS), params)
    try:
        for partition in result.partitions():
            for row in partition:
                writer.writerow([cell(v) for v in to_row(row)])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
    finally:
        result.close()
