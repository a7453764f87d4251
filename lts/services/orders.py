"""Orders: filtered, paginated lists, one order, manual orders and cancels.

The list helpers (shapes, scoping, sorting, filter checks) shared with positions,
statistics and audit live in :mod:`lts.services.listing`.

Manual orders go through :mod:`lts.trading.manual`, the engine's own path: the row is
written ``pending`` with its ``client_order_id`` before the broker is called, the same
risk checks apply, and every transition is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from lts.database import write_transaction
from lts.errors import Conflict, RateLimited, RiskRefused, ValidationFailed
from lts.extensions import db
from lts.models import Asset, Order, Position, User
from lts.models.enums import ORDER_SIDES, ORDER_SOURCES, ORDER_STATUSES, ORDER_TYPES
from lts.models.sorting import ORDER_SORTS
from lts.services.access import load_owned, record
from lts.services.listing import ListShape, check_choice, list_page
from lts.services.number_format import format_price
from lts.services.pagination import Page
from lts.trading import cancel, manual
from lts.trading.orders import PlacedOrder


@dataclass(frozen=True)
class ManualOrderResult:
    """What became of a manual order: the row (if one was written) and any refusal."""

    order: Order | None
    client_order_id: str
    status: str
    rejected_by: str | None = None
    message: str = ""
    retry_after: int | None = None

    @classmethod
    def of(cls, placed: PlacedOrder) -> ManualOrderResult:
        """What the engine's path did, with the order row it wrote (if it wrote one)."""
        order = db.session.get(Order, placed.order_id) if placed.order_id is not None else None
        return cls(order=order, client_order_id=placed.client_order_id, status=placed.status,
                   rejected_by=placed.rejected_by, message=placed.message,
                   retry_after=placed.retry_after)

    def accepted(self) -> ManualOrderResult:
        """Return the result if the order went out; raise the refusal as an error otherwise.

        The API answers a refusal as an error (SPEC 2a, "refusals are honest"): 429 with
        ``Retry-After`` from the rate limit, 422 ``risk_rejected`` naming the check and
        the ``rejected`` order row stored for it from any other check.
        """
        if self.rejected_by is None:
            return self
        if self.retry_after is not None:
            raise RateLimited(
                f"refused by the {self.rejected_by} check: {self.message}",
                details={"check": self.rejected_by, "retry_after": self.retry_after},
                headers={"Retry-After": str(self.retry_after)})
        raise RiskRefused(
            f"refused by the {self.rejected_by} check: {self.message}",
            details={"check": self.rejected_by, "reason": self.message,
                     "order_id": self.order.id if self.order is not None else None,
                     "client_order_id": self.client_order_id or None})

    def summary(self) -> str:
        """What happened, in the trader's words: "Bought 24 XAU_USD at 101.77"."""
        if self.order is None:
            return f"Order {self.status}."
        return describe_order(self.order)

    @property
    def outcome(self) -> str:
        """The audit outcome: ``denied`` when the risk checks refused the order."""
        return "ok" if self.rejected_by is None else "denied"


def _number(value: float) -> str:
    """A quantity or price as people write it: no trailing zeros, thousands separated."""
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def describe_order(order: Order) -> str:
    """One sentence on an order for a toast, without internal ids.

    Filled: "Bought 24 XAU_USD at 101.77"; partly filled, resting, refused or cancelled
    orders say so with their side, quantity and (limit/stop) price.
    """
    symbol = order.asset.symbol if order.asset is not None else f"asset {order.asset_id}"
    side = order.side
    if order.status == "filled" and order.fill_price is not None:
        verb = "Bought" if side == "buy" else "Sold"
        quantity = order.filled_quantity or order.quantity
        return f"{verb} {_number(quantity)} {symbol} at {format_price(order.fill_price)}."
    kind = "" if order.order_type == "market" else f" {order.order_type}"
    at = f" at {format_price(order.price)}" if order.price is not None and kind else ""
    what = f"{side.capitalize()}{kind} order for {_number(order.quantity)} {symbol}{at}"
    if order.status == "partially_filled":
        fill = f" at {format_price(order.fill_price)}" if order.fill_price is not None else ""
        return f"{what}: {_number(order.filled_quantity)} filled{fill} so far."
    if order.status in ("pending", "submitted"):
        return f"{what} sent to the broker."
    if order.status == "cancelled":
        return f"{what} cancelled."
    if order.status == "rejected":
        return f"{what} refused by the broker."
    return f"{what}: {order.status.replace('_', ' ')}."


