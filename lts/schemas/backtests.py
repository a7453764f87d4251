"""Schemas of ``/api/v1/backtests``: what starts a run, how runs are listed and shown.

A list shows each run's state and headline figures; one run (``GET /backtests/<id>``)
adds the equity curve (at most 2,000 points, epoch milliseconds) and the closed trades.
Plugin configs inside ``parameters`` were stored with their secrets masked.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.models.backtest import BACKTEST_STATUSES
from lts.schemas.common import PageQuerySchema, id_field, page_schema, utc_datetime


class BacktestCreateSchema(Schema):
    """``POST /backtests``: a portfolio of yours and the range ``[from, to)`` (UTC)."""

    portfolio_id = id_field(strict=True, required=True)
    date_from = utc_datetime(required=True, data_key="from", metadata={
        "description": "First bar (ISO 8601; without a zone: UTC)."})
    date_to = utc_datetime(required=True, data_key="to", metadata={
        "description": "End of the range, exclusive; not in the future."})


class BacktestQuerySchema(PageQuerySchema):
    """``GET /backtests``: filter by ``portfolio_id`` and ``status``."""

    portfolio_id = id_field(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(BACKTEST_STATUSES))


class ProgressSchema(Schema):
    """Bars replayed so far, of how many."""

    done = fields.Integer(required=True, attribute="progress_done")
    total = fields.Integer(required=True, attribute="progress_total")
    percent = fields.Integer(required=True)


class BacktestSchema(Schema):
    """A run: who, what, how far, and its metrics once ``done`` (``error`` once ``failed``)."""

    id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    portfolio_id = fields.Integer(required=True, allow_none=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(BACKTEST_STATUSES))
    progress = fields.Function(lambda run: ProgressSchema().dump(run), required=True,
                               metadata={"type": "object", "description": "done, total, "
                                         "percent of the bars replayed"})
    date_from = fields.AwareDateTime(required=True, data_key="from")
    date_to = fields.AwareDateTime(required=True, data_key="to")
    parameters = fields.Dict(required=True, metadata={
        "description": "Range, capital, plugins and their configs (secrets masked)."})
    plugin_versions = fields.Dict(required=True, allow_none=True)
    metrics = fields.Dict(required=True, allow_none=True, metadata={
        "description": "portfolio and per-asset metrics, gaps, errors, halts (when done)."})
    error = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(required=True, allow_none=True)
    finished_at = fields.AwareDateTime(required=True, allow_none=True)


class BacktestDetailSchema(BacktestSchema):
    """One run with its curve and trades."""

    equity = fields.List(fields.Dict(), required=True, allow_none=True, metadata={
        "description": "Portfolio equity {t: epoch ms, v: equity, dd: drawdown fraction}, "
                       "at most 2,000 points (each bucket keeps its low and high)."})
    trades = fields.List(fields.Dict(), required=True, allow_none=True, metadata={
        "description": "Closed trades: symbol, side, quantity, entry/exit time and price, "
                       "pnl net of fees, fees, exit_reason."})


BacktestPageSchema = page_schema(BacktestSchema, "BacktestPageSchema")
