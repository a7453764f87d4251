"""The hourly_csv pipeline and the momentum_weight portfolio pass LTS's contract suites."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from lts_momentum import HourlyCsv, MomentumWeight

from lts.testing.base_contract import make_snapshot, sample_asset
from lts.testing.pipeline_contract import PipelineContract, sample_bars, write_csv
from lts.testing.portfolio_contract import PortfolioContract, sample_portfolio


class TestHourlyCsvContract(PipelineContract):
    """Look-ahead checks included: the suite feeds it CSV files (it is a csv pipeline)."""

    plugin_factory = HourlyCsv
    plugin_config = {"lookback": 48}
    fed_bars = 6000  # raw bars fed: enough hours from 1-minute data

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> HourlyCsv:
        """The pipeline over 100 hours of 1-minute sample bars in TEST.csv."""
        write_csv(sample_bars(self.now, timedelta(minutes=1), before=6000, after=120),
                  tmp_path / "TEST.csv")
        return HourlyCsv(HourlyCsv.config_schema().load(self.plugin_config),
                         {"data_dir": str(tmp_path)})


class TestMomentumWeightContract(PortfolioContract):
    """Never negative, never above the equity, only to the given assets."""

    plugin_factory = MomentumWeight


def test_the_rising_asset_gets_more():
    """A 20% rise over the window against a flat line: most of the capital."""
    assets = [sample_asset("UP", asset_id=1), sample_asset("FLAT", asset_id=2)]
    snapshots = {1: make_snapshot(list(np.linspace(100, 120, 30))),
                 2: make_snapshot([100.0] * 30)}
    allocation = MomentumWeight({"lookback": 20}).allocate(sample_portfolio(1000.0), assets,
                                                           snapshots)
    assert allocation[1] > 900 > allocation[2] >= 0
