"""Contract suite for pipeline plugins: :class:`PipelineContract`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from lts.plugins.bars import bar_period
from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin
from lts.testing.base_contract import SAMPLE_NOW, PluginContract, sample_asset

COLUMNS = ("open", "high", "low", "close", "volume")


class PipelineContract(PluginContract):
    """Snapshots with OHLCV on a sorted UTC index, complete bars only at ``now``, repeatable.

    Bars are stamped by the start of their period and returned once complete (SPEC 2a,
    :mod:`lts.plugins.bars`): the forming bar never is.

    ``bars(asset, start, end)`` returns exactly the bars stamped in [start, end) that the
    snapshot at ``end`` would hold, also further back than its window.

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
        """Every bar is complete at ``now`` (stamp + period <= now); ``as_of`` is ``now``."""
        for now in (self.now, self.now - timedelta(minutes=37, seconds=13)):
            snapshot = plugin.snapshot(asset, now)
            candles = snapshot.candles
            if len(candles):
                period = bar_period(candles.index) or pd.Timedelta(0)
                assert candles.index[-1] + period <= pd.Timestamp(now), (
                    f"at now={now} the newest bar is stamped {candles.index[-1]} with period "
                    f"{period}: it is still forming (bars are stamped by their start and "
                    f"returned once complete, see lts.plugins.bars)")
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

    def test_bars_is_implemented(self, plugin: PipelinePlugin) -> None:
        """Protective checks after a gap need ``bars()`` (SPEC 3); the default refuses."""
        assert type(plugin).bars is not PipelinePlugin.bars, (
            f"{type(plugin).__name__} does not implement bars(asset, start, end): the "
            f"paper broker cannot check stops across a gap longer than the window")

    def test_bars_are_the_snapshot_bars_of_the_range(self, plugin: PipelinePlugin,
                                                     asset: AssetInfo) -> None:
        """``bars(start, end)`` is the snapshot's bars stamped in [start, end), no more."""
        candles = plugin.snapshot(asset, self.now).candles
        assert len(candles) >= 3, "the suite needs a snapshot of 3 bars or more at `now`"
        start, end = candles.index[1].to_pydatetime(), candles.index[-1].to_pydatetime()
        bars = plugin.bars(asset, start, end)
        expected = candles[(candles.index >= start) & (candles.index < end)]
        assert list(bars.index) == list(expected.index), (
            f"bars({start}, {end}) returned {list(bars.index)[:3]}..., expected the "
            f"snapshot's {list(expected.index)[:3]}...")
        pd.testing.assert_frame_equal(bars[list(COLUMNS)], expected[list(COLUMNS)])

    def test_bars_never_reach_end(self, plugin: PipelinePlugin, asset: AssetInfo) -> None:
        """``end`` plays the part of ``now``: only bars complete at it, none before start."""
        for end in (self.now, self.now - timedelta(minutes=37, seconds=13)):
            start = end - timedelta(days=2)
            bars = plugin.bars(asset, start, end)
            assert isinstance(bars.index, pd.DatetimeIndex) and str(bars.index.tz) == "UTC"
            assert set(COLUMNS) <= set(bars.columns)
            if len(bars):
                period = bar_period(bars.index) or pd.Timedelta(0)
                assert bars.index[0] >= pd.Timestamp(start), bars.index[0]
                assert bars.index[-1] + period <= pd.Timestamp(end), (
                    f"bars(..., end={end}) returned a bar stamped {bars.index[-1]} (period "
                    f"{period}): not complete at end")
                assert bars.index.is_monotonic_increasing and bars.index.is_unique

    def test_bars_reach_further_back_than_the_window(self, plugin: PipelinePlugin,
                                                     asset: AssetInfo) -> None:
        """Bars older than the snapshot's window are there, and agree with older snapshots."""
        window = plugin.snapshot(asset, self.now).candles
        first = window.index[0].to_pydatetime()
        older = plugin.bars(asset, first - timedelta(days=1), first)
        if len(older):
            assert older.index[-1] < window.index[0]
            earlier = plugin.snapshot(asset, older.index[-1].to_pydatetime()).candles
            common = older.index.intersection(earlier.index)
            assert len(common), "an older snapshot shares no bar with bars()"
            pd.testing.assert_frame_equal(older.loc[common, list(COLUMNS)],
                                          earlier.loc[common, list(COLUMNS)])

    def test_bars_of_an_empty_range_are_empty(self, plugin: PipelinePlugin,
                                              asset: AssetInfo) -> None:
        """``start == end`` holds no bar (and is not an error)."""
        assert len(plugin.bars(asset, self.now, self.now)) == 0
