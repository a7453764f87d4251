"""Synthetic and CSV pipelines: determinism, no future bars, layouts, bad rows."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, PluginError
from lts.plugins.pipeline.csv import CsvPipeline, file_name_for
from lts.plugins.pipeline.synthetic import CHUNK, EPOCH, SyntheticPipeline
from lts.testing.base_contract import sample_asset

NOW = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)


def synthetic(**config: object) -> SyntheticPipeline:
    return SyntheticPipeline(config)


# ------------------------------------------------------------------ synthetic


def test_synthetic_bar_for_a_time_is_the_same_whatever_now_is():
    asset = sample_asset("EUR_USD")
    early = synthetic(lookback=300).snapshot(asset, NOW).candles
    late = synthetic(lookback=5000).snapshot(asset, NOW + timedelta(days=2)).candles
    pd.testing.assert_frame_equal(early, late.loc[early.index])


def test_synthetic_returns_complete_bars_only_stamped_by_period_start():
    pipeline = synthetic(interval_minutes=5, lookback=50)
    snapshot = pipeline.snapshot(sample_asset(), NOW)  # 12:00:30: the 12:00 bar is forming
    assert snapshot.candles.index[-1] == pd.Timestamp("2025-06-01 11:55", tz="UTC")
    on_the_end = pipeline.snapshot(sample_asset(), datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
    assert on_the_end.candles.index[-1] == pd.Timestamp("2025-06-01 11:55", tz="UTC")
    assert len(snapshot.candles) == 50
    five_later = datetime(2025, 6, 1, 12, 5, tzinfo=UTC)  # 12:00 is complete at 12:05
    assert pipeline.snapshot(sample_asset(), five_later).candles.index[-1] == \
        pd.Timestamp("2025-06-01 12:00", tz="UTC")


def test_synthetic_bars_sit_on_the_interval_grid():
    candles = synthetic(interval_minutes=15, lookback=40).snapshot(sample_asset(), NOW).candles
    offsets = (candles.index - pd.Timestamp(EPOCH)) / pd.Timedelta(minutes=15)
    assert np.all(offsets == np.round(offsets))
    assert set(np.diff(candles.index.asi8)) == {15 * 60 * 10**9}


def test_synthetic_depends_on_seed_and_symbol_only():
    a = synthetic(seed=1).snapshot(sample_asset("A"), NOW).candles
    assert not a.equals(synthetic(seed=2).snapshot(sample_asset("A"), NOW).candles)
    assert not a.equals(synthetic(seed=1).snapshot(sample_asset("B"), NOW).candles)
    other_asset = sample_asset("A", asset_id=99, allocated_capital=5.0)
    pd.testing.assert_frame_equal(a, synthetic(seed=1).snapshot(other_asset, NOW).candles)


def test_synthetic_path_is_continuous_across_chunks():
    candles = synthetic(lookback=3 * CHUNK + 17).snapshot(sample_asset(), NOW).candles
    np.testing.assert_allclose(candles["open"].to_numpy()[1:],
                               candles["close"].to_numpy()[:-1])
    assert (candles["high"] >= candles[["open", "close"]].max(axis=1)).all()
    assert (candles["low"] <= candles[["open", "close"]].min(axis=1)).all()


def test_synthetic_volatility_and_level_follow_the_config():
    candles = synthetic(lookback=20_000, volatility=0.002, start_price=50.0).snapshot(
        sample_asset(), NOW).candles
    returns = np.diff(np.log(candles["close"].to_numpy()))
    assert np.std(returns) == pytest.approx(0.002, rel=0.1)
    assert 25 < candles["close"].iloc[-1] < 100  # mean-reverting around start_price


def test_synthetic_before_the_epoch_works_too():
    candles = synthetic(lookback=10).snapshot(sample_asset(), EPOCH - timedelta(days=3)).candles
    assert len(candles) == 10 and (candles["close"] > 0).all()


def test_synthetic_refuses_a_naive_now():
    with pytest.raises(PluginError, match="naive"):
        synthetic().snapshot(sample_asset(), datetime(2025, 1, 1))


# ------------------------------------------------------------------------ csv


def csv_pipeline(folder: Path, **config: object) -> CsvPipeline:
    return CsvPipeline(config, {"data_dir": str(folder)})


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


LAYOUTS = {
    "iso_timestamp": "timestamp,open,high,low,close,volume\n"
                     "2024-01-02T10:00:00Z,1.10,1.20,1.00,1.15,100\n"
                     "2024-01-02T10:01:00Z,1.15,1.20,1.10,1.12,50\n",
    "epoch_seconds": "Time,Open,High,Low,Close,Volume\n"
                     "1704189600,1.10,1.20,1.00,1.15,100\n"
                     "1704189660,1.15,1.20,1.10,1.12,50\n",
    "epoch_millis": "time,open,high,low,close,volume\n"
                    "1704189600000,1.10,1.20,1.00,1.15,100\n"
                    "1704189660000,1.15,1.20,1.10,1.12,50\n",
    "metatrader_date_time": "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>\n"
                            "2024.01.02,10:00,1.10,1.20,1.00,1.15,100\n"
                            "2024.01.02,10:01,1.15,1.20,1.10,1.12,50\n",
    "yahoo_with_extra_columns": "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                "2024-01-02 10:00:00,1.10,1.20,1.00,1.15,1.15,100\n"
                                "2024-01-02 10:01:00,1.15,1.20,1.10,1.12,1.12,50\n",
    "headerless_metatrader": "2024.01.02,10:00,1.10,1.20,1.00,1.15,100\n"
                             "2024.01.02,10:01,1.15,1.20,1.10,1.12,50\n",
    "headerless_epoch": "1704189600,1.10,1.20,1.00,1.15,100\n"
                        "1704189660,1.15,1.20,1.10,1.12,50\n",
    "offsets_and_spaces": "datetime, open, high, low, close, volume\n"
                          "2024-01-02 11:00:00+01:00, 1.10, 1.20, 1.00, 1.15, 100\n"
                          "2024-01-02T10:01:00Z, 1.15, 1.20, 1.10, 1.12, 50\n",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_csv_reads_common_layouts(tmp_path: Path, layout: str):
    write(tmp_path, "EUR_USD.csv", LAYOUTS[layout])
    candles = csv_pipeline(tmp_path).snapshot(sample_asset("EUR/USD"), NOW).candles
    assert list(candles.index) == [pd.Timestamp("2024-01-02 10:00", tz="UTC"),
                                   pd.Timestamp("2024-01-02 10:01", tz="UTC")]
    assert candles["close"].tolist() == [1.15, 1.12]
    assert candles["volume"].tolist() == [100.0, 50.0]


def test_csv_without_volume_fills_zero_and_sorts_rows(tmp_path: Path):
    write(tmp_path, "X.csv", "date,open,high,low,close\n"
                             "2024-01-03,2,3,1,2.5\n2024-01-02,1,2,0.5,1.5\n")
    candles = csv_pipeline(tmp_path).snapshot(sample_asset("X"), NOW).candles
    assert candles["close"].tolist() == [1.5, 2.5]
    assert candles["volume"].tolist() == [0.0, 0.0]


def test_csv_naive_times_use_the_configured_zone(tmp_path: Path):
    write(tmp_path, "X.csv", "time,open,high,low,close\n2024-07-01 12:00,1,2,0.5,1.5\n")
    candles = csv_pipeline(tmp_path, timezone="Europe/Paris").snapshot(
        sample_asset("X"), NOW).candles
    assert candles.index[0] == pd.Timestamp("2024-07-01 10:00", tz="UTC")


def test_csv_returns_the_last_lookback_complete_bars_at_now(tmp_path: Path):
    index = pd.date_range("2025-06-01 11:00", periods=120, freq="1min", tz="UTC")
    closes = np.arange(120) + 1.0
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes,
                          "high": closes, "low": closes, "close": closes})
    frame.to_csv(tmp_path / "X.csv", index=False)
    candles = csv_pipeline(tmp_path, lookback=10).snapshot(sample_asset("X"), NOW).candles
    assert len(candles) == 10
    # 12:00:30: the 12:00 bar is still forming (complete at 12:01); 11:59 is the newest.
    assert candles.index[-1] == pd.Timestamp("2025-06-01 11:59", tz="UTC")
    assert candles["close"].iloc[-1] == 60.0
    hourly = csv_pipeline(tmp_path, lookback=10, interval_minutes=60).snapshot(
        sample_asset("X"), NOW).candles  # rows declared hourly: only 11:00 is complete
    assert list(hourly.index) == list(pd.date_range("2025-06-01 11:00", "2025-06-01 11:00",
                                                    tz="UTC"))
    empty = csv_pipeline(tmp_path).snapshot(sample_asset("X"), NOW - timedelta(days=1))
    assert empty.candles.empty


@pytest.mark.parametrize(("text", "message"), [
    ("time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\nnot-a-date,1,2,0.5,1.5\n",
     "bad.csv line 3: unreadable time"),
    ("time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,x,0.5,1.5\n",
     "bad.csv line 3: high is not a valid price"),
    ("time,open,high,low,close\n2024-01-02,1,2,0.5,-1\n",
     "bad.csv line 2: close is not a valid price"),
    ("time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1,0.9,0.5,1.5\n",
     "bad.csv line 3: high/low do not bracket"),
    ("time,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,-3\n",
     "bad.csv line 2: volume is not a valid volume"),
    ("when,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n", "bad.csv line 1: no time column"),
    ("time,open,high,close\n2024-01-02,1,2,1.5\n", "bad.csv line 1: missing column(s) low"),
    ("", "bad.csv: the file is empty"),
])
def test_csv_bad_rows_name_file_and_line(tmp_path: Path, text: str, message: str):
    write(tmp_path, "bad.csv", text)
    with pytest.raises(PluginError) as caught:
        csv_pipeline(tmp_path, file="bad.csv").snapshot(sample_asset("X"), NOW)
    assert message in str(caught.value)


def test_csv_headerless_bad_row_counts_lines_from_one(tmp_path: Path):
    write(tmp_path, "bad.csv", "2024.01.02,10:00,1.1,1.2,1.0,1.15,100\n"
                               "2024.01.02,10:01,1.1,oops,1.0,1.15,100\n")
    with pytest.raises(PluginError, match=r"bad\.csv line 2: high"):
        csv_pipeline(tmp_path, file="bad.csv").snapshot(sample_asset("X"), NOW)


def test_csv_reports_many_bad_lines_briefly(tmp_path: Path):
    rows = "".join(f"2024-01-{day:02d},1,2,0.5,oops\n" for day in range(1, 11))
    write(tmp_path, "bad.csv", "time,open,high,low,close\n" + rows)
    with pytest.raises(PluginError, match=r"line 2, 3, 4, 5, 6 and 5 more"):
        csv_pipeline(tmp_path, file="bad.csv").snapshot(sample_asset("X"), NOW)


def test_csv_missing_file_and_escaping_path_are_errors(tmp_path: Path):
    with pytest.raises(PluginError, match="not found"):
        csv_pipeline(tmp_path).snapshot(sample_asset("NOPE"), NOW)
    with pytest.raises(PluginError, match="outside data_dir"):
        csv_pipeline(tmp_path, file="../../etc/passwd").snapshot(sample_asset("X"), NOW)


def test_csv_is_read_again_when_the_file_changes(tmp_path: Path):
    path = write(tmp_path, "X.csv", "time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    pipeline = csv_pipeline(tmp_path)
    assert pipeline.snapshot(sample_asset("X"), NOW).last_price == 1.5
    path.write_text("time,open,high,low,close\n2024-01-02,1,2,0.5,1.75\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert pipeline.snapshot(sample_asset("X"), NOW).last_price == 1.75


def test_csv_snapshot_is_a_copy_strategies_cannot_corrupt(tmp_path: Path):
    write(tmp_path, "X.csv", "time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    pipeline = csv_pipeline(tmp_path)
    candles = pipeline.snapshot(sample_asset("X"), NOW).candles
    candles.loc[:, "close"] = 99.0
    assert pipeline.snapshot(sample_asset("X"), NOW).last_price == 1.5


def test_csv_default_file_name_replaces_separators():
    assert file_name_for("EUR/USD") == "EUR_USD.csv"
    assert file_name_for("NYSE:IBM") == "NYSE_IBM.csv"


def test_csv_relative_data_dir_is_under_the_project():
    pipeline = CsvPipeline({}, {"data_dir": "data"})
    assert pipeline.data_dir() == Path(__file__).resolve().parents[3] / "data"
    assert isinstance(pipeline.path_for(AssetInfo(1, 1, "A", "A", 1.0)), Path)


# ----------------------------------------------------------------------- bars()


def test_synthetic_bars_cover_a_range_longer_than_lookback_off_the_grid():
    pipeline = synthetic(interval_minutes=5, lookback=3)
    start = datetime(2025, 6, 1, 9, 2, 30, tzinfo=UTC)  # between grid points 09:00/09:05
    bars = pipeline.bars(sample_asset(), start, datetime(2025, 6, 1, 11, 0, tzinfo=UTC))
    assert bars.index[0] == pd.Timestamp("2025-06-01 09:05", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2025-06-01 10:55", tz="UTC")  # end excluded
    assert len(bars) == 23
    long_window = synthetic(interval_minutes=5, lookback=100).snapshot(sample_asset(), NOW)
    pd.testing.assert_frame_equal(bars, long_window.candles.loc[bars.index])


def test_synthetic_bars_refuse_a_huge_range_and_naive_times():
    pipeline = synthetic()
    with pytest.raises(PluginError, match="at most"):
        pipeline.bars(sample_asset(), NOW - timedelta(days=3650), NOW)
    with pytest.raises(PluginError, match="naive"):
        pipeline.bars(sample_asset(), datetime(2025, 6, 1), NOW)


def test_csv_bars_return_the_range_whatever_lookback(tmp_path: Path):
    index = pd.date_range("2025-06-01 11:00", periods=120, freq="1min", tz="UTC")
    closes = np.arange(120) + 1.0
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes,
                          "high": closes, "low": closes, "close": closes})
    frame.to_csv(tmp_path / "X.csv", index=False)
    pipeline = csv_pipeline(tmp_path, lookback=2)
    bars = pipeline.bars(sample_asset("X"), datetime(2025, 6, 1, 11, 10, tzinfo=UTC),
                         datetime(2025, 6, 1, 11, 40, tzinfo=UTC))
    assert len(bars) == 30
    assert bars["close"].iloc[0] == 11.0 and bars["close"].iloc[-1] == 40.0
    assert pipeline.bars(sample_asset("X"), NOW, NOW - timedelta(hours=1)).empty
    with pytest.raises(PluginError, match="naive"):
        pipeline.bars(sample_asset("X"), datetime(2025, 6, 1), NOW)


def test_a_pipeline_without_bars_says_so():
    from lts.plugins.base import PipelinePlugin

    class Minimal(PipelinePlugin):
        name = "minimal_for_test"

        def snapshot(self, asset, now):
            raise NotImplementedError

    with pytest.raises(PluginError, match="pipeline 'minimal_for_test' cannot provide bars"):
        Minimal().bars(sample_asset(), NOW - timedelta(hours=1), NOW)


def test_csv_resamples_into_complete_bars_stamped_by_their_start(tmp_path: Path):
    index = pd.date_range("2025-06-01 11:00", periods=120, freq="1min", tz="UTC")
    now = datetime(2025, 6, 1, 12, 7, 30, tzinfo=UTC)  # the 12:05 bar is forming
    closes = np.arange(120) + 1.0
    closes[index >= now - timedelta(seconds=30)] = 1e9  # the forming minute and later
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes,
                          "high": closes, "low": closes, "close": closes, "volume": 1})
    frame.to_csv(tmp_path / "X.csv", index=False)
    pipeline = csv_pipeline(tmp_path, resample_minutes=5, lookback=3)
    candles = pipeline.snapshot(sample_asset("X"), now).candles
    assert list(candles.index) == list(pd.date_range("2025-06-01 11:50", periods=3,
                                                     freq="5min", tz="UTC"))
    assert candles.to_numpy().max() < 1e9
    last = candles.iloc[-1]  # 12:00-12:05: minutes 61..65
    assert (last["open"], last["high"], last["close"], last["volume"]) == (61, 65, 65, 5)
    history = pipeline.bars(sample_asset("X"), datetime(2025, 6, 1, 11, 3, tzinfo=UTC), now)
    assert history.index[0] == pd.Timestamp("2025-06-01 11:05", tz="UTC")
    pd.testing.assert_frame_equal(history.iloc[-3:], candles)
