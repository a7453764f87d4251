"""Pipeline ``csv_predictions``: used only from their timestamp on; bad cells named precisely."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from lts.plugins.base import PluginError
from lts.plugins.pipeline.csv import file_name_for
from lts.plugins.pipeline.csv_predictions import CsvPredictionsPipeline, predictions_file_name
from lts.plugins.registry import PluginConfigError, PluginRegistry
from lts.testing.base_contract import SAMPLE_NOW, sample_asset
from lts.testing.pipeline_contract import PipelineContract, write_csv
from tests.unit.plugins.test_contracts import write_sample_csv

NOW = SAMPLE_NOW  # 15:30; TEST.csv has 1-minute bars up to 17:30 (only those before now count)


def pipeline(folder: Path, **config: object) -> CsvPredictionsPipeline:
    config.setdefault("source", "csv")
    loaded = PluginRegistry.discover({}).validate_config("pipeline", "csv_predictions", config)
    return CsvPredictionsPipeline(loaded, {"data_dir": str(folder)})


def write_predictions(folder: Path, text: str, name: str = "TEST_predictions.csv") -> None:
    (folder / name).write_text(text)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_sample_csv(tmp_path)
    write_predictions(tmp_path, "timestamp,step_1,step_2,step_3\n"
                                "2024-03-04T15:20:00Z,101,102,103\n"
                                "2024-03-04T15:29:30Z,111,112,113\n"
                                "2024-03-04T15:30:00Z,121,122,123\n"
                                "2024-03-04T15:31:00Z,999,999,999\n")
    return tmp_path


class TestCsvPredictionsPipelineContract(PipelineContract):
    plugin_factory = CsvPredictionsPipeline

    @pytest.fixture
    def plugin(self, folder: Path) -> CsvPredictionsPipeline:
        return pipeline(folder)

    def plugin_over(self, sources, folder: Path) -> CsvPredictionsPipeline:
        """csv_predictions over csv over the suite's data, one early prediction per symbol."""
        for symbol, bars in sources.items():
            write_csv(bars, folder / file_name_for(symbol))
            stamp = bars.index[0].strftime("%Y-%m-%dT%H:%M:%SZ")
            write_predictions(folder, f"timestamp,step_1\n{stamp},1\n",
                              name=predictions_file_name(symbol))
        return pipeline(folder)


def test_the_row_made_at_now_is_used_and_never_a_later_one(folder: Path):
    snapshot = pipeline(folder).snapshot(sample_asset(), NOW)
    predicted = snapshot.predictions
    assert predicted["close"].tolist() == [121, 122, 123]
    last = snapshot.candles.index[-1]  # 15:29, complete at 15:30
    assert list(predicted.index) == [last + timedelta(minutes=k) for k in (1, 2, 3)]
    assert predicted.attrs["fit_status"] == "precomputed"


def test_a_row_is_unused_before_its_timestamp(folder: Path):
    predicted = pipeline(folder).snapshot(sample_asset(),
                                          NOW - timedelta(seconds=1)).predictions
    assert predicted["close"].tolist() == [111, 112, 113]
    just_before = pipeline(folder).snapshot(sample_asset(), NOW + timedelta(seconds=59))
    assert just_before.predictions["close"].tolist() == [121, 122, 123]
    at_its_time = pipeline(folder).snapshot(sample_asset(), NOW + timedelta(minutes=1))
    assert at_its_time.predictions["close"].tolist() == [999, 999, 999]
    assert pipeline(folder).snapshot(sample_asset(), NOW - timedelta(hours=1)
                                     ).predictions is None


def test_steps_already_in_the_past_are_dropped(folder: Path):
    # at 15:22 the row of 15:20 is two bars old: its first two steps forecast bars now known
    predicted = pipeline(folder).snapshot(sample_asset(),
                                          NOW - timedelta(minutes=8)).predictions
    assert predicted["close"].tolist() == [103]


def test_an_old_row_is_not_used_past_max_age(folder: Path):
    at = NOW - timedelta(minutes=4)  # the newest row then is the one of 15:20
    assert pipeline(folder, max_age_minutes=5).snapshot(sample_asset(), at).predictions is None


@pytest.mark.parametrize(("text", "message"), [
    ("timestamp,s1,s2\n2024-03-04T15:00:00Z,1,2\nyesterday,1,2\n",
     "TEST_predictions.csv line 3, column timestamp: cannot read 'yesterday' as a time"),
    ("timestamp,s1,s2\n2024-03-04T15:00:00Z,1,2\n2024-03-04T15:01:00Z,1,abc\n",
     "TEST_predictions.csv line 3, column s2: 'abc' is not a positive price"),
    ("timestamp,s1\n2024-03-04T15:00:00Z,-4\n",
     "line 2, column s1: '-4' is not a positive price"),
    ("timestamp,s1\n2024-03-04T15:00:00Z,\n", "line 2, column s1: '' is not a positive"),
    ("timestamp,s1\n2024-03-04T15:00:00Z,1\n2024-03-04T15:00:00Z,2\n",
     "line 3, column timestamp: '2024-03-04T15:00:00Z' appears twice"),
    ("when,s1\n2024-03-04T15:00:00Z,1\n", "line 1: no time column"),
    ("timestamp\n2024-03-04T15:00:00Z\n", "line 1: no prediction column"),
    ("", "the file is empty"),
])
def test_bad_rows_name_file_line_and_column(tmp_path: Path, text: str, message: str):
    write_sample_csv(tmp_path)
    write_predictions(tmp_path, text)
    with pytest.raises(PluginError, match=message.replace("(", r"\(")):
        pipeline(tmp_path).snapshot(sample_asset(), NOW)


def test_a_missing_file_and_a_path_outside_data_dir_are_refused(tmp_path: Path):
    write_sample_csv(tmp_path)
    with pytest.raises(PluginError, match=r"predictions file .* not found"):
        pipeline(tmp_path).snapshot(sample_asset(), NOW)
    with pytest.raises(PluginConfigError, match="file: must be a file name under data_dir"):
        pipeline(tmp_path, file="../secrets.csv")


def test_a_changed_file_is_read_again(folder: Path):
    first = pipeline(folder).snapshot(sample_asset(), NOW).predictions
    write_predictions(folder, "timestamp,step_1\n2024-03-04T15:30:00Z,130.5\n")
    second = pipeline(folder).snapshot(sample_asset(), NOW).predictions
    assert first["close"].iloc[0] == 121 and second["close"].tolist() == [130.5]
    assert pd.api.types.is_float_dtype(second["close"])
