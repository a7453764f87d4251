"""The forecast drawn on the asset page's candle chart: line, interval band, model, status.

Kept apart from :mod:`lts.services.dashboard_queries` (which builds the chart from the
pipeline's snapshot): this only turns ``snapshot.predictions`` into what charts.js
draws, ``None`` when the pipeline gives no predictions.
"""

from __future__ import annotations

import math
from typing import Any

from lts.plugins.base import MarketSnapshot

#: Most forecast points drawn (a long horizon would squash the candles).
MAX_POINTS = 100


def _points(column: Any) -> list[dict[str, float]]:
    """``[{time, value}]`` of a column, finite values only, epoch seconds."""
    return [{"time": int(stamp.timestamp()), "value": float(value)}
            for stamp, value in column.items() if math.isfinite(float(value))]


def forecast_data(snapshot: MarketSnapshot) -> dict[str, Any] | None:
    """The forecast of ``snapshot`` for charts.js, or None without predictions."""
    predictions = snapshot.predictions
    if predictions is None or "close" not in predictions or predictions.empty:
        return None
    frame = predictions.head(MAX_POINTS)
    attrs = predictions.attrs
    data: dict[str, Any] = {
        "close": _points(frame["close"]),
        "model": str(attrs.get("model") or "forecast"),
        "status": str(attrs.get("fit_status") or ""),
        "message": str(attrs.get("fit_message") or ""),
    }
    if "lower" in frame and "upper" in frame:
        data["lower"] = _points(frame["lower"])
        data["upper"] = _points(frame["upper"])
    # the line starts at the last close, so it visibly continues the candles
    if len(snapshot.candles) and data["close"]:
        last = snapshot.candles.index[-1]
        anchor = {"time": int(last.timestamp()), "value": float(snapshot.candles["close"].iloc[-1])}
        for key in ("close", "lower", "upper"):
            if key in data:
                data[key] = [anchor, *data[key]]
    return data
