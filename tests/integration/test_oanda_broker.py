"""The ``oanda`` broker against the fake v20 server: wire format, refusals and every fault.

Each fault test checks what the broker answers *and* what the fake broker booked:
an order is never placed twice (``fake.placed`` counts POSTs that booked one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow
import pytest

from lts.plugins.base import AssetInfo, OrderRequest, PositionInfo
from lts.plugins.broker.oanda import OandaBroker, OandaConfigError
from lts.plugins.oanda_client import client_for
from lts.testing.base_contract import make_snapshot
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ASSET = AssetInfo(id=7, portfolio_id=3, symbol="EUR/USD", name="EUR/USD",
                  allocated_capital=50_000.0)


def make_broker(fake: Any, **extra: Any) -> OandaBroker:
    """An ``oanda`` broker with a validated config pointing at ``fake``."""
    config = OandaBroker.config_schema().load({
        "account_id": ACCOUNT, "api_token": TOKEN, "base_url": fake.url,
        "read_timeout": 0.5, **extra})
    return OandaBroker(config)


@pytest.fixture
def market(fake_v20: Any) -> Any:
    """The fake at a fixed time and EUR/USD mid 1.10000; sleeps of the backoff recorded."""
    fake_v20.clock = lambda: NOW
    fake_v20.prices["EUR_USD"] = 1.10000
    return fake_v20


@pytest.fixture
def slept(market: Any) -> list[float]:
    """Backoff waits of the shared client (recorded, never slept)."""
    waits: list[float] = []
    client = client_for(make_broker(market).config)
    client.sleep = waits.append
    return waits


def order(coid: str = "lts-7-1772452800-0", side: str = "buy", quantity: float = 1000,
          **extra: Any) -> OrderRequest:
    """An opening market order with protection, on a snapshot near 1.10."""
    values: dict[str, Any] = {"stop_loss": 1.09, "take_profit": 1.12}
    values.update(extra)
    snapshot = make_snapshot([1.1] * 10, symbol="EUR/USD", end=NOW)
    return OrderRequest(client_order_id=coid, asset=ASSET, side=side,  # type: ignore[arg-type]
                        quantity=quantity, snapshot=snapshot, **values)


def posts(fake: Any) -> int:
    """POST /orders requests the fake received (booked or not)."""
    return sum(1 for method, path in fake.requests if method == "POST")


# ------------------------------------------------------------------ happy path


def test_market_order_carries_protection_and_client_id_in_the_v20_format(market):
    result = make_broker(market).submit(order(stop_loss=1.0912345, take_profit=1.1187654))

    assert result.status == "filled", result.message
    sent = market.find_order("@lts-7-1772452800-0")
    assert sent["type"] == "MARKET" and sent["instrument"] == "EUR_USD"
    assert sent["units"] == "1000" and sent["timeInForce"] == "FOK"
    assert sent["positionFill"] == "DEFAULT"
    assert sent["clientExtensions"]["id"] == "lts-7-1772452800-0"
    assert sent["tradeClientExtensions"]["id"] == "lts-7-1772452800-0"
    # Prices go with the instrument's precision (5 places), as strings.
    assert sent["stopLossOnFill"] == {"price": "1.09123", "timeInForce": "GTC"}
    assert sent["takeProfitOnFill"] == {"price": "1.11877", "timeInForce": "GTC"}
    fill = result.fills[0]
    _bid, ask = market.quote("EUR_USD")
    assert (fill.quantity, fill.price, fill.time) == (1000, ask, NOW)
    trade = market.open_trades("EUR_USD")[0]
    assert trade["stopLossOrder"]["price"] == "1.09123"
    assert trade["takeProfitOrder"]["price"] == "1.11877"
    assert result.broker_order_id == sent["id"]


def test_a_sell_sends_negative_units(market):
    result = make_broker(market).submit(order(side="sell", stop_loss=1.11, take_profit=1.08))
    assert result.status == "filled"
    assert market.find_order("@lts-7-1772452800-0")["units"] == "-1000"
    assert result.fills[0].price == market.quote("EUR_USD")[0]


def test_limit_order_rests_then_cancels(market):
    broker = make_broker(market)
    result = broker.submit(order(order_type="limit", price=1.0512345))
    assert result.status == "submitted"
    assert market.find_order("@lts-7-1772452800-0")["price"] == "1.05123"
    cancelled = broker.cancel(ASSET, "lts-7-1772452800-0")
    assert cancelled.status == "cancelled"
    assert "CLIENT_REQUEST" in cancelled.message


def test_resubmitting_a_filled_order_never_trades_twice(market):
    broker = make_broker(market)
    first = broker.submit(order())
    second = broker.submit(order())
    assert (second.status, second.broker_order_id) == (first.status, first.broker_order_id)
    assert second.fills == first.fills
    assert market.placed["lts-7-1772452800-0"] == 1
    assert len(market.open_trades()) == 1


def test_close_is_a_reduce_only_order_with_our_client_id(market):
    broker = make_broker(market)
    opened = broker.submit(order())
    fill = opened.fills[0]
    position = PositionInfo(id=1, asset_id=ASSET.id, side="long", quantity=1000,
                            entry_price=fill.price, opened_at=fill.time)
    closing = OrderRequest(client_order_id="lts-7-1772452860-0", asset=ASSET, side="sell",
                           quantity=1000, closes_position_id=1)
    result = broker.close(position, closing)
    assert result.status == "filled"
    sent = market.find_order("@lts-7-1772452860-0")
    assert (sent["units"], sent["positionFill"]) == ("-1000", "REDUCE_ONLY")
    assert "stopLossOnFill" not in sent
    assert market.open_trades() == []


def test_minimum_trade_size_comes_from_the_instruments_endpoint(market):
    market.instruments["EUR_USD"].minimum_trade_size = 100
    result = make_broker(market).submit(order(quantity=10))
    assert result.status == "rejected"
    assert "minimum trade size 100" in result.message
    assert posts(market) == 0


def test_instruments_are_cached(market):
    broker = make_broker(market)
    broker.submit(order("a-1"))
    broker.submit(order("a-2"))
    assert sum(1 for _, path in market.requests if path.endswith("/instruments")) == 1


# ------------------------------------------------------------------ refusals


def test_require_protection_refuses_before_anything_reaches_oanda(market):
    broker = make_broker(market)
    for missing in ({"stop_loss": None}, {"take_profit": None}):
        result = broker.submit(order(**missing))
        assert result.status == "rejected"
        assert "require_protection" in result.message
    assert market.requests == []


def test_closing_orders_need_no_protection(market):
    broker = make_broker(market)
    opened = broker.submit(order()).fills[0]
    position = PositionInfo(id=1, asset_id=ASSET.id, side="long", quantity=1000,
                            entry_price=opened.price, opened_at=opened.time)
    closing = OrderRequest(client_order_id="c-1", asset=ASSET, side="sell", quantity=1000,
                           closes_position_id=1)
    assert broker.close(position, closing).status == "filled"


def test_live_environment_is_refused_without_allow_live(market):
    with pytest.raises(marshmallow.ValidationError) as error:
        OandaBroker.config_schema().load({"account_id": ACCOUNT, "api_token": TOKEN,
                                          "environment": "live"})
    assert "allow_live" in error.value.messages
    # A config that reached the plugin anyway (edited in the database) is refused too.
    broker = OandaBroker({"account_id": ACCOUNT, "api_token": TOKEN, "environment": "live",
                          "base_url": market.url})
    with pytest.raises(OandaConfigError, match="allow_live"):
        broker.submit(order())
    assert market.requests == []
    allowed = OandaBroker.config_schema().load({"account_id": ACCOUNT, "api_token": TOKEN,
                                                "environment": "live", "allow_live": True})
    assert allowed["environment"] == "live"


def test_base_url_may_not_send_the_token_in_clear_to_another_host():
    schema = OandaBroker.config_schema()
    with pytest.raises(marshmallow.ValidationError) as error:
        schema.load({"account_id": ACCOUNT, "api_token": TOKEN,
                     "base_url": "http://example.com"})
    assert "base_url" in error.value.messages


def test_secret_fields_are_flagged_in_the_schema():
    from lts.plugins.config_secrets import secret_field_names

    assert {"api_token", "account_id"} <= secret_field_names(OandaBroker.config_schema)


# ------------------------------------------------------------------ faults


def test_400_reject_is_rejected_with_the_brokers_reason(market):
    market.faults.reject_reason = "STOP_LOSS_ON_FILL_PRICE_PRECISION_EXCEEDED"
    result = make_broker(market).submit(order())
    assert result.status == "rejected"
    assert "STOP_LOSS_ON_FILL_PRICE_PRECISION_EXCEEDED" in result.message
    assert result.raw["orderRejectTransaction"]["type"] == "MARKET_ORDER_REJECT"
    assert market.open_trades() == []


@pytest.mark.parametrize("reason", ["INSUFFICIENT_MARGIN", "INSUFFICIENT_LIQUIDITY"])
def test_201_with_a_cancel_transaction_is_cancelled_with_its_reason(market, reason):
    market.faults.cancel_reason = reason
    broker = make_broker(market)
    result = broker.submit(order())
    assert result.status == "cancelled" and not result.fills
    assert reason in result.message
    # The broker's record agrees, and a lookup says the same.
    looked_up = broker.lookup(ASSET, "lts-7-1772452800-0")
    assert looked_up.status == "cancelled" and reason in looked_up.message
    assert market.open_trades() == []


def test_real_insufficient_margin_is_a_cancel_too(market):
    market.balance = 10.0
    result = make_broker(market).submit(order(quantity=1000))
    assert result.status == "cancelled"
    assert "INSUFFICIENT_MARGIN" in result.message


def test_partial_fill_then_cancel_reports_the_filled_part(market):
    market.faults.partial_fraction = 0.4
    broker = make_broker(market, time_in_force="IOC")
    result = broker.submit(order(quantity=1000))
    assert result.status == "cancelled"
    assert [f.quantity for f in result.fills] == [400]
    assert "partially filled" in result.message
    assert float(market.open_trades()[0]["currentUnits"]) == 400
    looked_up = broker.lookup(ASSET, "lts-7-1772452800-0")
    assert looked_up.status == "cancelled" and [f.quantity for f in looked_up.fills] == [400]


def test_401_is_a_configuration_error_that_never_shows_the_token(market):
    market.faults.expired_token = True
    broker = make_broker(market)
    for call in (lambda: broker.submit(order()), lambda: broker.lookup(ASSET, "x"),
                 lambda: broker.reconcile(ASSET), lambda: broker.cancel(ASSET, "x")):
        with pytest.raises(OandaConfigError) as error:
            call()
        assert "api_token" in str(error.value) and TOKEN not in str(error.value)
    assert market.placed == {}


def test_429_is_retried_only_after_the_lookup_says_the_order_does_not_exist(market, slept):
    market.faults.error_429 = 2
    market.faults.retry_after = "7"
    result = make_broker(market).submit(order())
    assert result.status == "filled"
    assert market.placed["lts-7-1772452800-0"] == 1
    assert posts(market) == 3
    # Each retry was preceded by a lookup of the client id, and waited the capped time.
    lookups = [i for i, (_, path) in enumerate(market.requests)
               if path.endswith("/orders/@lts-7-1772452800-0")]
    post_at = [i for i, (m, _) in enumerate(market.requests) if m == "POST"]
    assert all(any(post_at[k] < i < post_at[k + 1] for i in lookups) for k in range(2))
    assert slept == [2.0, 2.0]  # Retry-After 7 s, capped at backoff_cap


def test_429_until_retries_run_out_is_unknown_and_never_placed(market, slept):
    market.faults.error_429 = 10
    result = make_broker(market).submit(order())
    assert result.status == "unknown"
    assert market.placed == {}
    assert posts(market) == 3  # the first try and max_retries (2)


def test_500_before_booking_is_retried_once_confirmed_absent(market, slept):
    market.faults.error_500_before = 1
    result = make_broker(market).submit(order())
    assert result.status == "filled"
    assert market.placed["lts-7-1772452800-0"] == 1
    assert slept == [0.25]


def test_500_after_booking_finds_the_order_and_never_resends(market, slept):
    market.faults.error_500_after = 1
    result = make_broker(market).submit(order())
    assert result.status == "filled"
    assert posts(market) == 1 and market.placed["lts-7-1772452800-0"] == 1
    assert result.fills[0].price == market.quote("EUR_USD")[1]
    assert slept == []


def test_read_timeout_after_accept_is_unknown_then_resolved_by_lookup(market):
    market.faults.hang_after_accept = 1
    broker = make_broker(market)
    result = broker.submit(order())
    assert result.status == "unknown"
    found = broker.lookup(ASSET, "lts-7-1772452800-0")
    assert found.status == "filled" and found.fills[0].quantity == 1000
    # A replayed submit (a retried tick) answers from the record: still one order.
    assert broker.submit(order()).status == "filled"
    assert market.placed["lts-7-1772452800-0"] == 1


def test_latency_below_the_timeout_is_only_slower(market):
    market.faults.latency = 0.05
    assert make_broker(market).submit(order()).status == "filled"


def test_lookup_of_an_unknown_client_id_is_not_found(market):
    assert make_broker(market).lookup(ASSET, "never-sent").status == "not_found"


# ------------------------------------------------------------------ marking


def opened_position(broker: OandaBroker, coid: str = "lts-7-1772452800-0") -> PositionInfo:
    """Open 1000 EUR/USD with SL 1.09 / TP 1.12 and return LTS's view of it."""
    fill = broker.submit(order(coid)).fills[0]
    return PositionInfo(id=41, asset_id=ASSET.id, side="long", quantity=1000,
                        entry_price=fill.price, opened_at=fill.time, stop_loss=1.09,
                        take_profit=1.12)


