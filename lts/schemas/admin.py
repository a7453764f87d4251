"""Schemas of statistics, config, plugins and the loop."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.list_limits import MAX_POINTS
from lts.models.enums import RISK_STATES
from lts.schemas.common import utc_datetime

PLUGIN_KINDS = ("aaa", "core", "pipeline", "strategy", "broker", "portfolio")


class StatisticsQuerySchema(Schema):
    """``GET /statistics``: one key, a range and an optional bucket (``5m``, ``1h``...)."""

    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    since = utc_datetime(load_default=None)
    until = utc_datetime(load_default=None)
    bucket = fields.String(load_default=None, validate=validate.Length(min=1, max=12), metadata={
        "description": "the width each point averages: whole seconds (`300`) or a number "
                       "with a unit `s`, `m`, `h` or `d` (`30s`, `5m`, `1h`, `1d`), from "
                       "1 s to 366 days; absent: chosen so at most `max_points` points "
                       "come back", "pattern": "^[0-9]+[smhdSMHD]?$", "example": "5m"})
    max_points = fields.Integer(load_default=MAX_POINTS,
                                validate=validate.Range(min=1, max=MAX_POINTS))
    raw = fields.Boolean(load_default=False, metadata={
        "description": "the stored rows themselves, oldest first, `max_points` at a time "
                       "(no averaging; `bucket` not allowed): page on with `cursor`"})
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1000),
                           metadata={"description": "with `raw`: the `next_cursor` of the "
                                                    "answer before (the rows after it)"})


class PointSchema(Schema):
    """One point of a series (a bucket's start and mean when downsampled)."""

    timestamp = fields.AwareDateTime(required=True)
    value = fields.Float(required=True)


class SeriesSchema(Schema):
    """A series for a chart: at most ``max_points`` points, oldest first."""

    key = fields.String(required=True)
    bucket_seconds = fields.Integer(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "with `raw`: pass as `?cursor=` for the rows after these (null: "
                       "none yet)"})
    raw_count = fields.Integer(required=True)
    points = fields.List(fields.Nested(PointSchema), required=True)


class StatisticKeysQuerySchema(Schema):
    """``GET /statistics/keys``: an optional prefix."""

    prefix = fields.String(load_default=None, validate=validate.Length(max=200))


class StatisticKeysSchema(Schema):
    """The series keys the caller may read."""

    items = fields.List(fields.String(), required=True)


class ConfigItemSchema(Schema):
    """One setting (secrets masked)."""

    key = fields.String(required=True)
    value = fields.Raw(allow_none=True, required=True)
    default = fields.Raw(allow_none=True, required=True)
    description = fields.String(required=True)
    runtime = fields.Boolean(required=True)
    secret = fields.Boolean(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("table", "config")))
    updated_at = fields.AwareDateTime(allow_none=True, required=True)


class ConfigListSchema(Schema):
    """Every setting."""

    items = fields.List(fields.Nested(ConfigItemSchema), required=True)


class ConfigValueSchema(Schema):
    """``PUT /config/<key>``: the new value (JSON of the setting's type)."""

    value = fields.Raw(required=True, allow_none=True)


class PluginSchema(Schema):
    """A loaded plugin with the JSON Schema of its config."""

    kind = fields.String(required=True, validate=validate.OneOf(PLUGIN_KINDS))
    name = fields.String(required=True)
    description = fields.String(required=True)
    origin = fields.String(required=True)
    version = fields.String(required=True, metadata={
        "description": "version of the distribution shipping it (LTS's for built-ins)"})
    interface_version = fields.String(required=True, metadata={
        "description": "contract version the plugin declares"})
    is_default = fields.Boolean(required=True)
    config_schema = fields.Dict(required=True)
    settings = fields.List(fields.String(), required=True, metadata={
        "description": "global settings it declares (set with --set, LTS_<NAME>, config file)"})


class PluginErrorSchema(Schema):
    """A plugin that failed to load (shown to admins)."""

    kind = fields.String(required=True, validate=validate.OneOf(PLUGIN_KINDS))
    name = fields.String(required=True)
    origin = fields.String(required=True)
    message = fields.String(required=True)


class PluginListSchema(Schema):
    """Every loaded plugin; ``errors`` lists load failures (empty for non-admins)."""

    items = fields.List(fields.Nested(PluginSchema), required=True)
    errors = fields.List(fields.Nested(PluginErrorSchema), required=True)


class PluginQuerySchema(Schema):
    """``GET /plugins``: an optional kind."""

    kind = fields.String(load_default=None, validate=validate.OneOf(PLUGIN_KINDS))


class LoopStatusSchema(Schema):
    """What the loop is doing (recent errors for admins only)."""

    leader = fields.String(allow_none=True, required=True, metadata={
        "description": "host:pid of the process holding the lease (admins); "
                       "others see only that a process holds it"})
    lease_expires_at = fields.AwareDateTime(allow_none=True, required=True)
    last_tick_at = fields.AwareDateTime(allow_none=True, required=True)
    last_tick_seconds = fields.Float(allow_none=True, required=True)
    next_tick_at = fields.AwareDateTime(allow_none=True, required=True)
    interval_minutes = fields.Float(required=True)
    paused = fields.Boolean(required=True)
    kill_switch = fields.Boolean(required=True)
    risk_state = fields.String(required=True, validate=validate.OneOf(RISK_STATES),
                               metadata={"description": "Global risk state (halted exactly "
                                                        "when the kill switch is on)."})
    recent_errors = fields.Method("_errors", required=True,
                                  metadata={"type": "array", "items": {"type": "object"}})

    def _errors(self, status: object) -> list[dict[str, object]]:
        """Errors with their timestamps as ISO-8601 text."""
        result = []
        for error in getattr(status, "recent_errors", ()):
            item = dict(error)
            at = item.get("at")
            item["at"] = at.isoformat() if hasattr(at, "isoformat") else at
            result.append(item)
        return result


class TickResultSchema(Schema):
    """What one tick run on request did."""

    started_at = fields.AwareDateTime(required=True)
    finished_at = fields.AwareDateTime(required=True)
    duration_seconds = fields.Float(required=True)
    portfolios_run = fields.List(fields.Integer(), required=True)
    assets_run = fields.Integer(required=True)
    errors = fields.Integer(required=True)
    skipped_reason = fields.String(allow_none=True, required=True)
