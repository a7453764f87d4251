"""Pipeline ``arima``: forecasts that are right on known series, cached, flagged on fallback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import PluginError
from lts.plugins.pipeline._wrapping import ATTR_EPISODE_START, ATTR_STATUS
from lts.plugins.pipeline.arima import ArimaCache, ArimaPipeline
from lts.plugins.pipeline.csv import file_name_for
from lts.plugins.registry import PluginConfigError, PluginRegistry
from lts.testing.base_contract import SAMPLE_NOW, sample_asset
from lts.testing.pipeline_contract import PipelineContract, write_csv
from tests.unit.plugins.test_contracts import write_sample_csv

NOW = SAMPLE_NOW
END = pd.Timestamp(NOW)


def write_closes(folder: Path, name: str, closes: np.ndarray, *,
                 end: pd.Timestamp = END, future: int = 0) -> None:
    """1-minute bars whose closes are ``closes``; the last one complete at ``end``.

    ``future`` more bars follow, complete only after ``end`` (they must never be used).
    """
    closes = np.concatenate([closes, np.full(future, 1e6)])  # absurd: any use shows
    index = pd.date_range(end=end - pd.Timedelta(minutes=1) + pd.Timedelta(minutes=future),
                          periods=len(closes), freq="1min")
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "open": closes, "high": closes * 1.001, "low": closes * 0.999,
                          "close": closes, "volume": 10})
    frame.to_csv(folder / name, index=False)


def arima(folder: Path, cache: ArimaCache | None = None, **config: object) -> ArimaPipeline:
    config.setdefault("source", "csv")
    config.setdefault("source_config", {"lookback": 300})
    loaded = PluginRegistry.discover({}).validate_config("pipeline", "arima", config)
    return ArimaPipeline(loaded, {"data_dir": str(folder)}, cache=cache or ArimaCache())


class TestArimaPipelineContract(PipelineContract):
    plugin_factory = ArimaPipeline

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> ArimaPipeline:
        write_sample_csv(tmp_path)
        return arima(tmp_path, source_config={"lookback": 200}, window=100)

    def plugin_over(self, sources, folder: Path) -> ArimaPipeline:
        """arima over csv over the suite's data: no forecast may see a value after now."""
        for symbol, bars in sources.items():
            write_csv(bars, folder / file_name_for(symbol))
        return arima(folder, source_config={"lookback": 200}, window=100)


def test_a_known_drift_is_forecast_in_direction_and_size(tmp_path: Path):
    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.normal(0.05, 0.1, 300))  # a random walk with drift
    write_closes(tmp_path, "UP.csv", closes)
    snapshot = arima(tmp_path, horizon=10).snapshot(sample_asset("UP"), NOW)
    predicted = snapshot.predictions
    assert predicted.attrs[ATTR_STATUS] == "fitted", predicted.attrs
    move = predicted["close"].iloc[-1] - closes[-1]
    assert move == pytest.approx(0.05 * 10, rel=0.3)
    assert (predicted["lower"] < predicted["close"]).all()
    assert (predicted["upper"] > predicted["close"]).all()
    # forecasts are stamped as the bars they forecast: the next ten after the last one
    assert predicted.index[0] == snapshot.candles.index[-1] + pd.Timedelta(minutes=1)
    assert len(predicted) == 10


def test_a_falling_series_is_forecast_down(tmp_path: Path):
    rng = np.random.default_rng(4)
    closes = 200 + np.cumsum(rng.normal(-0.1, 0.1, 300))
    write_closes(tmp_path, "DOWN.csv", closes)
    predicted = arima(tmp_path, horizon=5).snapshot(sample_asset("DOWN"), NOW).predictions
    assert predicted["close"].iloc[-1] - closes[-1] == pytest.approx(-0.5, rel=0.3)