def list_orders(actor: User, *, portfolio_id: int | None = None, asset_id: int | None = None,
                status: str | None = None, since: datetime | None = None,
                until: datetime | None = None, side: str | None = None,
                client_order_id: str | None = None, source: str | None = None,
                updated_since: datetime | None = None,
                sort: str = "created_at", direction: str = "desc", page: int | None = 1,
                per_page: int | None = None, rows: bool = False, cursor: str | None = None,
                omit: tuple[str, ...] = ()) -> Page[Any]:
    """Orders the actor may see, filtered; newest first unless ``sort``/``direction`` say.

    ``sort`` is one of ORDER_SORTS; the id always breaks ties, so pages are stable.
    ``client_order_id`` finds one order after a timeout; ``source`` and ``updated_since``
    (``updated_at >=``) find what changed since a client last looked.
    ``rows=True``: items are column mappings, not ORM objects (the JSON API's lists);
    ``omit`` then leaves those columns out (``broker_response``: most of a row's bytes).
    ``cursor`` (a page's ``next_cursor``) gives the page after it instead of ``page``.
    """
    check_choice("source", source, ORDER_SOURCES)
    if updated_since is not None and updated_since.tzinfo is None:
        raise ValidationFailed("invalid filter", {
            "updated_since": ["must carry a time zone (ISO-8601 with Z or an offset)"]})
    shape, params = ListShape.of(actor, {
        "portfolio_id": portfolio_id, "asset_id": asset_id, "status": status, "side": side,
        "since": since, "until": until, "client_order_id": client_order_id,
        "source": source, "updated_since": updated_since}, sort, direction, kind="order",
        statuses=ORDER_STATUSES, sides=ORDER_SIDES, sorts=ORDER_SORTS)
    return list_page(shape, params, page=page, per_page=per_page, cursor=cursor, rows=rows,
                     omit=omit)


def rate_limit_headers(asset_id: int, now: datetime | None = None) -> dict[str, str]:
    """``RateLimit-Limit/Remaining/Reset`` of the asset's portfolio's order limit.

    The per-portfolio ``max_orders_per_minute`` window as it stands now (the caller has
    already loaded the asset as one the actor may trade); ``Reset`` in seconds.
    """
    window = manual.order_rate_window(asset_id, now)
    return {"RateLimit-Limit": str(window.limit), "RateLimit-Remaining": str(window.remaining),
            "RateLimit-Reset": str(window.reset)}


def get_order(actor: User, order_id: int, *, ip: str | None = None) -> Order:
    """One order the actor may see; NotFound otherwise."""
    return load_owned(Order, order_id, actor, "read", ip=ip)


