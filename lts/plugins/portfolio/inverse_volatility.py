"""Portfolio ``inverse_volatility``: more capital to calmer assets.

Each asset's weight is proportional to 1 / (standard deviation of its last ``window``
log returns), from the snapshots the engine passes. An asset without enough data gets
the average weight of the others; when no asset has data, capital is split evenly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import marshmallow
import numpy as np
from marshmallow import fields, validate

from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin
from lts.plugins.portfolio._common import capped


class InverseVolatilityConfig(marshmallow.Schema):
    """Settings of the inverse-volatility allocation."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    window = fields.Integer(load_default=20, validate=validate.Range(min=2, max=100_000),
                            metadata={"description": "Number of recent returns whose "
                                                     "volatility is measured."})
    min_volatility = fields.Float(load_default=1e-6,
                                  validate=validate.Range(min=0, min_inclusive=False),
                                  metadata={"description": "Floor of the measured "
                                                           "volatility, so a flat price "
                                                           "cannot take everything."})


def recent_volatility(snapshot: MarketSnapshot | None, window: int) -> float | None:
    """Return the std of the last ``window`` log returns, or None without enough data."""
    if snapshot is None or snapshot.candles.empty:
        return None
    closes = snapshot.candles["close"].to_numpy(dtype=np.float64)[-(window + 1):]
    if len(closes) < window + 1 or not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        return None
    volatility = float(np.std(np.diff(np.log(closes)), ddof=1))
    return volatility if math.isfinite(volatility) else None


class InverseVolatility(PortfolioPlugin):
    """Weight assets by the inverse of their recent volatility."""

    name = "inverse_volatility"
    interface_version = "1.0"
    description = "Capital proportional to 1 / recent volatility of each asset."
    config_schema = InverseVolatilityConfig

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Split the capital by inverse volatility (see the module doc for missing data)."""
        if not assets:
            return {}
        window = int(self.config["window"])
        floor = float(self.config["min_volatility"])
        inverse: dict[int, float | None] = {}
        for asset in assets:
            volatility = recent_volatility(snapshots.get(asset.id), window)
            inverse[asset.id] = None if volatility is None else 1.0 / max(volatility, floor)
        known = [value for value in inverse.values() if value is not None]
        fill = sum(known) / len(known) if known else 1.0
        weights = {asset_id: fill if value is None else value
                   for asset_id, value in inverse.items()}
        summed = sum(weights.values())
        raw = {asset_id: portfolio.capital * weight / summed
               for asset_id, weight in weights.items()}
        return capped(raw, portfolio.capital)
