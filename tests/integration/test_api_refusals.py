"""Refusals are honest: 422 ``risk_rejected`` with the stored order, 429 with Retry-After."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from lts.extensions import db as database
from lts.models import AuditLog, Order, Position
from lts.runtime_config import set_runtime_setting
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


@pytest.fixture
def asset(alice):
    return gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)


def place(client, headers, asset_id, quantity=1):
    return client.post(f"/api/v1/assets/{asset_id}/orders", headers=headers,
                       json={"side": "buy", "quantity": quantity})


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_risk_refusal_is_422_naming_the_check_and_the_stored_order(client, as_alice, asset):
    refused = place(client, as_alice, asset.id, quantity=1_000_000)  # far beyond 10,000
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "risk_rejected" and error["check"] == "margin"
    assert error["message"] == f"refused by the margin check: {error['reason']}"
    order = database.session.get(Order, error["order_id"])
    assert (order.status, order.source, order.client_order_id) == \
        ("rejected", "manual", error["client_order_id"])
    assert order.reason == error["message"]
    audits = {row.action: row for row in database.session.scalars(select(AuditLog))}
    assert audits["order.risk_rejected"].resource == f"order:{order.id}"
    assert audits["order.manual"].outcome == "denied"
    # The stored refusal is an order like any other: found by its client id.
    found = client.get(f"/api/v1/orders?client_order_id={order.client_order_id}",
                       headers=as_alice).get_json()
    assert [item["status"] for item in found["items"]] == ["rejected"]


def test_the_next_order_after_a_refusal_gets_a_new_client_id(client, as_alice, asset):
    refused = place(client, as_alice, asset.id, quantity=1_000_000).get_json()["error"]
    placed = place(client, as_alice, asset.id).get_json()
    assert placed["client_order_id"] != refused["client_order_id"]
    assert database.session.scalar(select(func.count(func.distinct(Order.client_order_id)))
                                   ) == 2


def test_the_rate_limit_is_429_with_retry_after_and_stores_nothing(client, as_alice, asset):
    set_runtime_setting("max_orders_per_minute", 1)
    assert place(client, as_alice, asset.id).status_code == 201
    throttled = place(client, as_alice, asset.id)
    assert throttled.status_code == 429
    error = throttled.get_json()["error"]
    assert error["code"] == "rate_limited" and error["check"] == "max_orders_per_minute"
    # The first order left "now" (the wall clock): it leaves the window within a minute.
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert error["retry_after"] == int(throttled.headers["Retry-After"])
    assert database.session.scalar(select(func.count(Order.id))) == 1


def test_the_order_limit_is_told_in_ratelimit_fields_on_every_answer(client, as_alice, asset):
    set_runtime_setting("max_orders_per_minute", 3)
    seen = []
    for _ in range(3):
        answer = place(client, as_alice, asset.id)
        assert answer.status_code == 201
        seen.append((answer.headers["RateLimit-Limit"], answer.headers["RateLimit-Remaining"]))
        # The first order of the window leaves it within a minute: then a slot is free.
        assert 1 <= int(answer.headers["RateLimit-Reset"]) <= 60
        assert "Retry-After" not in answer.headers
    assert seen == [("3", "2"), ("3", "1"), ("3", "0")]
    throttled = place(client, as_alice, asset.id)
    assert throttled.status_code == 429
    assert (throttled.headers["RateLimit-Limit"], throttled.headers["RateLimit-Remaining"]) \
        == ("3", "0")
    assert throttled.headers["RateLimit-Reset"] == throttled.headers["Retry-After"]
    # A close is an order of the same portfolio: it tells the same window.
    set_runtime_setting("max_orders_per_minute", 10)
    position_id = database.session.scalar(select(Position.id))
    closed = client.post(f"/api/v1/positions/{position_id}/close", headers=as_alice)
    assert closed.status_code == 201, closed.get_json()
    assert (closed.headers["RateLimit-Limit"], closed.headers["RateLimit-Remaining"]) \
        == ("10", "6")


def test_another_users_asset_gets_no_ratelimit_fields(client, as_alice):
    others = gen_asset(gen_portfolio(gen_user("bob")), "EUR_USD", allocated_capital=10_000.0)
    answer = place(client, as_alice, others.id)
    assert answer.status_code == 404
    assert "RateLimit-Limit" not in answer.headers


def test_a_refused_close_is_422_with_its_stored_order(client, as_alice, asset):
    assert place(client, as_alice, asset.id, quantity=5).status_code == 201
    position_id = database.session.scalar(select(Position.id))
    set_runtime_setting("kill_switch", True)
    refused = client.post(f"/api/v1/positions/{position_id}/close", headers=as_alice)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["code"], error["check"]) == ("risk_rejected", "kill_switch")
    assert database.session.get(Order, error["order_id"]).status == "rejected"
    assert database.session.get(Position, position_id).status == "open"


def test_the_dashboard_form_shows_the_refusal_and_refreshes_the_tables(client, alice, asset,
                                                                       login_as):
    login_as(alice)
    token = csrf_from(client.get(f"/assets/{asset.id}").get_data(as_text=True))
    response = client.post(f"/assets/{asset.id}/orders", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "side": "buy", "order_type": "market",
                                 "quantity": "1000000"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="order-refusal"' in html and "refused by the margin check" in html
    stored = database.session.scalar(select(Order).where(Order.status == "rejected"))
    assert f"Recorded as order {stored.client_order_id}" in html
    assert response.headers["HX-Trigger"] == "lts-orders-changed"


def test_the_dashboard_form_says_when_to_retry_a_throttled_order(client, alice, asset,
                                                                 login_as):
    set_runtime_setting("max_orders_per_minute", 1)
    login_as(alice)
    token = csrf_from(client.get(f"/assets/{asset.id}").get_data(as_text=True))
    form = {"csrf_token": token, "side": "buy", "order_type": "market", "quantity": "1"}
    first = client.post(f"/assets/{asset.id}/orders", headers={"HX-Request": "true"},
                        data=form)
    assert first.status_code == 200
    response = client.post(f"/assets/{asset.id}/orders", headers={"HX-Request": "true"},
                           data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "max_orders_per_minute check" in html
    assert re.search(r"try again in ([1-9]|[1-5][0-9]|60) s\.", html)
    assert "HX-Trigger" not in response.headers  # nothing was stored
