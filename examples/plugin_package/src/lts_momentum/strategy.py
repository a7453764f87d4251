"""The ``momentum`` strategy: follow the return of the last ``lookback`` bars.

Goes long when the close rose more than ``threshold`` (relative) over ``lookback``
bars, short when it fell more (if ``allow_short``), and closes a position when the
momentum turns against it. The engine sizes the order from the allocation.
"""

from __future__ import annotations

import marshmallow
from marshmallow import fields, validate

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin


class MomentumConfig(marshmallow.Schema):
    """Settings of the momentum strategy."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    lookback = fields.Integer(load_default=20, validate=validate.Range(min=1, max=10_000),
                              metadata={"description": "Bars over which momentum is measured."})
    threshold = fields.Float(load_default=0.005, validate=validate.Range(min=0),
                             metadata={"description": "Smallest relative move that trades "
                                                      "(0.005 = 0.5%)."})
    allow_short = fields.Boolean(load_default=True,
                                 metadata={"description": "Open shorts on falling momentum."})


class Momentum(StrategyPlugin):
    """Long on rising momentum, short on falling momentum, out when it turns."""

    name = "momentum"
    interface_version = "1.0"
    description = "Follows the return of the last lookback bars."
    config_schema = MomentumConfig

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open with the momentum, close against it, hold otherwise."""
        lookback = int(self.config["lookback"])
        closes = snapshot.candles["close"]
        if len(closes) <= lookback:
            return Decision.hold(f"need {lookback + 1} bars, have {len(closes)}")
        past = float(closes.iloc[-lookback - 1])
        move = (float(closes.iloc[-1]) - past) / past
        threshold = float(self.config["threshold"])
        described = f"momentum {move:+.3%} over {lookback} bars"
        if position is not None:
            against = move < -threshold if position.side == "long" else move > threshold
            if against:
                return Decision(action="close", reason=f"momentum turned: {described}")
            return Decision.hold(f"keep {position.side}: {described}")
        if allocation <= 0:
            return Decision.hold(f"no capital allocated ({described})")
        if move > threshold:
            return Decision(action="open", side="buy", reason=f"rising {described}")
        if move < -threshold and self.config["allow_short"]:
            return Decision(action="open", side="sell", reason=f"falling {described}")
        return Decision.hold(f"no signal: {described}")
