"""Schemas of assets: create/update bodies and the asset shown (broker secrets masked)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from lts.models.enums import DECISION_ACTIONS
from lts.schemas.common import (
    PageQuerySchema,
    PluginConfigField,
    StrictBoolean,
    page_schema,
    utc_datetime,
)
from lts.schemas.orders import ManualOrderResultSchema


class DecisionSchema(Schema):
    """The strategy's latest decision for an asset, and why (holds included)."""

    action = fields.String(required=True, validate=validate.OneOf(DECISION_ACTIONS))
    side = fields.String(allow_none=True, required=True)
    reason = fields.String(required=True)
    orders_placed = fields.Integer(required=True)
    decided_at = fields.AwareDateTime(required=True)


class AssetSchema(Schema):
    """An asset as the API shows it: secrets inside every ``*_config`` are masked."""

    id = fields.Integer(required=True)
    portfolio_id = fields.Integer(required=True)
    symbol = fields.String(required=True)
    name = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    pipeline_plugin = fields.String(required=True)
    pipeline_config = PluginConfigField(required=True)
    strategy_plugin = fields.String(required=True)
    strategy_config = PluginConfigField(required=True)
    broker_plugin = fields.String(required=True)
    broker_config = fields.Method("_broker_config", required=True,
                                  metadata={"type": "object"})
    allocated_capital = fields.Float(required=True)
    max_data_age_minutes = fields.Float(
        required=True, allow_none=True,
        metadata={"description": "Stale-data guard: no opening order when the newest bar "
                                 "ended longer ago than this; null: 3 bar periods"})
    paused_reason = fields.String(
        required=True, allow_none=True, dump_only=True,
        metadata={"description": "Why the engine paused the asset (its broker refused the "
                                 "credentials); null: not paused. Saving new credentials "
                                 "or POST /assets/<id>/resume lifts it"})
    paused_at = fields.AwareDateTime(required=True, allow_none=True, dump_only=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    last_decision = fields.Nested(DecisionSchema, attribute="decision", allow_none=True,
                                  required=True, dump_only=True,
                                  metadata={"description": "null until the loop runs it"})

    def _broker_config(self, asset: Any) -> dict[str, Any]:
        """The broker config with every secret masked (write-only)."""
        from lts.trading.plugin_source import public_config

        return public_config("broker", asset.broker_plugin, asset.broker_config)


AssetPageSchema = page_schema(AssetSchema, "AssetPageSchema")


class AssetQuerySchema(PageQuerySchema):
    """``GET .../assets``: the ``is_active`` filter."""

    is_active = fields.Boolean(load_default=None)


class _AssetFieldsSchema(Schema):
    """The editable fields of an asset."""

    symbol = fields.String(validate=validate.Length(min=1, max=32))
    name = fields.String(validate=validate.Length(max=100))
    is_active = StrictBoolean()
    pipeline_plugin = fields.String(validate=validate.Length(min=1, max=64))
    pipeline_config = fields.Dict(keys=fields.String())
    strategy_plugin = fields.String(validate=validate.Length(min=1, max=64))
    strategy_config = fields.Dict(keys=fields.String())
    broker_plugin = fields.String(validate=validate.Length(min=1, max=64))
    broker_config = fields.Dict(keys=fields.String())
    max_data_age_minutes = fields.Float(
        allow_none=True, validate=validate.Range(min=0, max=527_040, min_inclusive=False),
        metadata={"description": "Stale-data guard: no opening order when the newest bar "
                                 "ended longer ago than this many minutes; null: 3 bar "
                                 "periods"})


class AssetUpdateSchema(_AssetFieldsSchema):
    """``PATCH /assets/<id>``: any subset; a broker secret sent as ``********`` is kept."""

    expected_updated_at = utc_datetime()


class AssetCreateSchema(_AssetFieldsSchema):
    """``POST /portfolios/<id>/assets``: ``symbol`` is required; plugins default."""

    symbol = fields.String(required=True, validate=validate.Length(min=1, max=32))


class CloseAndDeactivateSchema(Schema):
    """``POST /assets/<id>/close-and-deactivate``: the asset, its closing orders, what is left.

    ``still_open`` > 0 (a close refused or not filled yet): the asset is inactive but
    reduce-only until flat; its positions stay marked and protected.
    """

    asset = fields.Nested(AssetSchema, required=True)
    closes = fields.List(fields.Nested(ManualOrderResultSchema), required=True)
    still_open = fields.Integer(required=True)
    flat = fields.Boolean(required=True)
