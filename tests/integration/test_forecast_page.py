"""The asset page draws the pipeline's forecast; the asset form configures the pipelines."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Asset
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


def chart_data(page: str) -> dict:
    found = re.search(r'data-candles="([^"]*)"', page)
    assert found, "no candle chart on the page"
    return json.loads(html.unescape(found.group(1)))


def test_the_asset_page_draws_the_arima_forecast_with_its_model_and_status(
        client, db, login_as):
    user = gen_user("fiona")
    asset = gen_asset(gen_portfolio(user), "EUR_USD", pipeline_plugin="arima",
                      pipeline_config={"source": "synthetic", "horizon": 4})
    login_as(user)
    page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    forecast = chart_data(page)["forecast"]
    assert forecast["model"] == "ARIMA(1,1,1)"
    assert forecast["status"] in ("fitted", "fallback")
    assert len(forecast["close"]) == 5  # the last close, then four steps
    assert len(forecast["lower"]) == len(forecast["upper"]) == 5
    bars = chart_data(page)["bars"]
    assert forecast["close"][0] == {"time": bars[-1]["time"], "value": bars[-1]["close"]}
    assert forecast["close"][1]["time"] > bars[-1]["time"]
    assert re.search(r"data-lts-forecast>Forecast: <strong>ARIMA\(1,1,1\)</strong>, "
                     r"(fitted|fallback)", page)


def test_a_pipeline_without_predictions_draws_no_forecast(client, db, login_as):
    user = gen_user("gary")
    asset = gen_asset(gen_portfolio(user), "EUR_USD")
    login_as(user)
    page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert chart_data(page)["forecast"] is None
    assert "data-lts-forecast" not in page


def test_the_asset_form_saves_an_arima_pipeline_and_names_a_source_config_error(
        client, db, login_as):
    user = gen_user("hana")
    portfolio = gen_portfolio(user)
    login_as(user)
    token = csrf_from(client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True))
    form = {"csrf_token": token, "symbol": "GBP_USD", "is_active": "y",
            "pipeline_plugin": "arima", "pipeline_config-source": "synthetic",
            "pipeline_config-source_config": '{"lookbak": 300}',
            "pipeline_config-order": "[2, 1, 2]",
            "strategy_plugin": "prediction_threshold",
            "strategy_config-require_interval": "y", "broker_plugin": "paper"}
    refused = client.post(f"/portfolios/{portfolio.id}/assets",
                          headers={"HX-Request": "true"}, data=form)
    assert refused.status_code == 422
    assert "lookbak: Unknown field" in refused.get_data(as_text=True)
    form["pipeline_config-source_config"] = '{"lookback": 300}'
    saved = client.post(f"/portfolios/{portfolio.id}/assets",
                        headers={"HX-Request": "true"}, data=form)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    asset = database.session.scalar(select(Asset).where(Asset.symbol == "GBP_USD"))
    assert asset.pipeline_config["order"] == [2, 1, 2]
    assert asset.pipeline_config["source_config"]["lookback"] == 300
    assert asset.strategy_config["require_interval"] is True
