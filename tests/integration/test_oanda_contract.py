"""The ``oanda`` broker and pipeline pass the reusable contract suites against the fake v20."""

from __future__ import annotations

from typing import Any

import pytest

from lts.plugins.broker.oanda import OandaBroker
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


class TestOandaPipelineContract(PipelineContract):
    plugin_factory = OandaPipeline
    cannot_read_fed_data = ("the fake v20 server serves its own candles; feeding the suite's "
                            "data through it is not wired yet")
    plugin_config = {"api_token": TOKEN}

    @pytest.fixture
    def plugin(self, fake_v20: Any) -> OandaPipeline:  # type: ignore[override]
        config = OandaPipeline.config_schema().load(
            {"api_token": TOKEN, "base_url": fake_v20.url, "granularity": "M1"})
        return OandaPipeline(config)
