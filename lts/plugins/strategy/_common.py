"""Pieces shared by the built-in strategies: stop-loss / take-profit settings and prices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow
import numpy as np
from marshmallow import fields, validate

from lts.plugins.base import _NS_PER_UNIT, MarketSnapshot, Side, StrategyPlugin


class ExitsConfig(marshmallow.Schema):
    """Stop-loss and take-profit distances, in percent of the price or in pips."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    allow_short = fields.Boolean(load_default=True,
                                 metadata={"description": "Open short positions on a "
                                                          "downward signal."})
    sl_tp_unit = fields.String(load_default="pct", validate=validate.OneOf(["pct", "pips"]),
                               metadata={"description": "Unit of stop_loss and take_profit: "
                                                        "percent of the entry price or pips."})
    stop_loss = fields.Float(load_default=1.0, allow_none=True,
                             validate=validate.Range(min=0),
                             metadata={"description": "Distance of the stop loss from the "
                                                      "entry (0 or null: none)."})
    take_profit = fields.Float(load_default=2.0, allow_none=True,
                               validate=validate.Range(min=0),
                               metadata={"description": "Distance of the take profit from "
                                                        "the entry (0 or null: none)."})
    pip_size = fields.Float(load_default=0.0001,
                            validate=validate.Range(min=0, min_inclusive=False),
                            metadata={"description": "Price of one pip (0.0001 for most FX "
                                                     "pairs, 0.01 for JPY pairs)."})


def _distance(price: float, amount: float | None, config: Mapping[str, Any]) -> float | None:
    """Price distance of ``amount`` in the configured unit; None when there is no exit."""
    if not amount:
        return None
    if config.get("sl_tp_unit", "pct") == "pips":
        return float(amount) * float(config.get("pip_size", 0.0001))
    return price * float(amount) / 100.0


def exit_prices(side: Side, price: float, config: Mapping[str, Any]
                ) -> tuple[float | None, float | None]:
    """Stop loss and take profit for an entry at ``price``: below/above for a buy."""
    sign = 1.0 if side == "buy" else -1.0
    stop = _distance(price, config.get("stop_loss"), config)
    target = _distance(price, config.get("take_profit"), config)
    stop_price = price - sign * stop if stop is not None else None
    target_price = price + sign * target if target is not None else None
    if stop_price is not None and stop_price <= 0:
        stop_price = None  # a stop at or below zero can never trigger
    if target_price is not None and target_price <= 0:
        target_price = None
    return stop_price, target_price


def percent(value: float) -> str:
    """Format a relative move as a signed percentage for reason strings."""
    return f"{value * 100:+.3f}%"


def prepared_values(strategy: StrategyPlugin, snapshot: MarketSnapshot, rows: int,
                    columns: tuple[str, ...]) -> np.ndarray | None:
    """The handed-over frame's last ``rows`` rows of ``columns`` up to the newest bar.

    The rows :meth:`StrategyPlugin.stored_prepared` answers (the same search on the same
    nanosecond stamps), read from the frame's values converted once instead of a
    DataFrame slice per decision: a backtest decides thousands of times. None where
    ``stored_prepared`` would answer None or search with pandas (then ask it).
    """
    frames = strategy.__dict__.get("_prepared_frames")
    if not frames:
        return None
    frame = frames.get(snapshot.symbol)
    known = strategy.__dict__.get("_prepared_stamps", {}).get(snapshot.symbol)
    index = snapshot.candles.index
    factor = _NS_PER_UNIT.get(getattr(index, "unit", ""))
    if frame is None or known is None or factor is None or not len(index) \
            or known[0] != (getattr(index, "tz", None) is not None):
        return None
    cache = strategy.__dict__.setdefault("_prepared_values", {})
    cached = cache.get(snapshot.symbol)
    if cached is None or cached[0] is not frame:
        if not set(columns) <= set(frame.columns):
            return None
        cached = cache[snapshot.symbol] = (frame, frame[list(columns)].to_numpy(
            dtype=np.float64))
    newest = int(index.asi8[-1]) * factor
    stamps = known[1]
    end = int(np.searchsorted(stamps, newest, side="right"))
    if end >= rows and stamps[end - 1] == newest:
        return cached[1][end - rows:end]
    return None
