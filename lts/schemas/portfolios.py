"""Schemas of ``/api/v1/portfolios``: what is accepted on create/update and shown."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.limits import TOTAL_CAPITAL_MAX, TOTAL_CAPITAL_MIN_EXCLUSIVE
from lts.models.enums import RISK_STATES
from lts.schemas.common import (
    PageQuerySchema,
    PluginConfigField,
    StrictBoolean,
    id_field,
    page_schema,
    strict_integer,
    utc_datetime,
)

#: The one bound of ``total_capital`` (:mod:`lts.limits`), documented in the OpenAPI schema.
TOTAL_CAPITAL_RANGE = validate.Range(min=TOTAL_CAPITAL_MIN_EXCLUSIVE, min_inclusive=False,
                                     max=TOTAL_CAPITAL_MAX)


class PortfolioSchema(Schema):
    """A portfolio as the API shows it: secrets inside ``portfolio_config`` are masked."""

    id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    portfolio_plugin = fields.String(required=True)
    portfolio_config = PluginConfigField(required=True)
    total_capital = fields.Float(required=True)
    currency = fields.String(required=True, metadata={
        "description": "ISO 4217 code the portfolio's money is shown in (no conversion)."})
    portfolio_latency = fields.Integer(required=True)
    risk_state = fields.String(required=True, validate=validate.OneOf(RISK_STATES))
    max_drawdown_pct = fields.Float(allow_none=True, required=True)
    last_execution = fields.AwareDateTime(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class PortfolioMoneySchema(PortfolioSchema):
    """A portfolio as its GETs show it: the row plus its equity and P&L, as stored."""

    equity = fields.Float(allow_none=True, required=True, metadata={
        "description": "the latest equity the engine stored (null before its first tick)"})
    realized_pnl = fields.Float(required=True, metadata={
        "description": "the sum of its positions' realized P&L"})
    unrealized_pnl = fields.Float(required=True, metadata={
        "description": "the sum of its open positions' unrealized P&L, as last marked"})


PortfolioPageSchema = page_schema(PortfolioMoneySchema, "PortfolioPageSchema")
PORTFOLIO_SORT_KEYS = ("id", "name", "created_at", "updated_at", "total_capital")


class PortfolioQuerySchema(PageQuerySchema):
    """``GET /portfolios``: ``user_id`` (admins) and ``is_active`` filters."""

    user_id = id_field(load_default=None)
    is_active = fields.Boolean(load_default=None)
    sort = fields.String(load_default="id", validate=validate.OneOf(PORTFOLIO_SORT_KEYS))
    direction = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))


class _PortfolioFieldsSchema(Schema):
    """The editable fields of a portfolio."""

    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=2000))
    is_active = StrictBoolean()
    portfolio_plugin = fields.String(validate=validate.Length(min=1, max=64))
    portfolio_config = fields.Dict(keys=fields.String())
    total_capital = fields.Float(validate=TOTAL_CAPITAL_RANGE)
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error=(
        "must be a three-letter currency code, e.g. USD or EUR")))
    portfolio_latency = strict_integer(validate=validate.Range(min=1, max=525_600))
    max_drawdown_pct = fields.Float(allow_none=True,
                                    validate=validate.Range(min=0, min_inclusive=False,
                                                            max=100))


class PortfolioUpdateSchema(_PortfolioFieldsSchema):
    """``PATCH /portfolios/<id>``: any subset; ``expected_updated_at`` guards the edit."""

    expected_updated_at = utc_datetime()


class PortfolioCreateSchema(_PortfolioFieldsSchema):
    """``POST /portfolios``: ``name`` and ``total_capital`` are required.

    ``user_id`` lets an admin create the portfolio for another user.
    """

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    total_capital = fields.Float(required=True, validate=TOTAL_CAPITAL_RANGE)
    user_id = id_field(strict=True)


class KillSwitchSchema(Schema):
    """``POST .../kill-switch``: ``on`` halts, ``off`` lets it trade again."""

    on = StrictBoolean(required=True)


class RiskStateSchema(Schema):
    """``PUT .../risk-state``: the state to set and, optionally, why (kept in the audit)."""

    state = fields.String(required=True, validate=validate.OneOf(RISK_STATES),
                          metadata={"description": "active: trade; reducing: only closing "
                                                   "orders and cancels; halted: no order "
                                                   "(marks, protective fills and cancels "
                                                   "go on)."})
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500),
                           metadata={"description": "Why; stored in the audit log."})
