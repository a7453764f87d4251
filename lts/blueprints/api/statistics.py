"""``/api/v1/statistics``: one series, downsampled on the server, and the visible keys."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp
from lts.schemas.admin import (
    SeriesSchema,
    StatisticKeysQuerySchema,
    StatisticKeysSchema,
    StatisticsQuerySchema,
)
from lts.security.authz import client_ip
from lts.services import statistics
from lts.web.request import actor


@bp.get("/statistics")
@bp.arguments(StatisticsQuerySchema, location="query", unknown=RAISE)
@bp.response(200, SeriesSchema)
def get_statistics(args: dict[str, Any]) -> Any:
    """A series (``?key=&since=&until=&bucket=``); at most ``max_points`` (<= 1000) points.

    ``raw=true`` pages the stored rows themselves by ``cursor`` (copying a series).
    """
    series = statistics.read_series(actor(), args["key"], since=args["since"],
                                    until=args["until"], bucket=args["bucket"],
                                    max_points=args["max_points"], raw=args["raw"],
                                    cursor=args["cursor"], ip=client_ip())
    return {"key": series.key, "bucket_seconds": series.bucket_seconds,
            "raw_count": series.raw_count, "next_cursor": series.next_cursor,
            "points": [{"timestamp": ts, "value": value} for ts, value in series.points]}


@bp.get("/statistics/keys")
@bp.arguments(StatisticKeysQuerySchema, location="query", unknown=RAISE)
@bp.response(200, StatisticKeysSchema)
def statistic_keys(args: dict[str, Any]) -> Any:
    """The series keys you may read."""
    return {"items": statistics.list_keys(actor(), args["prefix"])}
