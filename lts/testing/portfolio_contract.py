"""Contract suite for portfolio plugins: :class:`PortfolioContract`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin
from lts.testing.base_contract import PluginContract, make_snapshot, sample_asset


def sample_portfolio(total_capital: float = 10_000.0, *, equity: float | None = None,
                     allocatable: float | None = None) -> PortfolioInfo:
    """Return a :class:`PortfolioInfo` for tests (equity and allocatable default to the capital)."""
    equity = total_capital if equity is None else equity
    return PortfolioInfo(id=1, user_id=1, name="test", total_capital=total_capital,
                         risk_state="active", equity=equity,
                         allocatable=equity if allocatable is None else allocatable)


def check_allocation(allocation: Mapping[int, float], portfolio: PortfolioInfo,
                     assets: Sequence[AssetInfo]) -> None:
    """Fail unless the allocation is safe: known assets, >= 0, sum <= what may be allocated.

    What may be allocated is ``portfolio.capital``: the allocatable equity (SPEC 2a).
    """
    assert isinstance(allocation, dict), (
        f"expected a dict of asset id -> capital, came {type(allocation).__name__}")
    known = {asset.id for asset in assets}
    assert set(allocation) <= known, (
        f"expected only asset ids {sorted(known)}, came {sorted(set(allocation) - known)} too")
    for asset_id, capital in allocation.items():
        assert math.isfinite(capital) and capital >= 0, (
            f"expected a finite capital >= 0 for asset {asset_id}, came {capital!r}")
    total = sum(allocation.values())
    assert total <= portfolio.capital, (
        f"expected at most {portfolio.capital!r} allocated, came {total!r}")
    assert math.fsum(allocation.values()) <= portfolio.capital, (
        f"expected at most {portfolio.capital!r} allocated (exact sum), came "
        f"{math.fsum(allocation.values())!r}")


class PortfolioContract(PluginContract):
    """Allocations are never negative, never above the total, only to the given assets.

    ``symbols`` are the symbols of the sample assets (a fixed-weights style plugin
    should be configured for them in ``plugin_config``).
    """

    kind = "portfolio"
    symbols: ClassVar[tuple[str, ...]] = ("AAA", "BBB", "CCC", "DDD")

    def assets_and_snapshots(self, count: int, seed: int = 1
                             ) -> tuple[list[AssetInfo], dict[int, MarketSnapshot]]:
        """Sample assets (cycling through ``symbols``) with a snapshot each."""
        assets = [sample_asset(self.symbols[i % len(self.symbols)], asset_id=i + 1)
                  for i in range(count)]
        snapshots = {asset.id: make_snapshot(symbol=asset.symbol, seed=seed + asset.id,
                                             volatility=0.001 * (1 + asset.id % 3))
                     for asset in assets}
        return assets, snapshots

    def test_allocates_only_what_exists(self, plugin: PortfolioPlugin) -> None:
        """Four assets and ten thousand: a safe split."""
        assets, snapshots = self.assets_and_snapshots(4)
        portfolio = sample_portfolio()
        check_allocation(plugin.allocate(portfolio, assets, snapshots), portfolio, assets)

    def test_allocates_the_equity_not_the_original_capital(self, plugin: PortfolioPlugin
                                                           ) -> None:
        """Equity fell to 4,000 and 1,500 is held by a deactivated asset: 2,500 to split."""
        assets, snapshots = self.assets_and_snapshots(4)
        portfolio = sample_portfolio(10_000.0, equity=4_000.0, allocatable=2_500.0)
        allocation = plugin.allocate(portfolio, assets, snapshots)
        check_allocation(allocation, portfolio, assets)

    def test_nothing_allocatable_allocates_zero(self, plugin: PortfolioPlugin) -> None:
        """Equity gone (or all held by other assets): every share is 0."""
        assets, snapshots = self.assets_and_snapshots(3)
        allocation = plugin.allocate(sample_portfolio(10_000.0, equity=-50.0, allocatable=0.0),
                                     assets, snapshots)
        assert all(value == 0 for value in allocation.values()), (
            f"expected 0 for every asset (nothing allocatable), came {allocation}")

    def test_no_assets_no_allocation(self, plugin: PortfolioPlugin) -> None:
        """An empty portfolio allocates nothing."""
        allocation = plugin.allocate(sample_portfolio(), [], {})
        assert sum(allocation.values()) == 0, f"expected nothing allocated, came {allocation}"

    def test_zero_capital_allocates_zero(self, plugin: PortfolioPlugin) -> None:
        """No capital, nothing to split."""
        assets, snapshots = self.assets_and_snapshots(3)
        allocation = plugin.allocate(sample_portfolio(0.0), assets, snapshots)
        assert all(value == 0 for value in allocation.values()), (
            f"expected 0 for every asset (no capital), came {allocation}")

    def test_works_without_snapshots(self, plugin: PortfolioPlugin) -> None:
        """The engine may allocate before any data is fetched."""
        assets, _ = self.assets_and_snapshots(3)
        portfolio = sample_portfolio()
        check_allocation(plugin.allocate(portfolio, assets, {}), portfolio, assets)

    # Each subclass runs this one method against its own plugin (different executors by
    # design); derandomize keeps every run reproducible.
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow,
                                     HealthCheck.differing_executors])
    @given(total=st.floats(min_value=0, max_value=1e12, allow_nan=False),
           count=st.integers(min_value=0, max_value=12),
           with_data=st.booleans())
    def test_property_never_negative_never_above_total(self, total: float, count: int,
                                                       with_data: bool) -> None:
        """Any equity, any number of assets: every share >= 0, sum <= the equity."""
        plugin = self.make_plugin()
        assert isinstance(plugin, PortfolioPlugin), (
            f"expected a PortfolioPlugin, came {type(plugin).__name__}")
        assets, snapshots = self.assets_and_snapshots(count)
        portfolio = sample_portfolio(1e12, equity=total)
        allocation = plugin.allocate(portfolio, assets, snapshots if with_data else {})
        check_allocation(allocation, portfolio, assets)
