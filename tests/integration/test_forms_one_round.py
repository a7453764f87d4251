"""Every dashboard form reports all its problems in one round, with the message that fits.

The forms check types only; the rules are the services' (asked even when a field did
not parse), so a plugin-config error shows beside a bad capital, a missing limit price
beside a bad quantity, and 0 is "must be greater than 0", never "required".
"""

from __future__ import annotations

import re

import pytest

from lts.extensions import db as database
from lts.models import Order, Position
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


@pytest.fixture
def trader(db):
    """A user with a portfolio and one asset priced at 100 by a filled order."""
    user = gen_user("fiona")
    portfolio = gen_portfolio(user, "Forms")
    asset = gen_asset(portfolio, "EUR_USD")
    fill = Order(asset_id=asset.id, side="buy", quantity=1.0, fill_price=100.0,
                 status="filled", filled_quantity=1.0, client_order_id="lts-forms-fill")
    database.session.add(fill)
    database.session.flush()
    database.session.add(Position(asset_id=asset.id, order_id=fill.id, side="long",
                                  quantity=1.0, entry_price=100.0, current_price=100.0,
                                  status="open"))
    database.session.commit()
    return {"user": user, "portfolio": portfolio, "asset": asset}


def errors_of(html: str, field_id: str) -> str:
    """The text of the error block under the input ``field_id`` ('' when none)."""
    found = re.search(rf'id="{re.escape(field_id)}-errors"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


def test_portfolio_form_reports_zero_capital_zero_interval_and_plugin_config_at_once(
        client, trader, login_as):
    login_as(trader["user"])
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    response = client.post("/portfolios", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "name": "Zero", "total_capital": "0", "portfolio_latency": "0",
        "portfolio_plugin": "inverse_volatility", "portfolio_config-window": "1"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "must be greater than 0" in errors_of(html, "total_capital")
    assert "must be greater than 0" in errors_of(html, "portfolio_latency")
    assert "This field is required" not in html
    assert errors_of(html, "portfolio-config-window")  # the plugin's rule, same round


def test_asset_form_reports_a_missing_symbol_and_a_strategy_config_error_at_once(
        client, trader, login_as):
    login_as(trader["user"])
    pid = trader["portfolio"].id
    token = csrf_from(client.get(f"/portfolios/{pid}").get_data(as_text=True))
    response = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "symbol": "", "pipeline_plugin": "synthetic",
        "strategy_plugin": "sma_cross", "strategy_config-fast": "50",
        "strategy_config-slow": "20", "broker_plugin": "paper",
        "max_data_age_minutes": "0"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert errors_of(html, "symbol")
    assert "smaller than slow" in errors_of(html, "strategy-config-fast")
    assert "above 0" in errors_of(html, "max_data_age_minutes")


def _order(client, asset_id: int, **fields: str):
    token = csrf_from(client.get(f"/assets/{asset_id}").get_data(as_text=True))
    return client.post(f"/assets/{asset_id}/orders", headers={"HX-Request": "true"},
                       data={"csrf_token": token, "side": "buy", **fields})


def test_manual_order_reports_bad_quantity_and_missing_limit_price_at_once(
        client, trader, login_as):
    login_as(trader["user"])
    response = _order(client, trader["asset"].id, order_type="limit", quantity="abc")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert errors_of(html, "quantity")
    assert "needs a price" in errors_of(html, "price")


def test_manual_quantity_zero_is_refused(client, trader, login_as):
    login_as(trader["user"])
    response = _order(client, trader["asset"].id, order_type="market", quantity="0")
    assert response.status_code == 422
    assert "must be greater than 0" in errors_of(response.get_data(as_text=True), "quantity")
    assert database.session.query(Order).filter(Order.source == "manual").count() == 0


def test_stop_loss_and_take_profit_on_the_wrong_side_are_refused(client, trader, login_as):
    login_as(trader["user"])
    asset_id = trader["asset"].id
    limit = _order(client, asset_id, order_type="limit", quantity="1", price="90",
                   stop_loss="95", take_profit="85")
    html = limit.get_data(as_text=True)
    assert limit.status_code == 422
    assert "below the limit price (90)" in errors_of(html, "stop_loss")
    assert "above the limit price (90)" in errors_of(html, "take_profit")
    market = _order(client, asset_id, order_type="market", quantity="1", side="sell",
                    stop_loss="99", take_profit="101")
    html = market.get_data(as_text=True)
    assert market.status_code == 422
    assert "above the last price (100)" in errors_of(html, "stop_loss")
    assert database.session.query(Order).filter(Order.source == "manual").count() == 0
