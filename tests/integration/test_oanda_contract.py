"""The ``oanda`` broker and pipeline pass the reusable contract suites against the fake v20."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lts.plugins.broker.oanda import OandaBroker
from lts.plugins.oanda_client import to_instrument
from lts.plugins.pipeline.oanda import OandaPipeline
from lts.testing.base_contract import make_snapshot
from lts.testing.broker_contract import BrokerContract
from lts.testing.pipeline_contract import PipelineContract
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN


def connection(fake: Any, **extra: Any) -> dict[str, Any]:
    """A validated-looking config pointing at the fake server."""
    return {"account_id": ACCOUNT, "api_token": TOKEN, "base_url": fake.url,
            "read_timeout": 2.0, **extra}


class TestOandaBrokerContract(BrokerContract):
    """Market orders here carry no SL/TP (the suite's), so protection is not required."""

    plugin_factory = OandaBroker
    plugin_config = {"account_id": ACCOUNT, "api_token": TOKEN}

    @pytest.fixture
    def plugin(self, fake_v20: Any) -> OandaBroker:  # type: ignore[override]
        # The suite's market price: the fake quotes around the snapshot's last close.
        fake_v20.prices["TEST"] = make_snapshot(symbol="TEST", seed=5).last_price
        config = OandaBroker.config_schema().load(connection(fake_v20,
                                                             require_protection=False))
        return OandaBroker(config)


#: v20 granularities of the suite's source grids (v20 has no 7-minute candles).
_GRANULARITY_OF = {pd.Timedelta(minutes=1): "M1", pd.Timedelta(hours=1): "H1"}


class TestOandaPipelineContract(PipelineContract):
    """The look-ahead checks run on the suite's data, served by the fake v20 as candles."""

    plugin_factory = OandaPipeline
    plugin_config = {"api_token": TOKEN}
    fed_grids = ("1-minute", "hourly")

    @pytest.fixture
    def plugin(self, fake_v20: Any) -> OandaPipeline:  # type: ignore[override]
        config = OandaPipeline.config_schema().load(
            {"api_token": TOKEN, "base_url": fake_v20.url, "granularity": "M1"})
        return OandaPipeline(config)

    @pytest.fixture(autouse=True)
    def _fake(self, fake_v20: Any) -> None:
        self.fake = fake_v20

    def plugin_over(self, sources: Mapping[str, pd.DataFrame],
                    folder: Path) -> OandaPipeline:
        """Feed ``sources`` to the fake v20; the pipeline asks it for candles of that grid.

        The fake's clock is far ahead: every fed candle is ``complete`` there, so only the
        pipeline's own rule can keep bars after ``now`` (and the forming one) out.
        """
        self.fake.clock = lambda: datetime(2100, 1, 1, tzinfo=UTC)
        grids = set()
        for symbol, bars in sources.items():
            self.fake.feed(to_instrument(symbol), bars)
            grids.add(pd.Timedelta(bars.index[1] - bars.index[0]))
        (grid,) = grids
        config = OandaPipeline.config_schema().load(
            {"api_token": TOKEN, "base_url": self.fake.url,
             "granularity": _GRANULARITY_OF[grid], "lookback": 200})
        return OandaPipeline(config)
