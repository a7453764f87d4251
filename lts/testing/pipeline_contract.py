"""Contract suite for pipeline plugins: :class:`PipelineContract`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin
from lts.testing.base_contract import SAMPLE_NOW, PluginContract, sample_asset

COLUMNS = ("open", "high", "low", "close", "volume")


class PipelineContract(PluginContract):
    """Snapshots with OHLCV on a sorted UTC index, never a bar after ``now``, repeatable.

    Set ``symbol`` (and ``now``) to something your pipeline has data for; override the
    ``asset`` fixture for more.
    """

    kind = "pipeline"
    symbol: ClassVar[str] = "TEST"
    now: ClassVar[datetime] = SAMPLE_NOW

    @pytest.fixture
    def asset(self) -> AssetInfo:
        """The asset whose data is asked for."""
        return sample_asset(self.symbol)

    def test_snapshot_has_ohlcv_on_a_sorted_utc_index(self, plugin: PipelinePlugin,
                                                      asset: AssetInfo) -> None:
        """Columns, index type, order and uniqueness are what strategies rely on."""
        snapshot = plugin.snapshot(asset, self.now)
        assert isinstance(snapshot, MarketSnapshot)
        assert snapshot.symbol == asset.symbol
        candles = snapshot.candles
        assert set(COLUMNS) <= set(candles.columns)
        assert len(candles) > 0
        assert isinstance(candles.index, pd.DatetimeIndex)
        assert str(candles.index.tz) == "UTC"
        assert candles.index.is_monotonic_increasing and candles.index.is_unique

    def test_prices_are_finite_positive_and_bracketed(self, plugin: PipelinePlugin,
                                                      asset: AssetInfo) -> None:
        """High is the top and low the bottom of every bar; no NaN."""
        candles = plugin.snapshot(asset, self.now).candles
        prices = candles[["open", "high", "low", "close"]].to_numpy()
        assert np.isfinite(prices).all() and (prices > 0).all()
        assert (candles["high"] >= candles[["open", "close"]].max(axis=1) - 1e-12).all()
        assert (candles["low"] <= candles[["open", "close"]].min(axis=1) + 1e-12).all()
        assert (candles["volume"].to_numpy() >= 0).all()

    def test_never_returns_a_bar_from_the_future(self, plugin: PipelinePlugin,
                                                 asset: AssetInfo) -> None:
        """Every bar is at or before ``now``, and ``as_of`` is ``now``."""
        for now in (self.now, self.now - timedelta(minutes=37, seconds=13)):
            snapshot = plugin.snapshot(asset, now)
            if len(snapshot.candles):
                assert snapshot.candles.index[-1] <= pd.Timestamp(now)
            assert snapshot.as_of == now

    def test_is_repeatable(self, plugin: PipelinePlugin, asset: AssetInfo) -> None:
        """Asking twice for the same moment gives the same bars."""
        first = plugin.snapshot(asset, self.now).candles
        second = plugin.snapshot(asset, self.now).candles
        pd.testing.assert_frame_equal(first, second)

    def test_a_later_now_does_not_rewrite_history(self, plugin: PipelinePlugin,
                                                  asset: AssetInfo) -> None:
        """Bars seen earlier are unchanged when asked again later."""
        earlier = plugin.snapshot(asset, self.now - timedelta(hours=1)).candles
        later = plugin.snapshot(asset, self.now).candles
        common = earlier.index.intersection(later.index)
        pd.testing.assert_frame_equal(earlier.loc[common, list(COLUMNS)],
                                      later.loc[common, list(COLUMNS)])

    def test_predictions_when_given_have_a_close_column(self, plugin: PipelinePlugin,
                                                        asset: AssetInfo) -> None:
        """Optional forecasts are a frame with forecast closes."""
        predictions = plugin.snapshot(asset, self.now).predictions
        if predictions is not None:
            assert "close" in predictions.columns