def test_mark_reports_a_broker_side_stop_at_the_brokers_price_and_time(market):
    broker = make_broker(market)
    position = opened_position(broker)
    snapshot = make_snapshot([1.1] * 10, symbol="EUR/USD", end=NOW)
    assert broker.mark(ASSET, snapshot, [position]) == []

    stop_time = NOW + timedelta(minutes=3, seconds=17)
    market.clock = lambda: stop_time
    (stop_fill,) = market.set_price("EUR_USD", 1.0850)  # gaps through the 1.09 stop

    fills = broker.mark(ASSET, snapshot, [position])
    assert len(fills) == 1
    fill = fills[0]
    assert fill.position_id == 41 and fill.reason == "stop_loss"
    assert fill.price == float(stop_fill["tradesClosed"][0]["price"])
    assert fill.time == stop_time and fill.quantity == 1000
    assert fill.client_order_id == f"oanda-exit-{stop_fill['id']}-{position_id(market)}"
    # Reported again until booked, always with the same id.
    assert broker.mark(ASSET, snapshot, [position]) == fills


def position_id(fake: Any) -> str:
    """The id of the only trade the fake ever opened."""
    (trade_id,) = fake.trades
    return trade_id


def test_mark_finds_the_exit_after_a_restart(market):
    broker = make_broker(market)
    position = opened_position(broker)
    market.clock = lambda: NOW + timedelta(minutes=5)
    market.set_price("EUR_USD", 1.1300)  # take profit
    OandaBroker._links.clear()  # a new process knows no links
    fills = make_broker(market).mark(ASSET, make_snapshot([1.1] * 10, symbol="EUR/USD",
                                                          end=NOW), [position])
    assert [(f.reason, f.price, f.position_id) for f in fills] == [("take_profit", 1.12, 41)]


