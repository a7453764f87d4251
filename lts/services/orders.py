"""Orders: filtered, paginated lists, one order, and manual orders.

Manual orders go through :mod:`lts.trading.manual`, the engine's own path: the row is
written ``pending`` with its ``client_order_id`` before the broker is called, the same
risk checks apply, and every transition is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from lts.extensions import db
from lts.models import Asset, Order, Portfolio, User
from lts.models.enums import ORDER_SIDES, ORDER_STATUSES, ORDER_TYPES
from lts.services.access import is_admin, load_owned, record
from lts.services.errors import Conflict, ValidationFailed
from lts.services.pagination import Page, paginate
from lts.trading import manual


@dataclass(frozen=True)
class ManualOrderResult:
    """What became of a manual order: the row (if one was written) and any refusal."""

    order: Order | None
    client_order_id: str
    status: str
    rejected_by: str | None = None
    message: str = ""


def scope_to_actor(statement: Select[Any], actor: User, *, portfolio_id: int | None = None,
                   asset_id: int | None = None, asset_column: Any = None) -> Select[Any]:
    """Restrict a statement over a table with ``asset_id`` to what the actor may see."""
    column = asset_column if asset_column is not None else Order.asset_id
    statement = statement.join(Asset, Asset.id == column)
    if not is_admin(actor):
        statement = statement.join(Portfolio, Portfolio.id == Asset.portfolio_id).where(
            Portfolio.user_id == actor.id)
    if portfolio_id is not None:
        statement = statement.where(Asset.portfolio_id == portfolio_id)
    if asset_id is not None:
        statement = statement.where(column == asset_id)
    return statement


ORDER_SORTS = {"created_at": Order.created_at, "status": Order.status, "side": Order.side,
               "symbol": Asset.symbol, "quantity": Order.quantity,
               "order_type": Order.order_type}
DIRECTIONS = ("asc", "desc")


def ordered(statement: Select[Any], columns: dict[str, Any], sort: str, direction: str,
            unique: Any) -> Select[Any]:
    """ORDER BY one allowed column then the id (same direction), so pages never overlap."""
    errors = {}
    if sort not in columns:
        errors["sort"] = [f"must be one of {', '.join(columns)}"]
    if direction not in DIRECTIONS:
        errors["direction"] = ["must be asc or desc"]
    if errors:
        raise ValidationFailed("invalid sort", errors)
    column = columns[sort]
    if direction == "desc":
        return statement.order_by(column.desc(), unique.desc())
    return statement.order_by(column.asc(), unique.asc())


def with_list_filters(statement: Select[Any], model: Any, time_column: Any, *,
                      status: str | None, side: str | None, since: datetime | None,
                      until: datetime | None) -> Select[Any]:
    """Add the status, side and ``[since, until)`` filters that order and position lists share."""
    if status is not None:
        statement = statement.where(model.status == status)
    if side is not None:
        statement = statement.where(model.side == side)
    if since is not None:
        statement = statement.where(time_column >= since)
    if until is not None:
        statement = statement.where(time_column < until)
    return statement


def check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse a filter value outside ``allowed``, naming the filter."""
    if value is not None and value not in allowed:
        raise ValidationFailed("invalid filter", {name: [f"must be one of {', '.join(allowed)}"]})


def check_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse naive datetimes and an empty range."""
    errors = {}
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            errors[name] = ["must carry a time zone (ISO-8601 with Z or an offset)"]
    if not errors and since is not None and until is not None and since > until:
        errors["until"] = ["must not be before since"]
    if errors:
        raise ValidationFailed("invalid time range", errors)


def list_orders(actor: User, *, portfolio_id: int | None = None, asset_id: int | None = None,
                status: str | None = None, since: datetime | None = None,
                until: datetime | None = None, side: str | None = None,
                sort: str = "created_at", direction: str = "desc", page: int | None = 1,
                per_page: int | None = None, rows: bool = False) -> Page[Any]:
    """Orders the actor may see, filtered; newest first unless ``sort``/``direction`` say.

    ``sort`` is one of ORDER_SORTS; the id always breaks ties, so pages are stable.
    ``rows=True``: items are column mappings, not ORM objects (the JSON API's lists).
    """
    check_choice("status", status, ORDER_STATUSES)
    check_choice("side", side, ORDER_SIDES)
    check_range(since, until)
    statement = scope_to_actor(select(Order), actor, portfolio_id=portfolio_id,
                               asset_id=asset_id)
    statement = with_list_filters(statement, Order, Order.created_at, status=status, side=side,
                                  since=since, until=until)
    return paginate(ordered(statement, ORDER_SORTS, sort, direction, Order.id), page,
                    per_page, key=Order.id, rows=rows)


def get_order(actor: User, order_id: int, *, ip: str | None = None) -> Order:
    """One order the actor may see; NotFound otherwise."""
    return load_owned(Order, order_id, actor, "read", ip=ip)


def place_manual_order(actor: User, asset_id: int, *, side: str, quantity: float | None = None,
                       order_type: str = "market", price: float | None = None,
                       stop_loss: float | None = None, take_profit: float | None = None,
                       now: datetime | None = None, ip: str | None = None
                       ) -> ManualOrderResult:
    """Send the actor's own order on one of their assets through the engine's path.

    Raises ValidationFailed for bad input or a failing plugin, Conflict when the
    asset or its portfolio is inactive. A risk refusal is a result with ``rejected_by``.
    """
    asset = load_owned(Asset, asset_id, actor, "trade", ip=ip)
    errors: dict[str, list[str]] = {}
    if side not in ORDER_SIDES:
        errors["side"] = ["must be buy or sell"]
    if order_type not in ORDER_TYPES:
        errors["order_type"] = [f"must be one of {', '.join(ORDER_TYPES)}"]
    for name, value in (("quantity", quantity), ("price", price), ("stop_loss", stop_loss),
                        ("take_profit", take_profit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 < value < float("inf")):
            errors[name] = ["must be a positive number"]
    if order_type in ("limit", "stop") and price is None and "price" not in errors:
        errors["price"] = [f"a {order_type} order needs a price"]
    if errors:
        raise ValidationFailed("the order is not valid", errors)
    if not asset.is_active or not asset.portfolio.is_active:
        raise Conflict(f"asset {asset.id} or its portfolio is inactive: activate it first")
    db.session.commit()  # the engine path refuses an open transaction
    placed = manual.submit_manual_order(asset.id, side, quantity, order_type=order_type,
                                        price=price, stop_loss=stop_loss,
                                        take_profit=take_profit, user_id=actor.id, now=now)
    order = db.session.get(Order, placed.order_id) if placed.order_id is not None else None
    record(actor, "order.manual", f"asset:{asset_id}",
           {"client_order_id": placed.client_order_id, "status": placed.status,
            "rejected_by": placed.rejected_by, "side": side, "order_type": order_type},
           "ok" if placed.rejected_by is None else "denied", ip=ip)
    return ManualOrderResult(order=order, client_order_id=placed.client_order_id,
                             status=placed.status, rejected_by=placed.rejected_by,
                             message=placed.message)
