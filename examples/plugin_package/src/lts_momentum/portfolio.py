"""The ``momentum_weight`` portfolio: more capital to the assets rising the most.

Each asset's weight is its positive return over ``lookback`` bars (assets without data
or falling get ``floor``); shares go through :func:`lts.plugins.allocation.capped`, so
they never sum to more than the allocatable equity, whatever float rounding does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import marshmallow
from marshmallow import fields, validate

from lts.plugins.allocation import capped
from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin


class MomentumWeightConfig(marshmallow.Schema):
    """Settings of the momentum-weighted allocator."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    lookback = fields.Integer(load_default=20, validate=validate.Range(min=1, max=10_000),
                              metadata={"description": "Bars over which the return is "
                                                       "measured."})
    floor = fields.Float(load_default=0.001, validate=validate.Range(min=0, max=1),
                         metadata={"description": "Weight of an asset without a positive "
                                                  "return (0 leaves it out)."})


class MomentumWeight(PortfolioPlugin):
    """Splits the allocatable equity in proportion to each asset's recent positive return."""

    name = "momentum_weight"
    interface_version = "1.0"
    config_schema = MomentumWeightConfig

    def weight(self, snapshot: MarketSnapshot | None) -> float:
        """The asset's positive return over ``lookback`` bars, at least ``floor``."""
        floor = float(self.config["floor"])
        lookback = int(self.config["lookback"])
        if snapshot is None or len(snapshot.candles) <= lookback:
            return floor
        closes = snapshot.candles["close"]
        change = float(closes.iloc[-1]) / float(closes.iloc[-lookback - 1]) - 1.0
        return max(change, floor)

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Shares of ``portfolio.capital`` proportional to the weights."""
        weights = {asset.id: self.weight(snapshots.get(asset.id)) for asset in assets}
        total = sum(weights.values())
        if total <= 0:
            return dict.fromkeys(weights, 0.0)
        return capped({asset_id: portfolio.capital * w / total
                       for asset_id, w in weights.items()}, portfolio.capital)
