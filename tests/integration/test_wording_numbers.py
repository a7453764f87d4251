"""Issue #17 item 6: toasts in words, no internals in errors, money with its currency."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.blueprints.dashboard.filters import money, percent_of, price, signed
from lts.errors import Conflict
from lts.extensions import db as database
from lts.models import Asset, Order, Portfolio
from lts.services import assets as asset_service
from lts.services import portfolios as portfolio_service
from lts.services.orders import describe_order
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


def test_money_carries_the_currency_and_prices_keep_the_instruments_decimals():
    assert money(1234.5, "EUR") == "1,234.50 EUR"
    assert signed(-4, "USD") == "-4.00 USD"
    assert percent_of(50, 1000) == "+5.00 %" and percent_of(1, 0) == ""
    # Entry 104.41287 and stop 95: the same three decimals, not 104.41287 beside 95.00.
    assert (price(104.41287, 104.41287), price(95, 104.41287)) == ("104.413", "95.000")
    assert price(1.0854321) == "1.08543"
    assert price(2345.678) == "2,345.68"


def test_an_order_toast_says_what_happened_in_words(db):
    asset = gen_asset(gen_portfolio(gen_user("wanda"), "Gold"), "XAU_USD")
    filled = Order(asset_id=asset.id, side="buy", quantity=24.0, status="filled",
                   fill_price=101.77, filled_quantity=24.0, client_order_id="lts-4-1-m1")
    resting = Order(asset_id=asset.id, side="sell", quantity=2.0, order_type="limit",
                    price=110.0, status="submitted", client_order_id="lts-4-1-m2")
    database.session.add_all([filled, resting])
    database.session.commit()
    assert describe_order(filled) == "Bought 24 XAU_USD at 101.770."  # 3 decimals under 1,000
    assert describe_order(resting) == ("Sell limit order for 2 XAU_USD at 110.000 sent to "
                                       "the broker.")
    assert "lts-4" not in describe_order(filled) + describe_order(resting)


def test_manual_order_toast_in_words(client, db, login_as):
    user = gen_user("walter")
    asset = gen_asset(gen_portfolio(user, "Toasts"), "EUR_USD", allocated_capital=5000.0)
    login_as(user)
    token = csrf_from(client.get(f"/assets/{asset.id}").get_data(as_text=True))
    response = client.post(f"/assets/{asset.id}/orders", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "side": "buy", "order_type": "market",
                                 "quantity": "3"})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    toast = html.split('class="toast-body">', 1)[1].split("<", 1)[0]
    assert toast.startswith("Bought 3 EUR_USD at ")
    assert "lts-" not in toast


def test_delete_refusals_speak_plainly(db):
    user = gen_user("xena")
    asset = gen_asset(gen_portfolio(user, "Kept"), "EUR_USD")
    database.session.add(Order(asset_id=asset.id, side="buy", quantity=1.0, status="filled",
                               client_order_id="lts-xena-1"))
    database.session.commit()
    for delete in (lambda: asset_service.delete_asset(user, asset.id),
                   lambda: portfolio_service.delete_portfolio(user, asset.portfolio_id)):
        with pytest.raises(Conflict) as caught:
            delete()
        assert "is_active" not in caught.value.message
        assert "deactivate it instead" in caught.value.message


def test_portfolio_currency_defaults_to_usd_is_validated_and_shown(client, db, login_as):
    user = gen_user("yuri")
    login_as(user)
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    base = {"csrf_token": token, "name": "Euro book", "total_capital": "2500",
            "portfolio_latency": "60", "portfolio_plugin": "equal_weight"}
    refused = client.post("/portfolios", headers={"HX-Request": "true"},
                          data={**base, "currency": "E1"})
    assert refused.status_code == 422
    assert "three-letter currency code" in refused.get_data(as_text=True)
    created = client.post("/portfolios", headers={"HX-Request": "true"},
                          data={**base, "currency": "eur"})
    assert created.status_code in (200, 204), created.get_data(as_text=True)
    portfolio = database.session.scalar(select(Portfolio).where(Portfolio.name == "Euro book"))
    assert portfolio.currency == "EUR"
    page = client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True)
    assert "2,500.00 EUR" in page
    assert "never UTC" not in page and "not run yet" in page
    assert gen_portfolio(user, "Default").currency == "USD"
    assert database.session.scalar(select(Asset).limit(1)) is None


def test_next_tick_stays_on_the_running_schedule_right_after_global_latency_changes(app, db):
    from datetime import UTC, datetime, timedelta

    from lts.models.statistic_keys import global_key
    from lts.services import config_admin
    from lts.services.loop_control import get_status
    from lts.trading.statistics import record

    admin = gen_user("lena", role="admin")
    configured = float(app.config["LTS"]["global_latency"])
    last = datetime.now(UTC) - timedelta(seconds=30)
    record(database.session, [(global_key(), 0.5)], last)
    database.session.commit()
    before = get_status(admin)
    assert before.next_tick_at == last + timedelta(minutes=configured)

    config_admin.set_config(admin, "global_latency", configured + 7)
    after = get_status(admin)
    assert after.interval_minutes == configured + 7
    # The scheduler reschedules only after its next tick: that one is still on the old
    # interval.
    assert after.next_tick_at == last + timedelta(minutes=configured)

    later = datetime.now(UTC) + timedelta(seconds=1)
    record(database.session, [(global_key(), 0.5)], later)
    database.session.commit()
    assert get_status(admin, later).next_tick_at == later + timedelta(minutes=configured + 7)


def test_the_api_reads_and_sets_the_portfolio_currency(client, db, api_token):
    raw = api_token(gen_user("zoe"))
    headers = {"Authorization": f"Bearer {raw}"}
    created = client.post("/api/v1/portfolios", headers=headers, json={
        "name": "Yen book", "total_capital": 1_000_000.0, "currency": "JPY"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["currency"] == "JPY"
    refused = client.post("/api/v1/portfolios", headers=headers, json={
        "name": "Bad", "total_capital": 10.0, "currency": "yen"})
    assert refused.status_code == 422
    assert "currency" in refused.get_data(as_text=True)
