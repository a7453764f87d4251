"""Schemas of orders and positions: list filters, manual orders, rows shown."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.models.enums import (
    ORDER_SIDES,
    ORDER_SOURCES,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    POSITION_STATUSES,
)
from lts.models.sorting import ORDER_SORTS, POSITION_SORTS
from lts.schemas.common import (
    ErrorBodySchema,
    TimeRangeQuerySchema,
    page_schema,
    utc_datetime,
)

ORDER_SORT_KEYS = tuple(ORDER_SORTS)
POSITION_SORT_KEYS = tuple(POSITION_SORTS)

_POSITIVE = validate.Range(min=0, min_inclusive=False, max=1e15)


class OrderSchema(Schema):
    """An order as the API shows it."""

    id = fields.Integer(required=True)
    asset_id = fields.Integer(required=True)
    client_order_id = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(ORDER_SOURCES))
    order_type = fields.String(required=True, validate=validate.OneOf(ORDER_TYPES))
    side = fields.String(required=True, validate=validate.OneOf(ORDER_SIDES))
    quantity = fields.Float(required=True)
    filled_quantity = fields.Float(required=True)
    price = fields.Float(allow_none=True, required=True)
    stop_loss = fields.Float(allow_none=True, required=True)
    take_profit = fields.Float(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(ORDER_STATUSES))
    fill_price = fields.Float(allow_none=True, required=True)
    commission = fields.Float(required=True)
    reason = fields.String(allow_none=True, required=True)
    broker_order_id = fields.String(allow_none=True, required=True)
    broker_response = fields.Raw(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    filled_at = fields.AwareDateTime(allow_none=True, required=True)
    plugin_versions = fields.Raw(allow_none=True, required=True, metadata={
        "description": "the plugins in use when the order was written, by kind (pipeline, "
                       "strategy, broker, portfolio): {name, version (of the distribution "
                       "shipping it), interface_version}; null for orders older than this "
                       "record"})


class OrderListItemSchema(OrderSchema):
    """An order as a list shows it: ``broker_response`` only when asked for."""

    broker_response = fields.Raw(allow_none=True, metadata={
        "description": "the broker's answer, as stored; in lists only with "
                       "`?include=broker_response` (it is most of a row's bytes)"})


OrderPageSchema = page_schema(OrderListItemSchema, "OrderPageSchema")
INCLUDABLE = ("broker_response",)


class OrderQuerySchema(TimeRangeQuerySchema):
    """``GET /orders``: by portfolio, asset, status, side, client id, source and times."""

    status = fields.String(load_default=None, validate=validate.OneOf(ORDER_STATUSES))
    side = fields.String(load_default=None, validate=validate.OneOf(ORDER_SIDES))
    client_order_id = fields.String(
        load_default=None, validate=validate.Length(min=1, max=100),
        metadata={"description": "exactly this client id (find an order after a timeout)"})
    source = fields.String(load_default=None, validate=validate.OneOf(ORDER_SOURCES),
                           metadata={"description": "who placed it"})
    updated_since = utc_datetime(load_default=None, metadata={
        "description": "changed at or after this time (updated_at >=)"})
    include = fields.String(load_default=None, validate=validate.OneOf(INCLUDABLE), metadata={
        "description": "`broker_response`: add each order's broker answer (left out by "
                       "default)"})
    sort = fields.String(load_default="created_at", validate=validate.OneOf(ORDER_SORT_KEYS))
    direction = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))


class ManualOrderSchema(Schema):
    """``POST /assets/<id>/orders``: a market, limit or stop order with optional SL/TP.

    Without ``quantity`` the order is sized from the asset's allocation.
    """

    side = fields.String(required=True, validate=validate.OneOf(ORDER_SIDES))
    order_type = fields.String(load_default="market", validate=validate.OneOf(ORDER_TYPES))
    quantity = fields.Float(load_default=None, allow_none=True, validate=_POSITIVE)
    price = fields.Float(load_default=None, allow_none=True, validate=_POSITIVE)
    stop_loss = fields.Float(load_default=None, allow_none=True, validate=_POSITIVE)
    take_profit = fields.Float(load_default=None, allow_none=True, validate=_POSITIVE)


class ManualOrderResultSchema(Schema):
    """What became of a placed manual order or close (refusals answer 422/429 instead)."""

    # Always the order row written: a refusal is an error answer, never this shape (a
    # nullable ``order`` made generated clients leave it untyped).
    order = fields.Nested(OrderSchema, required=True)
    client_order_id = fields.String(required=True)
    status = fields.String(required=True)
    rejected_by = fields.String(allow_none=True, required=True, metadata={
        "description": "always null here: a risk refusal is a 422 `risk_rejected`"})
    message = fields.String(required=True)


class RefusalBodySchema(ErrorBodySchema):
    """A refused order: the error body, which check refused it and what was stored."""

    check = fields.String(metadata={"description": "the risk check that refused"})
    reason = fields.String(metadata={"description": "why the check refused (422)"})
    order_id = fields.Integer(allow_none=True, metadata={
        "description": "the `rejected` order row stored for the refusal (422)"})
    client_order_id = fields.String(allow_none=True, metadata={
        "description": "that row's client id (422)"})
    retry_after = fields.Integer(metadata={
        "description": "seconds until the rate limit lets an order through (429)"})


class RefusalSchema(Schema):
    """``{"error": {...}}`` of a risk refusal (422 ``risk_rejected``, 429 ``rate_limited``)."""

    error = fields.Nested(RefusalBodySchema, required=True)


class PositionSchema(Schema):
    """A position as the API shows it."""

    id = fields.Integer(required=True)
    asset_id = fields.Integer(required=True)
    order_id = fields.Integer(required=True)
    close_order_id = fields.Integer(allow_none=True, required=True)
    side = fields.String(required=True, validate=validate.OneOf(POSITION_SIDES))
    status = fields.String(required=True, validate=validate.OneOf(POSITION_STATUSES))
    quantity = fields.Float(required=True)
    entry_price = fields.Float(required=True)
    current_price = fields.Float(allow_none=True, required=True)
    exit_price = fields.Float(allow_none=True, required=True)
    stop_loss = fields.Float(allow_none=True, required=True)
    take_profit = fields.Float(allow_none=True, required=True)
    unrealized_pnl = fields.Float(required=True)
    realized_pnl = fields.Float(required=True)
    commission = fields.Float(required=True)
    broker_position_id = fields.String(allow_none=True, required=True)
    opened_at = fields.AwareDateTime(required=True)
    closed_at = fields.AwareDateTime(allow_none=True, required=True)
    updated_at = fields.AwareDateTime(required=True)


PositionPageSchema = page_schema(PositionSchema, "PositionPageSchema")


class PositionQuerySchema(TimeRangeQuerySchema):
    """``GET /positions``: filters by portfolio, asset, status, side and opening time."""

    status = fields.String(load_default=None, validate=validate.OneOf(POSITION_STATUSES))
    side = fields.String(load_default=None, validate=validate.OneOf(POSITION_SIDES))
    updated_since = utc_datetime(load_default=None, metadata={
        "description": "changed at or after this time (updated_at >=)"})
    sort = fields.String(load_default="opened_at",
                         validate=validate.OneOf(POSITION_SORT_KEYS))
    direction = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))