def order_errors(asset: Asset, *, side: Any, quantity: Any = None, order_type: Any = "market",
                 price: Any = None, stop_loss: Any = None, take_profit: Any = None
                 ) -> dict[str, list[str]]:
    """Every broken rule of a manual order on ``asset``, by field; {} when it may go.

    The one place these rules live (the API and the page form both ask here, the form
    even when some of its own fields did not parse, so all errors show in one round).
    ``asset`` must already be one the caller may trade. Besides types and signs: a
    limit/stop order needs its price, and stop loss and take profit must sit on the
    sides of the entry that protect it (buy: stop below, target above; sell: the
    reverse), the entry being the order's price or, at market, the last known price.
    """
    errors: dict[str, list[str]] = {}
    if side not in ORDER_SIDES:
        errors["side"] = ["must be buy or sell"]
    if order_type not in ORDER_TYPES:
        errors["order_type"] = [f"must be one of {', '.join(ORDER_TYPES)}"]
    for name, value in (("quantity", quantity), ("price", price), ("stop_loss", stop_loss),
                        ("take_profit", take_profit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 < value < float("inf")):
            errors[name] = ["must be greater than 0" if isinstance(value, int | float)
                            and not isinstance(value, bool) and value <= 0
                            else "must be a positive number"]
    if order_type in ("limit", "stop") and price is None and "price" not in errors:
        errors["price"] = [f"a {order_type} order needs a price"]
    if side in ORDER_SIDES:
        at_price = order_type in ("limit", "stop")
        entry = price if at_price else last_price(asset.id)
        where = f"the {order_type} price" if at_price else "the last price"
        _check_protection_sides(errors, side, entry, where, stop_loss, take_profit)
    return errors


def _check_protection_sides(errors: dict[str, list[str]], side: str, entry: Any, where: str,
                            stop_loss: Any, take_profit: Any) -> None:
    """Refuse a stop loss or take profit on the side of ``entry`` where it cannot protect.

    A buy's stop below the entry, its target above; a sell's the other way round. With
    no entry known (a market order on an asset never priced) only the two are compared.
    """
    buy = side == "buy"
    usable = {name: value for name, value in (("stop_loss", stop_loss),
                                               ("take_profit", take_profit))
              if name not in errors and isinstance(value, int | float)
              and not isinstance(value, bool)}
    if isinstance(entry, int | float) and not isinstance(entry, bool) and entry > 0 \
            and "price" not in errors:
        if "stop_loss" in usable and (usable["stop_loss"] >= entry if buy
                                      else usable["stop_loss"] <= entry):
            errors["stop_loss"] = [f"must be {'below' if buy else 'above'} {where} "
                                   f"({entry:g}) for a {side}"]
        if "take_profit" in usable and (usable["take_profit"] <= entry if buy
                                        else usable["take_profit"] >= entry):
            errors["take_profit"] = [f"must be {'above' if buy else 'below'} {where} "
                                     f"({entry:g}) for a {side}"]
    elif {"stop_loss", "take_profit"} <= usable.keys() and (
            usable["stop_loss"] >= usable["take_profit"] if buy
            else usable["stop_loss"] <= usable["take_profit"]):
        errors["stop_loss"] = [f"must be {'below' if buy else 'above'} the take profit "
                               f"for a {side}"]


def last_price(asset_id: int) -> float | None:
    """The asset's last known price: an open position's mark, else the last fill."""
    marked = db.session.scalar(
        select(Position.current_price).where(Position.asset_id == asset_id,
                                             Position.status == "open",
                                             Position.current_price.is_not(None))
        .order_by(Position.id.desc()).limit(1))
    if marked is not None:
        return float(marked)
    filled = db.session.scalar(
        select(Order.fill_price).where(Order.asset_id == asset_id,
                                       Order.fill_price.is_not(None))
        .order_by(Order.filled_at.desc(), Order.id.desc()).limit(1))
    return float(filled) if filled is not None else None


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
    errors = order_errors(asset, side=side, quantity=quantity, order_type=order_type,
                          price=price, stop_loss=stop_loss, take_profit=take_profit)
    if errors:
        raise ValidationFailed("the order is not valid", errors)
    if not asset.is_active or not asset.portfolio.is_active:
        raise Conflict(f"asset {asset.id} or its portfolio is inactive: activate it first")
    db.session.commit()  # the engine path refuses an open transaction
    placed = manual.submit_manual_order(asset.id, side, quantity, order_type=order_type,
                                        price=price, stop_loss=stop_loss,
                                        take_profit=take_profit, user_id=actor.id, now=now)
    result = ManualOrderResult.of(placed)
    # BEGIN IMMEDIATE: a write upgraded from the read above could meet "database is
    # locked" on SQLite and answer 500 for an order that went out.
    with write_transaction(db.session()):
        record(actor, "order.manual", f"asset:{asset_id}",
               {"client_order_id": result.client_order_id, "status": result.status,
                "rejected_by": result.rejected_by, "side": side, "order_type": order_type},
               result.outcome, ip=ip, commit=False)
    return result


def cancel_order(actor: User, order_id: int, *, via: str = "api", now: datetime | None = None,
                 ip: str | None = None) -> Order:
    """Cancel one of the actor's live orders through its broker; the order as it ends.

    Allowed in every risk state. A refusal before anything is sent (the order is
    pending, or already filled/cancelled/rejected) is a 409 naming why, audited as
    denied; so is a broker that kept the order live or filled it first. A broker that
    did not answer is a 502: the cancel is safe to send again.
    """
    order = load_owned(Order, order_id, actor, "cancel", ip=ip)
    coid, status = order.client_order_id, order.status
    try:
        cancel.check_cancellable(order_id, status)
    except Conflict as exc:
        # Its own write transaction (BEGIN IMMEDIATE on SQLite): a read upgraded to a
        # write after another writer committed fails at once ("database is locked").
        with write_transaction(db.session()):
            record(actor, "order.cancel", f"order:{order_id}",
                   {"client_order_id": coid, "status": status, "refused": exc.code,
                    "via": via}, "denied", ip=ip, commit=False)
        raise
    db.session.commit()  # the cancel path refuses an open transaction
    outcome = cancel.cancel_order(order_id, user_id=actor.id, via=via, ip=ip, now=now)
    db.session.expire_all()
    outcome.raise_unless_cancelled()
    return db.session.get(Order, order_id)  # type: ignore[return-value]
