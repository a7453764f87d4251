"""The fake v20 server's answers fit the shapes written from OANDA's reference.

Raw HTTP (``requests``), not our client: the shapes and status codes are checked as a
real v20 client would see them, so the broker is tested against the wire format and not
against its own expectations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.fakes import v20_shapes as shapes
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Wire:
    """A plain v20 HTTP client: the JSON and the status code of each call."""

    def __init__(self, url: str, token: str = TOKEN) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Accept-Datetime-Format": "RFC3339"})

    def __call__(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        response = self.session.request(method, f"{self.url}{path}", timeout=5, **kwargs)
        assert response.headers["Content-Type"].startswith("application/json")
        return response.status_code, response.json()


def fits(body: Any, shape: Any) -> None:
    """Assert ``body`` fits ``shape``, listing every mismatch."""
    assert shapes.problems(body, shape) == []


@pytest.fixture
def wire(fake_v20: Any) -> Wire:
    fake_v20.clock = lambda: NOW
    fake_v20.prices["EUR_USD"] = 1.1
    return Wire(fake_v20.url)


ACCOUNT_PATH = f"/v3/accounts/{ACCOUNT}"
MARKET = {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1000",
                    "timeInForce": "FOK", "positionFill": "DEFAULT",
                    "clientExtensions": {"id": "shape-1"},
                    "tradeClientExtensions": {"id": "shape-1"},
                    "stopLossOnFill": {"price": "1.09000", "timeInForce": "GTC"},
                    "takeProfitOnFill": {"price": "1.12000", "timeInForce": "GTC"}}}


def test_the_validator_itself_catches_wrong_types():
    assert shapes.problems({"price": 1.1}, {"price": "decimal"})
    assert shapes.problems({"time": "2026-03-02T12:00:00Z"}, {"time": "time"})
    assert shapes.problems({}, {"id": "id"}) == ["$.id: missing"]
    assert shapes.problems({"state": "DONE"}, {"state": ("enum", shapes.ORDER_STATES)})


def test_order_lifecycle_answers_fit_the_reference(wire, fake_v20):
    status, body = wire("POST", f"{ACCOUNT_PATH}/orders", json=MARKET)
    assert status == 201
    fits(body, shapes.CREATE_ORDER_201)
    assert "orderFillTransaction" in body

    status, body = wire("GET", f"{ACCOUNT_PATH}/orders/@shape-1")
    assert status == 200
    fits(body, shapes.GET_ORDER_200)
    fill_id = body["order"]["fillingTransactionID"]

    status, body = wire("GET", f"{ACCOUNT_PATH}/transactions/{fill_id}")
    fits(body, shapes.TRANSACTION_200)
    fits(body["transaction"], shapes.ORDER_FILL)

    for path, shape in ((f"{ACCOUNT_PATH}/openTrades", shapes.TRADES_200),
                        (f"{ACCOUNT_PATH}/trades?state=OPEN", shapes.TRADES_200),
                        (f"{ACCOUNT_PATH}/openPositions", shapes.POSITIONS_200),
                        (f"{ACCOUNT_PATH}/pendingOrders", shapes.LIST_ORDERS_200),
                        (f"{ACCOUNT_PATH}/orders?state=ALL", shapes.LIST_ORDERS_200),
                        (f"{ACCOUNT_PATH}/summary", shapes.SUMMARY_200),
                        (f"{ACCOUNT_PATH}/instruments", shapes.INSTRUMENTS_200)):
        status, body = wire("GET", path)
        assert status == 200, path
        fits(body, shape)

    trade_id = fake_v20.open_trades()[0]["id"]
    status, body = wire("GET", f"{ACCOUNT_PATH}/trades/@shape-1")
    assert status == 200 and body["trade"]["id"] == trade_id
    fits(body, shapes.TRADE_200)

    fake_v20.set_price("EUR_USD", 1.08)  # the stop loss fills at the broker
    status, body = wire("GET", f"{ACCOUNT_PATH}/transactions/sinceid", params={"id": "1"})
    assert status == 200
    fits(body, shapes.SINCE_200)
    kinds = [t["type"] for t in body["transactions"]]
    assert kinds == ["MARKET_ORDER", "ORDER_FILL", "STOP_LOSS_ORDER", "TAKE_PROFIT_ORDER",
                     "ORDER_FILL", "ORDER_CANCEL"]
    assert body["transactions"][4]["reason"] == "STOP_LOSS_ORDER"
    status, body = wire("GET", f"{ACCOUNT_PATH}/trades/{trade_id}")
    fits(body, shapes.TRADE_200)
    assert body["trade"]["state"] == "CLOSED"


def test_rejects_cancels_and_errors_fit_the_reference(wire, fake_v20):
    fake_v20.faults.reject_reason = "INSUFFICIENT_MARGIN"
    status, body = wire("POST", f"{ACCOUNT_PATH}/orders", json=MARKET)
    assert status == 400
    fits(body, shapes.CREATE_ORDER_400)

    fake_v20.faults.cancel_reason = "INSUFFICIENT_MARGIN"
    status, body = wire("POST", f"{ACCOUNT_PATH}/orders", json=MARKET)
    assert status == 201
    fits(body, shapes.CREATE_ORDER_201)
    assert body["orderCancelTransaction"]["reason"] == "INSUFFICIENT_MARGIN"

    status, body = wire("GET", f"{ACCOUNT_PATH}/orders/@never")
    assert status == 404
    fits(body, shapes.ERROR)

    status, body = wire("PUT", f"{ACCOUNT_PATH}/orders/@never/cancel")
    assert status == 404
    fits(body, shapes.CANCEL_404)

    limit = {"order": {**MARKET["order"], "type": "LIMIT", "price": "1.05000",
                       "timeInForce": "GTC", "clientExtensions": {"id": "shape-2"}}}
    status, body = wire("POST", f"{ACCOUNT_PATH}/orders", json=limit)
    assert status == 201
    fits(body, shapes.CREATE_LIMIT_201)
    status, body = wire("PUT", f"{ACCOUNT_PATH}/orders/@shape-2/cancel")
    assert status == 200
    fits(body, shapes.CANCEL_200)

    status, body = Wire(fake_v20.url, token="wrong")("GET", f"{ACCOUNT_PATH}/summary")
    assert status == 401
    fits(body, shapes.ERROR)

    fake_v20.faults.error_429 = 1
    response = requests.post(f"{fake_v20.url}{ACCOUNT_PATH}/orders", json=MARKET, timeout=5,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    fits(response.json(), shapes.ERROR)


def test_trade_close_fits_the_reference(wire, fake_v20):
    wire("POST", f"{ACCOUNT_PATH}/orders", json=MARKET)
    status, body = wire("PUT", f"{ACCOUNT_PATH}/trades/@shape-1/close", json={"units": "ALL"})
    assert status == 200
    fits(body, shapes.CLOSE_TRADE_200)
    assert body["orderFillTransaction"]["reason"] == "MARKET_ORDER_TRADE_CLOSE"


def test_replacing_a_trades_exit_orders_fits_the_reference(wire, fake_v20):
    status, created = wire("POST", f"{ACCOUNT_PATH}/orders", json=MARKET)
    assert status == 201
    trade_id = created["orderFillTransaction"]["tradeOpened"]["tradeID"]
    old_stop = fake_v20.trades[trade_id]["stopLossOrder"]["id"]
    status, body = wire("PUT", f"{ACCOUNT_PATH}/trades/{trade_id}/orders",
                        json={"stopLoss": {"price": "1.09500", "timeInForce": "GTC"}})
    assert status == 200
    fits(body, shapes.SET_TRADE_ORDERS_200)
    assert body["stopLossOrderCancelTransaction"]["orderID"] == old_stop
    assert body["stopLossOrderCancelTransaction"]["reason"] == "CLIENT_REQUEST_REPLACED"
    new = body["stopLossOrderTransaction"]
    assert (new["reason"], new["replacesOrderID"], new["price"]) == (
        "REPLACEMENT", old_stop, "1.09500")
    assert "takeProfitOrderTransaction" not in body  # only what was asked is replaced
    status, trade = wire("GET", f"{ACCOUNT_PATH}/trades/{trade_id}")
    fits(trade, shapes.TRADE_200)
    assert trade["trade"]["stopLossOrder"]["price"] == "1.09500"
    assert trade["trade"]["takeProfitOrder"]["price"] == "1.12000"
    status, old = wire("GET", f"{ACCOUNT_PATH}/orders/{old_stop}")
    fits(old, shapes.GET_ORDER_200)
    assert (old["order"]["state"], old["order"]["replacedByOrderID"]) == (
        "CANCELLED", new["id"])

    status, body = wire("PUT", f"{ACCOUNT_PATH}/trades/{trade_id}/orders",
                        json={"takeProfit": {"price": "1.1x"}})
    assert status == 400
    fits(body, shapes.SET_TRADE_ORDERS_400)
    assert body["takeProfitOrderRejectTransaction"]["rejectReason"] == "PRICE_INVALID"
    status, body = wire("PUT", f"{ACCOUNT_PATH}/trades/999999/orders",
                        json={"stopLoss": {"price": "1.09"}})
    assert status == 404
    fits(body, shapes.ERROR)


def test_candles_fit_the_reference_and_only_the_newest_is_incomplete(wire):
    now = NOW + timedelta(seconds=30)
    status, body = wire("GET", "/v3/instruments/EUR_USD/candles",
                        params={"granularity": "M1", "price": "M", "count": 5})
    assert status == 200
    fits(body, shapes.CANDLES_200)
    assert [c["complete"] for c in body["candles"]] == [True] * 4 + [False]
    assert body["candles"][-1]["time"] == "2026-03-02T12:00:00.000000000Z"
    status, body = wire("GET", "/v3/instruments/EUR_USD/candles",
                        params={"granularity": "M5", "price": "B",
                                "from": "2026-03-02T10:00:00.000000000Z",
                                "to": now.strftime("%Y-%m-%dT%H:%M:%S.000000000Z")})
    fits(body, shapes.CANDLES_200)
    # 10:00 ... 12:00, the last one (stamped at the fake's now) still forming.
    assert len(body["candles"]) == 25 and "bid" in body["candles"][0]
    assert not body["candles"][-1]["complete"] and body["candles"][-2]["complete"]
    status, body = wire("GET", "/v3/instruments/EUR_USD/candles",
                        params={"granularity": "M1", "count": 5001})
    assert status == 400
    fits(body, shapes.ERROR)
