"""The asset page's candles come from lts/trading/chart.py: one plugin source and one
worker thread per app (not one per render), the loop's timeout, errors on the chart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd

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
    assert plugins.caller.calls == 4
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
