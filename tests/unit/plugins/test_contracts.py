"""Every built-in plugin passes the contract suite of its kind (lts.testing)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import AssetInfo
from lts.plugins.broker.paper import PaperBroker
from lts.plugins.pipeline.csv import CsvPipeline
from lts.plugins.pipeline.synthetic import SyntheticPipeline
from lts.plugins.portfolio.equal_weight import EqualWeight
from lts.plugins.portfolio.fixed_weights import FixedWeights
from lts.plugins.portfolio.inverse_volatility import InverseVolatility
from lts.plugins.strategy.prediction_threshold import PredictionThreshold
from lts.plugins.strategy.sma_cross import SmaCross
from lts.testing.base_contract import SAMPLE_NOW
from lts.testing.broker_contract import BrokerContract
from lts.testing.pipeline_contract import PipelineContract
from lts.testing.portfolio_contract import PortfolioContract
from lts.testing.strategy_contract import StrategyContract


class TestSyntheticPipelineContract(PipelineContract):
    plugin_factory = SyntheticPipeline
    symbols = ("TEST", "EUR/USD", "BTC-USD")
    cannot_read_fed_data = "it generates its bars from a seed (no data to feed)"


def write_sample_csv(folder: Path) -> None:
    """TEST.csv: 1-minute bars running two hours past SAMPLE_NOW (never to be returned)."""
    index = pd.date_range(end=SAMPLE_NOW + timedelta(hours=2), periods=600, freq="1min")
    closes = 100 + np.cumsum(np.random.default_rng(1).normal(0, 0.1, len(index)))
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "open": closes, "high": closes + 0.05, "low": closes - 0.05,
                          "close": closes, "volume": 10})
    frame.to_csv(folder / "TEST.csv", index=False)


class TestCsvPipelineContract(PipelineContract):
    plugin_factory = CsvPipeline

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> CsvPipeline:
        write_sample_csv(tmp_path)
        return CsvPipeline({}, {"data_dir": str(tmp_path)})


class TestCsvResampledPipelineContract(PipelineContract):
    """The csv pipeline aggregating its 1-minute rows into 7-minute bars (a shifted grid)."""

    plugin_factory = CsvPipeline
    plugin_config = {"resample_minutes": 7, "lookback": 20}

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> CsvPipeline:
        write_sample_csv(tmp_path)
        return CsvPipeline(CsvPipeline.config_schema().load(self.plugin_config),
                           {"data_dir": str(tmp_path)})


class TestPredictionThresholdContract(StrategyContract):
    plugin_factory = PredictionThreshold


class TestSmaCrossContract(StrategyContract):
    plugin_factory = SmaCross


class TestEqualWeightContract(PortfolioContract):
    plugin_factory = EqualWeight


class TestFixedWeightsContract(PortfolioContract):
    plugin_factory = FixedWeights
    plugin_config = {"weights": {"AAA": 0.5, "BBB": 0.3, "CCC": 0.2}}


class TestInverseVolatilityContract(PortfolioContract):
    plugin_factory = InverseVolatility


class TestPaperBrokerContract(BrokerContract):
    plugin_factory = PaperBroker

    @pytest.fixture
    def plugin(self, db) -> PaperBroker:  # type: ignore[no-untyped-def]
        return PaperBroker()

    @pytest.fixture
    def asset(self, asset_info: AssetInfo) -> AssetInfo:
        return asset_info


class TestPaperBrokerWithPrecisionContract(TestPaperBrokerContract):
    """The paper broker stating its precision (issue 18): fills on a 2-decimal grid."""

    @pytest.fixture
    def plugin(self, db) -> PaperBroker:  # type: ignore[no-untyped-def]
        return PaperBroker({"price_decimals": 2, "quantity_decimals": 0})
