"""The ``oanda`` pipeline against the fake v20: complete candles only, paging, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, PluginError
from lts.plugins.pipeline.oanda import OandaPipeline
from tests.fakes.oanda_v20 import TOKEN

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
ASSET = AssetInfo(id=1, portfolio_id=1, symbol="EUR/USD", name="EUR/USD",
                  allocated_capital=1000.0)


def make_pipeline(fake: Any, **extra: Any) -> OandaPipeline:
    config = OandaPipeline.config_schema().load({"api_token": TOKEN, "base_url": fake.url,
                                                 **extra})
    return OandaPipeline(config)


@pytest.fixture
def fake(fake_v20: Any) -> Any:
    fake_v20.clock = lambda: NOW
    return fake_v20


def candle_queries(fake: Any) -> list[dict[str, list[str]]]:
    """Query strings of the candle requests the fake received."""
    return [query for path, query in fake.queries if path.endswith("/candles")]


def test_snapshot_keeps_only_complete_candles_on_a_utc_index(fake):
    snapshot = make_pipeline(fake, granularity="M1", lookback=10).snapshot(ASSET, NOW)
    candles = snapshot.candles
    assert len(candles) == 10
    assert str(candles.index.tz) == "UTC"
    # 12:00 is still forming at 12:00:30: the newest complete candle is 11:59.
    assert candles.index[-1] == pd.Timestamp("2026-03-02T11:59:00Z")
    assert list(candles.columns) == ["open", "high", "low", "close", "volume"]
    assert snapshot.as_of == NOW


def test_an_earlier_now_never_sees_a_later_candle(fake):
    earlier = NOW - timedelta(minutes=30, seconds=10)
    candles = make_pipeline(fake, granularity="M5").snapshot(ASSET, earlier).candles
    assert candles.index[-1] + pd.Timedelta(minutes=5) <= pd.Timestamp(earlier)


def test_price_component_is_sent_and_read(fake):
    mid = make_pipeline(fake, granularity="M1", price="M").snapshot(ASSET, NOW).candles
    bid = make_pipeline(fake, granularity="M1", price="B").snapshot(ASSET, NOW).candles
    assert (bid["close"] < mid["close"]).all()
    assert [q["price"] for q in candle_queries(fake)] == [["M"], ["B"]]


def test_bars_page_through_from_and_to_within_the_5000_limit(fake):
    start = NOW - timedelta(days=1)
    bars = make_pipeline(fake, granularity="S10").bars(ASSET, start, NOW)
    assert len(bars) == 8640  # one day of 10-second candles, none forming
    assert bars.index.is_unique and bars.index.is_monotonic_increasing
    queries = candle_queries(fake)
    assert len(queries) == 2
    assert all("count" not in q and "from" in q and "to" in q for q in queries)


def test_daily_candles_are_aligned_on_utc_midnight(fake):
    make_pipeline(fake, granularity="D", lookback=5).snapshot(ASSET, NOW)
    (query,) = candle_queries(fake)
    assert query["dailyAlignment"] == ["0"] and query["alignmentTimezone"] == ["UTC"]


def test_a_bad_token_is_a_plugin_error_without_the_token(fake):
    fake.faults.expired_token = True
    with pytest.raises(PluginError) as error:
        make_pipeline(fake).snapshot(ASSET, NOW)
    assert "api_token" in str(error.value) and TOKEN not in str(error.value)


def test_an_unknown_instrument_is_a_plugin_error(fake):
    other = AssetInfo(id=2, portfolio_id=1, symbol="XXX/YYY", name="x", allocated_capital=1.0)
    with pytest.raises(PluginError, match="XXX_YYY"):
        make_pipeline(fake).snapshot(other, NOW)


def test_granularity_is_validated():
    import marshmallow

    with pytest.raises(marshmallow.ValidationError) as error:
        OandaPipeline.config_schema().load({"api_token": TOKEN, "granularity": "W"})
    assert "granularity" in error.value.messages
