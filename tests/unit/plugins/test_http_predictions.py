"""Pipeline ``http_predictions`` against a fake prediction service speaking the real protocol."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lts.plugins.base import PluginError
from lts.plugins.config_secrets import secret_field_names
from lts.plugins.pipeline.http_predictions import HttpPredictionsPipeline
from lts.plugins.registry import PluginConfigError, PluginRegistry
from lts.testing.base_contract import SAMPLE_NOW, sample_asset
from lts.testing.pipeline_contract import PipelineContract
from tests.fakes.prediction_service import FakePredictionService, running_prediction_service

NOW = SAMPLE_NOW


@pytest.fixture
def service() -> Iterator[FakePredictionService]:
    with running_prediction_service() as running:
        yield running


def pipeline(url: str, sleeps: list[float] | None = None, **config: Any
             ) -> HttpPredictionsPipeline:
    config = {"url": url, "horizon": 3, "poll_seconds": 0.01, "backoff_seconds": 0.0,
              **config}
    loaded = PluginRegistry.discover({}).validate_config("pipeline", "http_predictions",
                                                         config)
    if sleeps is None:
        return HttpPredictionsPipeline(loaded)
    return HttpPredictionsPipeline(loaded, sleep=sleeps.append)


class TestHttpPredictionsPipelineContract(PipelineContract):
    """The look-ahead checks run on the suite's data: fed through the wrapped ``csv`` source,
    with every snapshot asking the running fake service for its forecast."""

    plugin_factory = HttpPredictionsPipeline

    @pytest.fixture
    def plugin(self, service: FakePredictionService) -> HttpPredictionsPipeline:
        return pipeline(service.url)

    @pytest.fixture(autouse=True)
    def _service(self, service: FakePredictionService) -> None:
        self.service = service

    def plugin_over(self, sources: Mapping[str, pd.DataFrame],
                    folder: Path) -> HttpPredictionsPipeline:
        """The suite's bars as ``csv`` files in ``folder``, wrapped by the HTTP forecaster."""
        from lts.plugins.pipeline.csv import file_name_for
        from lts.testing.pipeline_contract import write_csv

        for symbol, bars in sources.items():
            write_csv(bars, folder / file_name_for(symbol))
        config = {"url": self.service.url, "horizon": 3, "poll_seconds": 0.01,
                  "backoff_seconds": 0.0, "source": "csv",
                  "source_config": {"lookback": 200}}
        registry = PluginRegistry.discover({"data_dir": str(folder)})
        loaded = registry.validate_config("pipeline", "http_predictions", config)
        source = registry.create("pipeline", "csv", loaded["source_config"],
                                 {"data_dir": str(folder)})
        return HttpPredictionsPipeline(loaded, {"data_dir": str(folder)}, source=source)


def test_a_completed_job_gives_the_steps_and_their_interval(service: FakePredictionService):
    service.api_key = "s3cret"
    service.level["EURUSD"] = 1.1
    service.step["EURUSD"] = 0.01
    snapshot = pipeline(service.url, api_key="s3cret", models=["arima", "lstm"]).snapshot(
        sample_asset("EURUSD"), NOW)
    predicted = snapshot.predictions
    assert predicted["close"].round(6).tolist() == [1.11, 1.12, 1.13]
    assert predicted["lower"].round(6).tolist() == [0.11, 0.12, 0.13]
    assert list(predicted.index[:1]) == [snapshot.candles.index[-1] + snapshot.candles.index
                                         .to_series().diff().min()]
    assert predicted.attrs["model"] == "arima+lstm"
    created = service.requests[0]
    assert created["method"] == "POST" and created["path"] == "/api/v1/predict"
    assert created["json"] == {"symbol": "EURUSD", "interval": "1m", "prediction_horizon": 3,
                               "models": ["arima", "lstm"]}
    assert created["headers"]["X-Api-Key"] == "s3cret"


def test_a_pending_job_is_polled_until_completed(service: FakePredictionService):
    service.pending_polls = 3
    sleeps: list[float] = []
    predicted = pipeline(service.url, sleeps).snapshot(sample_asset(), NOW).predictions
    assert len(predicted) == 3
    assert [r["method"] for r in service.requests] == ["POST"] + ["GET"] * 4
    assert sleeps == [0.01, 0.01, 0.01]


def test_a_failed_job_is_an_error_naming_the_service_and_cause(service: FakePredictionService):
    service.behaviour["TEST"] = "failed"
    with pytest.raises(PluginError, match=f"prediction service {service.url}: job job-1 "
                                          f"failed: model diverged"):
        pipeline(service.url).snapshot(sample_asset(), NOW)


