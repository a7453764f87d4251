"""The asset page's candles come from lts/trading/chart.py: one plugin source and one
worker thread per app (not one per render), the loop's timeout, errors on the chart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import MarketSnapshot
from lts.trading import chart
from tests.factories import gen_asset, gen_portfolio, gen_user


def _plugin_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "lts-plugin-call" and t.is_alive())


def test_renders_share_one_source_and_one_worker(app, client, db, login_as):
    user = gen_user("ursula")
    asset = gen_asset(gen_portfolio(user, "FX"), "EUR_USD", allocated_capital=1000.0)
    login_as(user)
    first = client.get(f"/assets/{asset.id}", headers={"HX-Request": "true",
                                                       "HX-Target": "asset-chart"})
    assert first.status_code == 200 and "data-lts-chart" in first.get_data(as_text=True)
    plugins = app.extensions[chart.EXTENSION_KEY]
    worker = plugins.caller._worker
    assert worker is not None and worker.is_alive()
    threads = _plugin_threads()
    for _ in range(3):
        again = client.get(f"/assets/{asset.id}")
        assert again.status_code == 200
    assert app.extensions[chart.EXTENSION_KEY] is plugins
    assert plugins.caller._worker is worker  # the same thread served every render
    assert _plugin_threads() == threads
    # Per render: the pipeline's snapshot and the strategy's prepare() (its indicators).
    assert plugins.caller.calls == 8
    plugins.close()


def test_a_pipeline_that_cannot_be_built_is_an_error_on_the_chart(app, db):
    user = gen_user("ursula")
    asset = gen_asset(gen_portfolio(user, "FX"), "EUR_USD", allocated_capital=1000.0)
    asset.pipeline_plugin = "no_such_pipeline"
    with app.test_request_context():
        candles = chart.chart_candles(app, asset, datetime(2026, 3, 2, tzinfo=UTC))
    assert candles.snapshot is None and candles.bars == []
    assert "no_such_pipeline" in (candles.error or "")
    chart.chart_plugins(app).close()


def test_candle_rows_keep_the_last_bars_and_drop_non_finite_ones():
    index = pd.date_range("2026-03-02", periods=5, freq="1min", tz="UTC")
    frame = pd.DataFrame({"open": [1.0, 2, 3, np.nan, 5], "high": [1.0, 2, 3, 4, np.inf],
                          "low": [1.0, 2, 3, 4, 5], "close": [1.0, 2, 3, 4, 5]}, index=index)
    snapshot = MarketSnapshot(symbol="EUR_USD", candles=frame, as_of=index[-1].to_pydatetime())
    rows = chart.candle_rows(snapshot, bars=4)
    assert [r["close"] for r in rows] == [2.0, 3.0]
    assert rows[0]["time"] == int(index[1].timestamp())


def _minute_bars(count: int, *, with_volume: bool = True) -> pd.DataFrame:
    index = pd.date_range("2026-03-02 09:00", periods=count, freq="1min", tz="UTC")
    closes = np.arange(count, dtype=float) + 100.0
    frame = pd.DataFrame({"open": closes - 0.5, "high": closes + 1.0, "low": closes - 1.0,
                          "close": closes}, index=index)
    if with_volume:
        frame["volume"] = 10.0
    return frame


def test_resample_groups_bars_by_timeframe_with_ohlc_and_summed_volume():
    frame = _minute_bars(12)
    five = chart.resample(frame, "5m")
    assert list(five.index.minute) == [0, 5, 10]
    first = five.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (99.5, 105.0, 99.0,
                                                                            104.0)
    assert list(five["volume"]) == [50.0, 50.0, 20.0]
    assert chart.resample(frame, "") is frame  # the pipeline's own bars, untouched


def test_resample_drops_empty_buckets_instead_of_inventing_bars():
    frame = pd.concat([_minute_bars(3), _minute_bars(3).shift(2, freq="h")])
    hourly = chart.resample(frame, "1h")
    assert len(hourly) == 2  # 09:00 and 11:00; no made-up 10:00 bar


def test_parse_timeframe_refuses_unknown_values_naming_the_field():
    from lts.errors import ValidationFailed

    assert chart.parse_timeframe(None) == "" and chart.parse_timeframe("1h") == "1h"
    with pytest.raises(ValidationFailed) as caught:
        chart.parse_timeframe("7m")
    assert "timeframe" in caught.value.fields


def test_volume_rows_colour_by_direction_and_are_empty_without_volume():
    frame = _minute_bars(2)
    frame.iloc[1, frame.columns.get_loc("close")] = 50.0  # a down bar
    rows = chart.volume_rows(frame)
    assert [r["value"] for r in rows] == [10.0, 10.0]
    assert rows[0]["color"] != rows[1]["color"]
    assert chart.volume_rows(_minute_bars(2, with_volume=False)) == []


def test_indicator_lines_keep_price_like_columns_only():
    frame = _minute_bars(20)
    prepared = pd.DataFrame({"sma": frame["close"].rolling(3).mean(),
                             "regime": np.where(frame["close"] > 105, 1.0, -1.0)},
                            index=frame.index)
    lines = chart.indicator_lines(prepared, frame)
    assert [line["name"] for line in lines] == ["sma"]
    assert len(lines[0]["points"]) == 18  # the two NaN warm-up rows are not drawn
    assert chart.indicator_lines(None, frame) == []