def test_white_noise_is_forecast_flat_at_its_mean(tmp_path: Path):
    rng = np.random.default_rng(5)
    closes = 100 + rng.normal(0, 0.5, 300)
    write_closes(tmp_path, "NOISE.csv", closes)
    predicted = arima(tmp_path, order=[1, 0, 0], horizon=10).snapshot(
        sample_asset("NOISE"), NOW).predictions
    assert predicted.attrs[ATTR_STATUS] == "fitted"
    forecast = predicted["close"].to_numpy()
    assert np.ptp(forecast) < 0.1  # flat: a fifth of the noise's deviation
    assert forecast.mean() == pytest.approx(closes[-200:].mean(), abs=0.15)


def test_the_forecast_never_uses_bars_after_now(tmp_path: Path):
    rng = np.random.default_rng(6)
    closes = 100 + np.cumsum(rng.normal(0, 0.1, 300))
    write_closes(tmp_path, "FUT.csv", closes, future=30)
    write_closes(tmp_path, "CUT.csv", closes)
    future = arima(tmp_path).snapshot(sample_asset("FUT"), NOW).predictions
    cut = arima(tmp_path).snapshot(sample_asset("CUT"), NOW).predictions
    pd.testing.assert_frame_equal(future, cut)
    assert future["close"].max() < 1000


def test_a_series_that_breaks_the_fit_falls_back_flagged_once_per_episode(tmp_path: Path):
    flat = np.full(300, 100.0)  # a closed market: the likelihood has no optimum
    write_closes(tmp_path, "FLAT.csv", flat, end=pd.Timestamp(NOW) + pd.Timedelta(minutes=3))
    cache = ArimaCache()
    pipeline = arima(tmp_path, cache, refit_every=1)
    asset = sample_asset("FLAT")
    first = pipeline.snapshot(asset, NOW).predictions
    assert first.attrs[ATTR_STATUS] == "fallback"
    assert "converge" in first.attrs["fit_message"]
    assert first.attrs[ATTR_EPISODE_START] is True
    assert (first["close"] == 100.0).all()
    flags = []
    for minutes in (1, 2):  # new bars, the fit is tried again and fails again
        later = pipeline.snapshot(asset, NOW + timedelta(minutes=minutes)).predictions
        flags.append((later.attrs[ATTR_STATUS], later.attrs[ATTR_EPISODE_START]))
    assert flags == [("fallback", False), ("fallback", False)]
    assert cache.stats.fallbacks == 3 and cache.stats.fits == 3
    # another asset on the same series has its own episode: flagged once too
    other = pipeline.snapshot(sample_asset("FLAT", asset_id=2), NOW).predictions
    assert other.attrs[ATTR_EPISODE_START] is True


def test_a_recovered_fit_ends_the_episode(tmp_path: Path):
    rng = np.random.default_rng(7)
    closes = np.concatenate([100 + np.cumsum(rng.normal(0, 0.1, 300)), np.full(300, 100.0)])
    write_closes(tmp_path, "MIX.csv", closes)
    pipeline = arima(tmp_path, refit_every=1, source_config={"lookback": 200}, window=200)
    asset = sample_asset("MIX")
    broken = pipeline.snapshot(asset, NOW).predictions
    healthy = pipeline.snapshot(asset, NOW - timedelta(minutes=300)).predictions
    broken_again = pipeline.snapshot(asset, NOW).predictions
    assert [f.attrs[ATTR_STATUS] for f in (broken, healthy, broken_again)] == [
        "fallback", "fitted", "fallback"]
    assert [f.attrs[ATTR_EPISODE_START] for f in (broken, healthy, broken_again)] == [
        True, False, True]