def test_mark_ignores_closes_placed_by_lts(market):
    broker = make_broker(market)
    position = opened_position(broker)
    closing = OrderRequest(client_order_id="c-9", asset=ASSET, side="sell", quantity=1000,
                           closes_position_id=41)
    broker.close(position, closing)
    assert broker.mark(ASSET, make_snapshot([1.1] * 10, symbol="EUR/USD", end=NOW),
                       [position]) == []


def test_reconcile_lists_orders_trades_and_cash(market):
    broker = make_broker(market)
    broker.submit(order())
    state = broker.reconcile(ASSET)
    assert state.orders["lts-7-1772452800-0"].status == "filled"
    (position,) = state.positions
    assert (position.side, position.quantity, position.stop_loss, position.take_profit) == (
        "long", 1000, 1.09, 1.12)
    assert state.cash == pytest.approx(100_000.0)
    view = broker.account_view(ASSET)
    assert view["last_transaction_id"] == str(market.last_id)
    assert len(view["open_trades"]) == 1 and view["margin_used"] > 0


def test_mark_pages_through_more_transactions_than_one_answer_holds(market):
    broker = make_broker(market)
    position = opened_position(broker)
    with market.lock:  # 1,200 unrelated transactions (limit orders placed and cancelled)
        for _ in range(600):
            body, _status = market.create_order({"type": "LIMIT", "instrument": "GBP_USD",
                                                 "units": "1", "price": "1.00000"})
            market._cancel(market.orders[body["orderCreateTransaction"]["id"]],
                           "CLIENT_REQUEST")
    market.set_price("EUR_USD", 1.0800)
    fills = broker.mark(ASSET, make_snapshot([1.1] * 10, symbol="EUR/USD", end=NOW),
                        [position])
    assert [f.reason for f in fills] == ["stop_loss"]
    since_calls = [p for _, p in market.requests if p.endswith("/transactions/sinceid")]
    assert len(since_calls) == 2