def test_a_job_pending_past_the_deadline_is_an_error(service: FakePredictionService):
    service.behaviour["TEST"] = "stuck"
    # The deadline runs on a clock only the polls' sleeps move: on the wall clock a poll
    # could start with almost no time left and time out instead (a loaded machine).
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    loaded = PluginRegistry.discover({}).validate_config("pipeline", "http_predictions", {
        "url": service.url, "horizon": 3, "poll_seconds": 0.01, "backoff_seconds": 0.0,
        "deadline_seconds": 0.3})
    stuck = HttpPredictionsPipeline(loaded, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(PluginError, match=r"job job-1 still pending after the 0.3 s deadline"):
        stuck.snapshot(sample_asset(), NOW)
    assert now[0] == pytest.approx(0.29)  # polled every 0.01 s until the next would pass it


def test_a_request_that_times_out_is_retried_then_an_error(service: FakePredictionService):
    service.behaviour["TEST"] = "slow"
    service.delay = 0.5
    with pytest.raises(PluginError, match=r"GET /api/v1/predictions/job-1 timed out after "
                                          r"0.10 s \(2 attempts\)"):
        pipeline(service.url, request_timeout_seconds=0.1, retries=1).snapshot(
            sample_asset(), NOW)


@pytest.mark.parametrize(("behaviour", "cause"), [
    ("malformed", "GET /api/v1/predictions/job-1 answered malformed data: result: "
                  "prediction: 0: each step must be a positive number"),
    ("not_json", "GET /api/v1/predictions/job-1 answered malformed JSON: '<html>oops</html>'"),
])
def test_malformed_answers_are_errors(service: FakePredictionService, behaviour: str,
                                      cause: str):
    service.behaviour["TEST"] = behaviour
    with pytest.raises(PluginError, match=cause):
        pipeline(service.url).snapshot(sample_asset(), NOW)


def test_a_dropped_connection_is_retried_then_an_error(service: FakePredictionService):
    service.behaviour["TEST"] = "drop"
    sleeps: list[float] = []
    with pytest.raises(PluginError, match=r"GET /api/v1/predictions/job-1: connection failed "
                                          r"\(.+\) \(3 attempts\)"):
        pipeline(service.url, sleeps, retries=2, backoff_seconds=0.05).snapshot(
            sample_asset(), NOW)
    assert sleeps == [0.05, 0.1]  # backoff doubles


def test_a_503_is_retried_and_then_succeeds(service: FakePredictionService):
    service.behaviour["TEST"] = "flaky"
    predicted = pipeline(service.url).snapshot(sample_asset(), NOW).predictions
    assert len(predicted) == 3


def test_a_wrong_api_key_is_an_error_and_never_retried(service: FakePredictionService):
    service.api_key = "right"
    with pytest.raises(PluginError, match=r"the API key was refused \(HTTP 401 on POST "
                                          r"/api/v1/predict\)"):
        pipeline(service.url, api_key="wrong", retries=3).snapshot(sample_asset(), NOW)
    assert len(service.requests) == 1


def test_a_service_that_is_down_is_an_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(PluginError, match=f"prediction service {url}: POST /api/v1/predict: "
                                          f"connection failed"):
        pipeline(url, retries=1).snapshot(sample_asset(), NOW)


def test_one_failing_symbol_leaves_the_others_working(service: FakePredictionService):
    service.behaviour["BAD"] = "failed"
    plugin = pipeline(service.url)
    with pytest.raises(PluginError):
        plugin.snapshot(sample_asset("BAD", asset_id=1), NOW)
    assert len(plugin.snapshot(sample_asset("GOOD", asset_id=2), NOW).predictions) == 3


def test_assets_on_one_series_ask_once_per_bar(service: FakePredictionService):
    plugin = pipeline(service.url)
    first = plugin.snapshot(sample_asset("X", asset_id=1), NOW).predictions
    first.iloc[0, 0] = -1.0  # a strategy writing to its copy changes nobody else's
    second = plugin.snapshot(sample_asset("X", asset_id=2), NOW).predictions
    assert service.created() == 1 and second["close"].iloc[0] > 0


def test_config_requires_a_url_and_keeps_the_key_secret():
    registry = PluginRegistry.discover({})
    with pytest.raises(PluginConfigError, match="url: Missing data"):
        registry.validate_config("pipeline", "http_predictions", {})
    with pytest.raises(PluginConfigError, match="url: Not a valid URL"):
        registry.validate_config("pipeline", "http_predictions", {"url": "ftp://x"})
    assert "api_key" in secret_field_names(HttpPredictionsPipeline.config_schema)
