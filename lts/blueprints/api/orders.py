"""``/api/v1/orders``, ``/positions`` and manual orders on an asset."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp, page_body
from lts.blueprints.api._common import created, with_etag
from lts.blueprints.api._idempotency import idempotent
from lts.errors import RateLimited
from lts.schemas.orders import (
    ManualOrderResultSchema,
    ManualOrderSchema,
    OrderPageSchema,
    OrderQuerySchema,
    OrderSchema,
    PositionPageSchema,
    PositionQuerySchema,
    PositionSchema,
    RefusalSchema,
)
from lts.security.authz import client_ip
from lts.services import orders, positions
from lts.web.request import actor

_REFUSED = ("Refused by a risk check (`risk_rejected`): the check, the reason, and the "
            "`rejected` order stored for it; or the request is not valid.")
_THROTTLED = "Too many orders this minute (`rate_limited`): retry after `Retry-After` s."
_FILTERS = ("portfolio_id", "asset_id", "status", "side", "since", "until", "sort",
            "direction", "page", "per_page", "updated_since", "cursor")
_ORDER_FILTERS = (*_FILTERS, "client_order_id", "source")


_RATE_HEADERS = {
    "RateLimit-Limit": {"description": "orders the portfolio may send a minute "
                                       "(``max_orders_per_minute``)",
                        "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Remaining": {"description": "orders it may still send in the current minute",
                            "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Reset": {"description": "seconds until the window frees a slot (0: none used)",
                        "schema": {"type": "integer", "minimum": 0}},
}


@contextlib.contextmanager
def _rate_fields(asset_id: int | Callable[[], int]) -> Iterator[None]:
    """Add the portfolio's RateLimit fields to a ``rate_limited`` refusal raised inside."""
    try:
        yield
    except RateLimited as exc:
        exc.headers.update(orders.rate_limit_headers(
            asset_id() if callable(asset_id) else asset_id))
        raise


def _with_rate_fields(answer: tuple[Any, int, dict[str, str]], asset_id: int
                      ) -> tuple[Any, int, dict[str, str]]:
    """A created order's answer with its portfolio's RateLimit fields (after this order)."""
    body, status, headers = answer
    return body, status, {**headers, **orders.rate_limit_headers(asset_id)}


@bp.get("/orders")
@bp.arguments(OrderQuerySchema, location="query", unknown=RAISE)
@bp.response(200, OrderPageSchema)
def list_orders(args: dict[str, Any]) -> Any:
    """Orders you may see, newest first (``sort``/``direction`` to change); filters.

    After a timeout, ``?client_order_id=`` finds the order, or ``?source=manual&
    updated_since=`` what changed since the request was sent.
    """
    omit = () if args["include"] == "broker_response" else ("broker_response",)
    page = orders.list_orders(actor(), rows=True, omit=omit,
                              **{k: args[k] for k in _ORDER_FILTERS})
    return page_body(page, args)


@bp.get("/orders/<int:order_id>")
@bp.response(200, OrderSchema)
def get_order(order_id: int) -> Any:
    """One order, with its ETag (``If-None-Match`` with it: 304)."""
    return with_etag(orders.get_order(actor(), order_id, ip=client_ip()))


@bp.post("/assets/<int:asset_id>/orders")
@idempotent
@bp.arguments(ManualOrderSchema)
@bp.response(201, ManualOrderResultSchema, headers=_RATE_HEADERS)
@bp.alt_response(422, schema=RefusalSchema, description=_REFUSED)
@bp.alt_response(429, schema=RefusalSchema, description=_THROTTLED, headers={
    "Retry-After": {"description": "seconds", "schema": {"type": "integer", "minimum": 1}},
    **_RATE_HEADERS})
def place_order(data: dict[str, Any], asset_id: int) -> Any:
    """Send your own order through the engine's path (risk checks, client_order_id, audit).

    A risk refusal is a 422 ``risk_rejected`` naming the check, with the ``rejected``
    order stored for it; the per-minute order limit is a 429 with ``Retry-After``.
    """
    with _rate_fields(asset_id):
        result = orders.place_manual_order(actor(), asset_id, ip=client_ip(), **data).accepted()
    return _with_rate_fields(created(result, "api.get_order", order_id=result.order.id),
                             asset_id)


@bp.get("/positions")
@bp.arguments(PositionQuerySchema, location="query", unknown=RAISE)
@bp.response(200, PositionPageSchema)
def list_positions(args: dict[str, Any]) -> Any:
    """Positions you may see, newest first; same filters as orders (on opening time)."""
    page = positions.list_positions(actor(), **{k: args[k] for k in _FILTERS})
    return page_body(page, args)


@bp.get("/positions/<int:position_id>")
@bp.response(200, PositionSchema)
def get_position(position_id: int) -> Any:
    """One position, with its ETag (``If-None-Match`` with it: 304)."""
    return with_etag(positions.get_position(actor(), position_id, ip=client_ip()))


@bp.post("/positions/<int:position_id>/close")
@idempotent
@bp.response(201, ManualOrderResultSchema, headers=_RATE_HEADERS)
@bp.alt_response(422, schema=RefusalSchema, description=_REFUSED)
def close_position(position_id: int) -> Any:
    """Close an open position at market through its broker (refusals as for orders)."""
    with _rate_fields(lambda: positions.get_position(actor(), position_id).asset_id):
        result = positions.close_position(actor(), position_id, ip=client_ip()).accepted()
    return _with_rate_fields(created(result, "api.get_order", order_id=result.order.id),
                             result.order.asset_id)


_CANCEL_ERRORS = {
    409: "``order_not_cancellable`` (filled or otherwise final, a fill won the race), "
         "``order_in_flight`` (pending), ``cancel_refused`` (the broker kept it)",
    502: "``broker_unavailable``: the broker did not answer; retrying is safe",
}


def _cancel_errors(view: Any) -> Any:
    """Document the refusals a cancel can answer (OpenAPI)."""
    # Imported here to keep this module's import block as it was (parallel edits merge).
    from lts.schemas.common import ErrorSchema

    for status, description in _CANCEL_ERRORS.items():
        view = bp.alt_response(status, schema=ErrorSchema, description=description)(view)
    return view


@bp.delete("/orders/<int:order_id>")
@idempotent
@bp.response(200, OrderSchema)
@_cancel_errors
def cancel_order(order_id: int) -> Any:
    """Cancel a live order (submitted, partially filled or unknown) through its broker.

    Allowed in every risk state. 409 ``order_not_cancellable`` when it is filled or
    otherwise final, ``order_in_flight`` while it is pending, ``cancel_refused`` when the
    broker keeps it; 502 ``broker_unavailable`` when the broker did not answer (retry).
    """
    return orders.cancel_order(actor(), order_id, ip=client_ip())


@bp.post("/orders/<int:order_id>/cancel")
@idempotent
@bp.response(200, OrderSchema)
@_cancel_errors
def cancel_order_post(order_id: int) -> Any:
    """The same as ``DELETE /orders/<id>``, for clients that only send POST."""
    return orders.cancel_order(actor(), order_id, ip=client_ip())
