"""Portfolio ``equal_weight`` (the default): the same capital for every active asset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin
from lts.plugins.portfolio._common import capped


class EqualWeight(PortfolioPlugin):
    """Split the allocatable equity (``portfolio.capital``) evenly among the assets."""

    name = "equal_weight"
    interface_version = "1.0"
    description = "Split the portfolio's capital evenly among its active assets."

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Give each asset ``capital / len(assets)``."""
        if not assets:
            return {}
        share = portfolio.capital / len(assets)
        return capped({asset.id: share for asset in assets}, portfolio.capital)