def arima_111(rng: np.random.Generator, n: int, phi: float = 0.6, theta: float = 0.3,
              scale: float = 0.001) -> np.ndarray:
    """Closes of a true ARIMA(1,1,1) process: its fit converges well inside ``maxiter``.

    A pure random walk fitted as ARIMA(1,1,1) has near-cancelling AR and MA terms and
    converges or not depending on the machine's floating-point kernels; this series
    converged in 12 of the 50 allowed iterations here.
    """
    shocks = rng.normal(0, scale, n + 1)
    steps = np.zeros(n)
    for t in range(1, n):
        steps[t] = phi * steps[t - 1] + shocks[t + 1] + theta * shocks[t]
    return 1.1 + np.cumsum(steps)


def test_two_assets_on_one_series_fit_once_per_new_bar(tmp_path: Path):
    write_closes(tmp_path, "EURUSD.csv", arima_111(np.random.default_rng(12), 400),
                 future=0, end=pd.Timestamp(NOW) + pd.Timedelta(minutes=30))
    cache = ArimaCache()
    pipeline = arima(tmp_path, cache, refit_every=5)
    one, two = sample_asset("EURUSD", asset_id=1), sample_asset("EURUSD", asset_id=2)
    pipeline.snapshot(one, NOW)
    first = pipeline.snapshot(two, NOW).predictions
    assert first.attrs[ATTR_STATUS] == "fitted"  # else the updates below cannot happen
    assert (cache.stats.fits, cache.stats.hits, cache.stats.updates) == (1, 1, 0)
    for minute in range(1, 5):  # four new bars: updated, never refitted
        moment = NOW + timedelta(minutes=minute)
        pipeline.snapshot(one, moment)
        pipeline.snapshot(two, moment)
    assert (cache.stats.fits, cache.stats.hits, cache.stats.updates) == (1, 5, 4)
    pipeline.snapshot(one, NOW + timedelta(minutes=5))  # the fifth: refitted
    assert cache.stats.fits == 2
    # the same tick asked again is a hit, and the cached frame is never handed out itself
    first.loc[first.index[0], "close"] = -1.0
    again = pipeline.snapshot(two, NOW).predictions
    assert again["close"].iloc[0] > 0
    # a second pipeline instance with the same parameters shares the cache
    twin = ArimaPipeline(pipeline.config, {"data_dir": str(tmp_path)}, cache=cache)
    twin.snapshot(sample_asset("EURUSD", asset_id=3), NOW + timedelta(minutes=5))
    assert cache.stats.fits == 2


def test_updates_between_refits_follow_the_new_closes(tmp_path: Path):
    rng = np.random.default_rng(9)
    closes = np.concatenate([100 + np.cumsum(rng.normal(0, 0.1, 300)), [110.0]])
    write_closes(tmp_path, "JUMP.csv", closes)
    cache = ArimaCache()
    pipeline = arima(tmp_path, cache, refit_every=50)
    asset = sample_asset("JUMP")
    before = pipeline.snapshot(asset, NOW - timedelta(minutes=1)).predictions
    after = pipeline.snapshot(asset, NOW).predictions
    assert after.attrs[ATTR_STATUS] == "updated" and cache.stats.fits == 1
    assert after["close"].iloc[0] > before["close"].iloc[0] + 5  # it saw the jump


def test_config_errors_name_the_field(tmp_path: Path):
    registry = PluginRegistry.discover({})
    with pytest.raises(PluginConfigError, match="source: unknown pipeline plugin 'nope'"):
        registry.validate_config("pipeline", "arima", {"source": "nope"})
    with pytest.raises(PluginConfigError, match="source_config: lookbak: Unknown field"):
        registry.validate_config("pipeline", "arima", {"source_config": {"lookbak": 9}})
    with pytest.raises(PluginConfigError, match="window: window=500 is longer"):
        registry.validate_config("pipeline", "arima", {"window": 500})
    with pytest.raises(PluginConfigError, match="order"):
        registry.validate_config("pipeline", "arima", {"order": [1, 1]})


def test_a_source_error_reaches_the_engine(tmp_path: Path):
    with pytest.raises(PluginError, match="not found"):
        arima(tmp_path).snapshot(sample_asset("MISSING"), NOW)
