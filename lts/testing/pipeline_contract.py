"""Contract suite for pipeline plugins: :class:`PipelineContract`.

Look-ahead is the mistake that costs money silently, so the suite looks for it three
ways (SPEC 2a, "Bar time"):

- by stamp: every returned bar is complete at ``now`` (stamp + period <= now);
- by value: the suite feeds the pipeline raw bars whose every value after ``now`` is
  absurd (:data:`ABSURD`, 1e9) and checks none reaches ``snapshot()`` or ``bars()``,
  resampled bars included (a 5-minute bar that read one minute too far shows it);
- by history: a later ``now`` shows the bars seen earlier unchanged, on several source
  grids, symbols and non-round ``now``s, and the two answers must share bars (a grid
  that shifts with ``now`` shares none, and fails).

Feeding data needs :meth:`PipelineContract.plugin_over`: built in for pipelines based
on the ``csv`` pipeline; a pipeline reading elsewhere overrides it (see its docstring).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from lts.plugins.bars import bar_period
from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin
from lts.testing.base_contract import SAMPLE_NOW, PluginContract, sample_asset

COLUMNS = ("open", "high", "low", "close", "volume")
#: The value of every raw bar that is not complete at ``now`` in the fed data.
ABSURD = 1e9
#: Source grids the fed-data checks try: bar spacing of the raw data.
GRIDS: Mapping[str, pd.Timedelta] = {
    "1-minute": pd.Timedelta(minutes=1),
    "7-minute": pd.Timedelta(minutes=7),
    "hourly": pd.Timedelta(hours=1),
}


def sample_bars(now: datetime, period: timedelta | pd.Timedelta, *, before: int = 2000,
                after: int = 200, seed: int = 1, start_price: float = 100.0) -> pd.DataFrame:
    """Raw OHLCV bars of ``period`` stamped by period start, on a grid aligned on the epoch.

    ``before`` bars start before ``now`` and ``after`` more run past it (the data a live
    source would have later). Prices are a seeded walk around ``start_price``.
    """
    step = pd.Timedelta(period)
    first = pd.Timestamp(now).tz_convert("UTC").floor(step) - before * step
    index = pd.date_range(first, periods=before + after, freq=step, name="time")
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, 0.001, len(index))))
    opens = np.concatenate(([start_price], close[:-1]))
    return pd.DataFrame({
        "open": opens,
        "high": np.maximum(opens, close) * 1.0005,
        "low": np.minimum(opens, close) * 0.9995,
        "close": close,
        "volume": rng.uniform(100.0, 1000.0, len(index)).round(2),
    }, index=index)


def poison_after(bars: pd.DataFrame, now: datetime,
                 period: timedelta | pd.Timedelta) -> pd.DataFrame:
    """A copy of ``bars`` where every bar not complete at ``now`` holds :data:`ABSURD`.

    That is the forming bar and everything after it: values a pipeline must never use.
    """
    poisoned = bars.copy()
    late = poisoned.index + pd.Timedelta(period) > pd.Timestamp(now)
    poisoned.loc[late, list(COLUMNS)] = ABSURD
    return poisoned


def write_csv(bars: pd.DataFrame, path: Path) -> Path:
    """Write ``bars`` as the ``csv`` pipeline reads them (ISO UTC ``timestamp`` column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = bars.loc[:, list(COLUMNS)].copy()
    frame.insert(0, "timestamp", bars.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.to_csv(path, index=False, float_format="%.10g")
    return path


def absurd_values(frame: pd.DataFrame) -> list[str]:
    """``"<stamp> <column>=<value>"`` for the first cells of ``frame`` near :data:`ABSURD`."""
    found: list[str] = []
    for column in (c for c in COLUMNS if c in frame.columns):
        values = frame[column].to_numpy(dtype=np.float64)
        for position in np.flatnonzero(np.abs(values) >= ABSURD / 100)[:3]:
            found.append(f"{frame.index[position]} {column}={values[position]:g}")
    return found


def assert_same_bars(seen: pd.DataFrame, again: pd.DataFrame, what: str) -> None:
    """Fail, naming ``what``, unless both frames hold the same OHLCV on the same stamps."""
    common = seen.index.intersection(again.index)
    assert len(common) > 0, (
        f"{what}: expected bars in common, came none (first answer "
        f"{_span(seen)}, second {_span(again)}): a bar grid that moves with `now` "
        f"rewrites history; align periods on a fixed origin (lts.plugins.bars.resample)")
    left = seen.loc[common, list(COLUMNS)]
    right = again.loc[common, list(COLUMNS)]
    try:
        pd.testing.assert_frame_equal(left, right, check_freq=False)
    except AssertionError as exc:
        changed = left.index[~np.isclose(left.to_numpy(np.float64),
                                         right.to_numpy(np.float64)).all(axis=1)]
        stamp = changed[0] if len(changed) else common[0]
        raise AssertionError(
            f"{what}: expected the {len(common)} bars in common unchanged, came "
            f"{len(changed)} changed, first at {stamp}: {left.loc[stamp].to_dict()} then "
            f"{right.loc[stamp].to_dict()} ({exc})") from None


def _span(frame: pd.DataFrame) -> str:
    """``N bars from A to B`` for messages."""
    if frame.empty:
        return "0 bars"
    return f"{len(frame)} bars {frame.index[0]} .. {frame.index[-1]}"


class PipelineContract(PluginContract):
    """Snapshots with OHLCV on a sorted UTC index, complete bars only at ``now``, repeatable.

    Bars are stamped by the start of their period and returned once complete (SPEC 2a,
    :mod:`lts.plugins.bars`): the forming bar never is, nor any value after ``now``.

    ``bars(asset, start, end)`` returns exactly the bars stamped in [start, end) that the
    snapshot at ``end`` would hold, also further back than its window.

    Set ``symbol`` (or several ``symbols``) and ``now`` to what your pipeline has data
    for; override the ``asset`` fixture for more. Override :meth:`plugin_over` when your
    pipeline does not read CSV files under ``data_dir``.
    """

    kind = "pipeline"
    symbol: ClassVar[str] = "TEST"
    #: Symbols the plugin's own data covers (default: ``symbol`` alone).
    symbols: ClassVar[tuple[str, ...]] = ()
    now: ClassVar[datetime] = SAMPLE_NOW
    #: Symbols of the data the suite feeds through :meth:`plugin_over`.
    fed_symbols: ClassVar[tuple[str, ...]] = ("TEST", "EUR/USD")
    #: Raw bars fed before ``now`` (raise it when your pipeline resamples to long bars).
    fed_bars: ClassVar[int] = 600
    #: Source grids fed (names of :data:`GRIDS`): a source that cannot carry a grid (a
    #: broker API without 7-minute candles) lists those it can.
    fed_grids: ClassVar[tuple[str, ...]] = tuple(GRIDS)
    #: Why the pipeline cannot read data the suite gives it (say, it generates its own):
    #: a non-empty reason skips the fed-data checks, saying so in the test report.
    cannot_read_fed_data: ClassVar[str] = ""

    @pytest.fixture
    def asset(self) -> AssetInfo:
        """The asset whose data is asked for."""
        return sample_asset(self.symbol)

    # ------------------------------------------------------------- helpers

    def moments(self) -> tuple[datetime, ...]:
        """The ``now``s tried: ``now`` itself and two non-round moments before it."""
        return (self.now, self.now - timedelta(minutes=37, seconds=13),
                self.now - timedelta(hours=5, minutes=3, seconds=41))

    def own_symbols(self) -> tuple[str, ...]:
        """Symbols of the plugin's own data."""
        return self.symbols or (self.symbol,)

    def plugin_over(self, sources: Mapping[str, pd.DataFrame],
                    folder: Path) -> PipelinePlugin:
        """Return the plugin under test reading ``sources`` as its raw market data.

        ``sources`` maps symbols to raw OHLCV bars stamped by period start (the suite
        writes absurd values after ``now`` into them); ``folder`` is an empty directory
        for files. The default serves pipelines built on the ``csv`` pipeline: it writes
        ``<symbol>.csv`` files there and builds ``plugin_factory`` with ``plugin_config``
        and ``data_dir`` set to ``folder``. A pipeline reading an API overrides this to
        point at a local fake server answering with ``sources``; one that cannot read
        given data at all sets ``cannot_read_fed_data`` to say why.
        """
        from lts.plugins.pipeline.csv import CsvPipeline, file_name_for

        factory = self.plugin_factory
        if not (isinstance(factory, type) and issubclass(factory, CsvPipeline)):
            raise NotImplementedError(
                f"{type(self).__name__} cannot feed data to {factory!r}: override "
                f"plugin_over(sources, folder) to build your pipeline reading `sources`, "
                f"or set cannot_read_fed_data = '<why>' (the look-ahead checks are then "
                f"skipped)")
        for symbol, bars in sources.items():
            write_csv(bars, folder / file_name_for(symbol))
        config = factory.config_schema().load(dict(self.plugin_config))
        return factory(config, {**self.app_config, "data_dir": str(folder)})

    def _fed(self, sources: Mapping[str, pd.DataFrame], folder: Path) -> PipelinePlugin:
        """:meth:`plugin_over`, or a skip saying why the plugin cannot be fed."""
        if self.cannot_read_fed_data:
            pytest.skip(f"fed-data look-ahead checks skipped: {self.cannot_read_fed_data}")
        return self.plugin_over(sources, folder)

    def _fed_cases(self) -> Iterable[tuple[str, pd.Timedelta, str, datetime]]:
        """(grid name, grid, symbol, now): every grid at every ``now``, symbols in turn."""
        grids = [(name, GRIDS[name]) for name in self.fed_grids]
        cases = itertools.product(grids, self.moments())
        return ((name, grid, self.fed_symbols[number % len(self.fed_symbols)], now)
                for number, ((name, grid), now) in enumerate(cases))

    # ------------------------------------------------------------- shape

    def test_snapshot_has_ohlcv_on_a_sorted_utc_index(self, plugin: PipelinePlugin,
                                                      asset: AssetInfo) -> None:
        """Columns, index type, order and uniqueness are what strategies rely on."""
        snapshot = plugin.snapshot(asset, self.now)
        assert isinstance(snapshot, MarketSnapshot), (
            f"expected a MarketSnapshot, came {type(snapshot).__name__}")
        assert snapshot.symbol == asset.symbol, (
            f"expected symbol {asset.symbol!r}, came {snapshot.symbol!r}")
        candles = snapshot.candles
        assert set(COLUMNS) <= set(candles.columns), (
            f"expected columns {list(COLUMNS)}, came {list(candles.columns)}")
        assert len(candles) > 0, f"expected bars at now={self.now}, came none"
        assert isinstance(candles.index, pd.DatetimeIndex), (
            f"expected a DatetimeIndex, came {type(candles.index).__name__}")
        assert str(candles.index.tz) == "UTC", (
            f"expected a UTC index, came tz={candles.index.tz}")
        assert candles.index.is_monotonic_increasing and candles.index.is_unique, (
            f"expected increasing unique stamps, came {_span(candles)} with "
            f"{int(candles.index.duplicated().sum())} duplicate(s)")

    def test_prices_are_finite_positive_and_bracketed(self, plugin: PipelinePlugin,
                                                      asset: AssetInfo) -> None:
        """High is the top and low the bottom of every bar; no NaN."""
        candles = plugin.snapshot(asset, self.now).candles
        prices = candles[["open", "high", "low", "close"]].to_numpy()
        assert np.isfinite(prices).all() and (prices > 0).all(), (
            f"expected finite positive prices, came "
            f"{candles[~(np.isfinite(prices) & (prices > 0)).all(axis=1)].head(3)}")
        high_ok = candles["high"] >= candles[["open", "close"]].max(axis=1) - 1e-12
        low_ok = candles["low"] <= candles[["open", "close"]].min(axis=1) + 1e-12
        assert high_ok.all(), (
            f"expected high >= open and close, came {candles[~high_ok].head(3)}")
        assert low_ok.all(), f"expected low <= open and close, came {candles[~low_ok].head(3)}"
        negative = candles[candles["volume"].to_numpy() < 0]
        assert negative.empty, f"expected volumes >= 0, came {negative.head(3)}"

    # ------------------------------------------------------------- look-ahead: stamps

    def test_never_returns_a_bar_from_the_future(self, plugin: PipelinePlugin,
                                                 asset: AssetInfo) -> None:
        """Every bar is complete at ``now`` (stamp + period <= now); ``as_of`` is ``now``."""
        for now in self.moments():
            snapshot = plugin.snapshot(asset, now)
            candles = snapshot.candles
            if len(candles):
                period = bar_period(candles.index) or pd.Timedelta(0)
                assert candles.index[-1] + period <= pd.Timestamp(now), (
                    f"at now={now} the newest bar is stamped {candles.index[-1]} with period "
                    f"{period}: it is still forming (bars are stamped by their start and "
                    f"returned once complete, see lts.plugins.bars)")
            assert snapshot.as_of == now, (
                f"expected as_of={now}, came as_of={snapshot.as_of}")

    def test_is_repeatable(self, plugin: PipelinePlugin, asset: AssetInfo) -> None:
        """Asking twice for the same moment gives the same bars."""
        first = plugin.snapshot(asset, self.now).candles
        second = plugin.snapshot(asset, self.now).candles
        assert list(first.index) == list(second.index), (
            f"expected the same bars twice at now={self.now}, came {_span(first)} then "
            f"{_span(second)}")
        assert_same_bars(first, second, f"two snapshots at now={self.now}")

    # ------------------------------------------------------------- look-ahead: history

    def test_a_later_now_does_not_rewrite_history(self, plugin: PipelinePlugin) -> None:
        """Bars seen earlier are unchanged later: several symbols and non-round ``now``s.

        The later moments fall a quarter and a half of the window after the earlier one
        (plus 13 s), so a correct pipeline shares bars between the two answers.
        """
        for symbol, now in itertools.product(self.own_symbols(), self.moments()):
            asset = sample_asset(symbol)
            earlier = plugin.snapshot(asset, now).candles
            assert len(earlier) >= 2, (
                f"{symbol} at now={now}: expected 2 bars or more to compare, came "
                f"{len(earlier)} (set `symbols`/`now` to data your pipeline has)")
            span = (earlier.index[-1] - earlier.index[0]).to_pytimedelta()
            for fraction in (4, 2):
                later_now = now + span / fraction + timedelta(seconds=13)
                later = plugin.snapshot(asset, later_now).candles
                assert_same_bars(earlier, later,
                                 f"{symbol}: snapshot at now={now}, then at {later_now}")

    def test_a_later_now_does_not_rewrite_history_on_any_grid(self,
                                                              tmp_path: Path) -> None:
        """Fed 1-minute, 7-minute and hourly data: a later ``now`` changes no bar seen."""
        for number, (name, grid, symbol, now) in enumerate(self._fed_cases()):
            source = sample_bars(now, grid, before=self.fed_bars, after=self.fed_bars,
                                 seed=number)
            plugin = self._fed({symbol: source}, tmp_path / f"history-{number}")
            asset = sample_asset(symbol)
            earlier = plugin.snapshot(asset, now).candles
            assert len(earlier) >= 1, (
                f"{name} data, {symbol} at now={now}: expected bars, came "
                f"{len(earlier)} (raise fed_bars if your pipeline resamples to long bars)")
            span = (earlier.index[-1] - earlier.index[0]).to_pytimedelta()
            for fraction in (4, 2):
                later_now = now + span / fraction + timedelta(seconds=13)
                later = plugin.snapshot(asset, later_now).candles
                assert_same_bars(earlier, later, f"{name} data, {symbol}: snapshot at "
                                                 f"now={now}, then at {later_now}")
                again = plugin.bars(asset, earlier.index[0].to_pydatetime(), later_now)
                assert_same_bars(earlier, again, f"{name} data, {symbol}: snapshot at "
                                                 f"now={now}, then bars(..., {later_now})")

    # ------------------------------------------------------------- look-ahead: values

    def test_no_value_after_now_reaches_the_snapshot(self, tmp_path: Path) -> None:
        """Raw values after ``now`` are 1e9: none may show, resampled bars included."""
        for number, (name, grid, symbol, now) in enumerate(self._fed_cases()):
            source = poison_after(sample_bars(now, grid, before=self.fed_bars, seed=number),
                                  now, grid)
            plugin = self._fed({symbol: source}, tmp_path / f"snapshot-{number}")
            candles = plugin.snapshot(sample_asset(symbol), now).candles
            assert len(candles) > 0, (
                f"{name} data, {symbol} at now={now}: expected bars, came none (raise "
                f"fed_bars if your pipeline resamples to long bars)")
            leaked = absurd_values(candles)
            assert not leaked, (
                f"{name} data, {symbol} at now={now}: expected no value from after now "
                f"(the fed data holds {ABSURD:g} there), came {leaked}: the pipeline reads "
                f"data after now, or returns the forming bar")

    def test_no_value_after_end_reaches_bars(self, tmp_path: Path) -> None:
        """``bars(start, end)``: raw values after ``end`` are 1e9, none may show."""
        for number, (name, grid, symbol, now) in enumerate(self._fed_cases()):
            source = poison_after(sample_bars(now, grid, before=self.fed_bars, seed=number),
                                  now, grid)
            plugin = self._fed({symbol: source}, tmp_path / f"bars-{number}")
            start = now - timedelta(days=3)
            bars = plugin.bars(sample_asset(symbol), start, now)
            assert len(bars) > 0, (
                f"{name} data, {symbol}: expected bars({start}, {now}) to hold bars, came "
                f"none")
            leaked = absurd_values(bars)
            assert not leaked, (
                f"{name} data, {symbol}: expected no value from after end={now} in "
                f"bars({start}, {now}) (the fed data holds {ABSURD:g} there), came {leaked}")

    # ------------------------------------------------------------- predictions, bars()

    def test_predictions_when_given_have_a_close_column(self, plugin: PipelinePlugin,
                                                        asset: AssetInfo) -> None:
        """Optional forecasts are a frame with forecast closes."""
        predictions = plugin.snapshot(asset, self.now).predictions
        if predictions is not None:
            assert "close" in predictions.columns, (
                f"expected a 'close' column in predictions, came {list(predictions.columns)}")

    def test_bars_is_implemented(self, plugin: PipelinePlugin) -> None:
        """Protective checks after a gap need ``bars()`` (SPEC 3); the default refuses."""
        assert type(plugin).bars is not PipelinePlugin.bars, (
            f"{type(plugin).__name__} does not implement bars(asset, start, end): the "
            f"paper broker cannot check stops across a gap longer than the window")

    def test_bars_are_the_snapshot_bars_of_the_range(self, plugin: PipelinePlugin,
                                                     asset: AssetInfo) -> None:
        """``bars(start, end)`` is the snapshot's bars stamped in [start, end), no more."""
        candles = plugin.snapshot(asset, self.now).candles
        assert len(candles) >= 3, (
            f"the suite needs a snapshot of 3 bars or more at now={self.now}, came "
            f"{len(candles)}")
        start, end = candles.index[1].to_pydatetime(), candles.index[-1].to_pydatetime()
        bars = plugin.bars(asset, start, end)
        expected = candles[(candles.index >= start) & (candles.index < end)]
        assert list(bars.index) == list(expected.index), (
            f"bars({start}, {end}) returned {_span(bars)}, expected the snapshot's "
            f"{_span(expected)}")
        assert_same_bars(expected, bars, f"snapshot at {self.now}, then bars({start}, {end})")

    def test_bars_never_reach_end(self, plugin: PipelinePlugin, asset: AssetInfo) -> None:
        """``end`` plays the part of ``now``: only bars complete at it, none before start."""
        for end in self.moments():
            start = end - timedelta(days=2)
            bars = plugin.bars(asset, start, end)
            assert isinstance(bars.index, pd.DatetimeIndex) and str(bars.index.tz) == "UTC", (
                f"expected a UTC DatetimeIndex, came {type(bars.index).__name__} "
                f"tz={getattr(bars.index, 'tz', None)}")
            assert set(COLUMNS) <= set(bars.columns), (
                f"expected columns {list(COLUMNS)}, came {list(bars.columns)}")
            if len(bars):
                period = bar_period(bars.index) or pd.Timedelta(0)
                assert bars.index[0] >= pd.Timestamp(start), (
                    f"bars({start}, {end}): expected no bar before start, came one stamped "
                    f"{bars.index[0]}")
                assert bars.index[-1] + period <= pd.Timestamp(end), (
                    f"bars(..., end={end}) returned a bar stamped {bars.index[-1]} (period "
                    f"{period}): not complete at end")
                assert bars.index.is_monotonic_increasing and bars.index.is_unique, (
                    f"bars({start}, {end}): expected increasing unique stamps, came "
                    f"{_span(bars)}")

    def test_bars_reach_further_back_than_the_window(self, plugin: PipelinePlugin,
                                                     asset: AssetInfo) -> None:
        """Bars older than the snapshot's window are there, and agree with older snapshots."""
        window = plugin.snapshot(asset, self.now).candles
        first = window.index[0].to_pydatetime()
        older = plugin.bars(asset, first - timedelta(days=1), first)
        if len(older):
            assert older.index[-1] < window.index[0], (
                f"bars(..., {first}): expected bars before the window's first "
                f"{window.index[0]}, came one stamped {older.index[-1]}")
            earlier = plugin.snapshot(asset, older.index[-1].to_pydatetime()).candles
            assert_same_bars(older, earlier, f"bars(..., {first}) then the snapshot at "
                                             f"{older.index[-1]}")

    def test_bars_of_an_empty_range_are_empty(self, plugin: PipelinePlugin,
                                              asset: AssetInfo) -> None:
        """``start == end`` holds no bar (and is not an error)."""
        bars = plugin.bars(asset, self.now, self.now)
        assert len(bars) == 0, f"bars(now, now): expected no bar, came {_span(bars)}"
