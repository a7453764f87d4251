"""Strategy ``sma_cross``: trade the regime of a fast and a slow simple moving average.

Long while the fast SMA is above the slow one, short while below (if ``allow_short``).
A position against the regime is closed when the averages cross; a flat asset opens in
the regime's direction. Trading the regime rather than the crossing bar alone means a
portfolio that runs less often than bars arrive never misses a cross.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.strategy._common import ExitsConfig, exit_prices


class SmaCrossConfig(ExitsConfig):
    """Settings of the moving-average crossover; ``fast`` must be shorter than ``slow``."""

    fast = fields.Integer(load_default=10, validate=validate.Range(min=1, max=10_000),
                          metadata={"description": "Bars in the fast moving average."})
    slow = fields.Integer(load_default=30, validate=validate.Range(min=2, max=10_000),
                          metadata={"description": "Bars in the slow moving average."})

    @validates_schema
    def fast_below_slow(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse a fast average that is not shorter than the slow one."""
        if data.get("fast", 10) >= data.get("slow", 30):
            raise ValidationError("must be smaller than slow", field_name="fast")


class SmaCross(StrategyPlugin):
    """Long while the fast SMA is above the slow SMA, short while below."""

    name = "sma_cross"
    interface_version = "1.0"
    description = "Fast/slow simple moving-average crossover."
    config_schema = SmaCrossConfig

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Close against the regime, open with it, hold otherwise."""
        fast_n, slow_n = int(self.config["fast"]), int(self.config["slow"])
        closes = snapshot.candles["close"]
        if len(closes) < slow_n:
            return Decision.hold(f"not enough data: {len(closes)} bars, slow SMA needs {slow_n}")
        fast = float(closes.iloc[-fast_n:].mean())
        slow = float(closes.iloc[-slow_n:].mean())
        described = f"SMA{fast_n} {fast:.6g} vs SMA{slow_n} {slow:.6g}"
        regime = "long" if fast > slow else "short" if fast < slow else None

        if position is not None:
            if regime is not None and regime != position.side:
                return Decision(action="close", reason=f"cross against {position.side}: "
                                                       f"{described}")
            return Decision.hold(f"keep {position.side}: {described}")
        if allocation <= 0:
            return Decision.hold(f"no capital allocated ({described})")
        if regime == "long" or (regime == "short" and self.config["allow_short"]):
            side = "buy" if regime == "long" else "sell"
            stop_loss, take_profit = exit_prices(side, snapshot.last_price, self.config)
            return Decision(action="open", side=side, stop_loss=stop_loss,
                            take_profit=take_profit, reason=f"open {regime}: {described}")
        return Decision.hold(f"no entry: {described}")
