"""Portfolio ``fixed_weights``: a configured share of the capital per symbol.

``weights`` maps symbols to fractions of the allocatable equity (``portfolio.capital``:
the current equity, not the original capital), each >= 0, summing to at most 1; what is
left stays as cash. An asset whose symbol has no weight gets nothing;
assets sharing a symbol share its weight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import marshmallow
from marshmallow import ValidationError, fields, validate, validates_schema

from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin
from lts.plugins.portfolio._common import capped

_TOLERANCE = 1e-9


class FixedWeightsConfig(marshmallow.Schema):
    """Weights per symbol: each at least 0, together at most 1."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    weights = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.Float(validate=validate.Range(min=0, max=1)),
        required=True,
        metadata={"description": "Fraction of the equity to allocate per symbol, e.g. "
                                 '{"EUR_USD": 0.6, "GBP_USD": 0.4}; the sum must be <= 1.'},
    )

    @validates_schema
    def weights_fit(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse weights that add up to more than the whole capital."""
        total = sum(data.get("weights", {}).values())
        if total > 1 + _TOLERANCE:
            raise ValidationError(f"weights sum to {total:g}; they must sum to at most 1",
                                  field_name="weights")


class FixedWeights(PortfolioPlugin):
    """Allocate a fixed fraction of the capital to each configured symbol."""

    name = "fixed_weights"
    interface_version = "1.0"
    description = "A configured fraction of the capital per symbol (sum <= 1)."
    config_schema = FixedWeightsConfig

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Give each asset its symbol's weight times the capital (shared by duplicates)."""
        weights: Mapping[str, float] = self.config.get("weights") or {}
        per_symbol = Counter(asset.symbol for asset in assets)
        raw = {asset.id: portfolio.capital * float(weights.get(asset.symbol, 0.0))
               / per_symbol[asset.symbol] for asset in assets}
        return capped(raw, portfolio.capital)
