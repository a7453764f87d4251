"""Prices and quantities stored on the instrument's grid, end to end (issue 18 item 4).

OANDA: the fill price LTS stores (order, position) and the API returns is the one the
broker's response says, to the last digit. Paper with ``price_decimals`` 2: every price
the engine stores has 2 decimals. Manual orders: a quantity finer than the instrument's
step is refused on the ``quantity`` field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lts.models import AuditLog, Order, Position
from lts.models.paper import PaperOrder
from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.registry import get_registry
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN
from tests.helpers import csrf_from
from tests.trading_fakes import HoldStrategy

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _decimals(value: float) -> int:
    """Decimals of ``value`` as written (repr)."""
    text = repr(float(value))
    assert "e" not in text, text
    return len(text.partition(".")[2].rstrip("0"))


# ---------------------------------------------------------------------- OANDA


@pytest.fixture
def oanda_asset(app, db, alice, fake_v20):
    get_registry(app).register("strategy", HoldStrategy, origin="test")
    fake_v20.clock = ManualClock(START)
    connection = {"api_token": TOKEN, "base_url": fake_v20.url}
    return gen_asset(
        gen_portfolio(alice), "EUR/USD", strategy_plugin="hold", allocated_capital=10_000.0,
        pipeline_plugin="oanda",
        pipeline_config={**connection, "granularity": "M1", "lookback": 30},
        broker_plugin="oanda",
        broker_config={**connection, "account_id": ACCOUNT, "read_timeout": 0.5,
                       "backoff_cap": 0.0, "lot_step": 0.01})


# 1.08293 x 1000 / 1000 is 1.0829300000000002 in floats: the old average stored that.
@pytest.mark.parametrize("ask", ["1.08234", "1.08293"])
def test_the_stored_fill_price_is_the_brokers_to_the_last_digit(
        client, db, as_alice, fake_v20, oanda_asset, ask):
    fake_v20.set_price("EUR_USD", float(ask) / (1 + fake_v20.half_spread))
    assert f"{fake_v20.quote('EUR_USD')[1]:.5f}" == ask
    placed = client.post(f"/api/v1/assets/{oanda_asset.id}/orders", headers=as_alice,
                         json={"side": "buy", "quantity": 1000, "stop_loss": 1.0700049,
                               "take_profit": 1.0950051})
    assert placed.status_code == 201, placed.get_json()
    body = placed.get_json()["order"]
    fill = body["broker_response"]["orderFillTransaction"]
    assert fill["price"] == ask  # what the broker said...

    order = db.session.get(Order, body["id"])
    position = db.session.scalars(select(Position)).one()
    assert order.fill_price == float(ask)  # ...is what is stored, exactly
    assert position.entry_price == float(ask)
    # Stop loss and take profit are stored as OANDA holds them (5 decimals, half-even).
    assert (order.stop_loss, order.take_profit) == (1.07, 1.09501)
    assert (position.stop_loss, position.take_profit) == (1.07, 1.09501)
    (trade,) = fake_v20.open_trades()
    assert trade["stopLossOrder"]["price"] == "1.07000"
    assert trade["takeProfitOrder"]["price"] == "1.09501"
    api = client.get(f"/api/v1/orders/{order.id}", headers=as_alice).get_json()
    assert api["fill_price"] == float(ask) and repr(api["fill_price"]) == ask
    positions = client.get("/api/v1/positions?status=open", headers=as_alice).get_json()
    assert positions["items"][0]["entry_price"] == float(ask)


def test_a_manual_quantity_finer_than_the_instrument_is_refused_on_its_field(
        client, db, as_alice, fake_v20, oanda_asset):
    response = client.post(f"/api/v1/assets/{oanda_asset.id}/orders", headers=as_alice,
                           json={"side": "buy", "quantity": 1000.5, "stop_loss": 1.07,
                                 "take_profit": 1.2})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"quantity": [
        "1000.5 is finer than the instrument's quantity step 1"]}
    assert db.session.scalar(select(Order.id)) is None
    assert fake_v20.placed == {}


def test_a_manual_quantity_off_the_lot_step_is_refused_not_floored(
        client, db, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "AAA", allocated_capital=10_000.0,
                      broker_config={"lot_step": 5})
    response = client.post(f"/api/v1/assets/{asset.id}/orders", headers=as_alice,
                           json={"side": "buy", "quantity": 12})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"quantity": [
        "12 is not a multiple of the lot step 5 (the broker config's lot_step)"]}


def test_the_manual_order_form_shows_the_step_refusal_beside_quantity(
        client, db, alice, login_as):
    asset = gen_asset(gen_portfolio(alice), "AAA", allocated_capital=10_000.0,
                      broker_config={"lot_step": 0.01, "quantity_decimals": 1})
    login_as(alice)
    token = csrf_from(client.get(f"/assets/{asset.id}").get_data(as_text=True))
    response = client.post(f"/assets/{asset.id}/orders", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "side": "buy", "order_type": "market",
                                 "quantity": "0.25"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="quantity-errors"' in page
    assert "0.25 is finer than the instrument&#39;s quantity step 0.1" in page
    assert db.session.scalar(select(Order.id)) is None


# ---------------------------------------------------------------------- paper


class OpenNoisy(StrategyPlugin):
    """Opens a long with float-noisy levels (kept in % of the fill); closes after 3 bars."""

    name = "open_noisy_for_test"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open flat, with exits 0.3 % away computed in floats; hold otherwise."""
        last = snapshot.last_price
        if position is None:
            return Decision(action="open", side="buy", stop_loss=last * 0.997,
                            take_profit=last * 1.003 + 1e-9, reason="noisy entry",
                            exit_anchor="pct")  # moved to the fill: rounded again
        if snapshot.as_of - position.opened_at >= timedelta(minutes=3):
            return Decision(action="close", reason="time")
        return Decision.hold("riding")


def test_paper_with_two_price_decimals_stores_two_decimals_everywhere(app, db, alice, client,
                                                                     as_alice):
    get_registry(app).register("strategy", OpenNoisy, origin="test")
    asset = gen_asset(gen_portfolio(alice, portfolio_latency=1), "IDX",
                      strategy_plugin="open_noisy_for_test", allocated_capital=10_000.0,
                      pipeline_config={"interval_minutes": 1, "start_price": 4_000.0,
                                       "volatility": 0.004},
                      broker_config={"price_decimals": 2, "quantity_decimals": 1,
                                     "lot_step": 0.1, "spread_bps": 3, "slippage_bps": 1.7})
    clock = ManualClock(START)
    engine = Engine(app, clock=clock)
    try:
        for _ in range(40):
            report = engine.tick(clock.now)
            assert report.errors == (), report.errors
            clock.advance(minutes=1)
    finally:
        engine.close()
    db.session.expire_all()
    orders = db.session.scalars(select(Order).where(Order.asset_id == asset.id)).all()
    filled = [o for o in orders if o.status == "filled"]
    assert len(filled) >= 4  # several round trips: market entries, exits, closes
    for order in orders:
        # A market order's price is the last close it was sized at (a valuation, kept).
        sent = ("price",) if order.order_type != "market" else ()
        for name in (*sent, "stop_loss", "take_profit", "fill_price"):
            value = getattr(order, name)
            if value is not None:
                assert _decimals(value) <= 2, (order.client_order_id, name, value)
        assert _decimals(order.quantity) <= 1, order.quantity
    for position in db.session.scalars(select(Position)):
        for name in ("entry_price", "exit_price", "stop_loss", "take_profit"):
            value = getattr(position, name)
            if value is not None:
                assert _decimals(value) <= 2, (position.id, name, value)
    for row in db.session.scalars(select(PaperOrder)):
        if row.fill_price is not None:
            assert _decimals(row.fill_price) <= 2, row.fill_price
    # The API answers the stored numbers.
    listed = client.get(f"/api/v1/orders?asset_id={asset.id}&per_page=100",
                        headers=as_alice).get_json()["items"]
    stored = {o.id: o.fill_price for o in orders}
    assert {o["id"]: o["fill_price"] for o in listed} == stored


class TightStop(StrategyPlugin):
    """Opens a long whose stop sits a hair under the price: whole-unit prices put it on it."""

    name = "tight_stop_for_test"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Buy with a stop 0.001 below the last close."""
        last = snapshot.last_price
        return Decision(action="open", side="buy", stop_loss=last - 0.001, reason="tight")


def test_a_strategy_stop_rounded_onto_the_price_is_refused_and_audited(app, db, alice):
    get_registry(app).register("strategy", TightStop, origin="test")
    asset = gen_asset(gen_portfolio(alice, portfolio_latency=1), "IDX",
                      strategy_plugin="tight_stop_for_test", allocated_capital=10_000.0,
                      pipeline_config={"interval_minutes": 1, "start_price": 4_000.0},
                      broker_config={"price_decimals": 0})
    engine = Engine(app, clock=ManualClock(START))
    try:
        report = engine.tick(START)
    finally:
        engine.close()
    assert report.errors == ()
    assert db.session.scalar(select(Order.id).where(Order.asset_id == asset.id)) is None
    assert db.session.scalar(select(PaperOrder.id)) is None  # nothing reached the broker
    refusal = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.risk_rejected")).one()
    assert refusal.details["check"] == "instrument_precision"
    assert "rounds to" in refusal.details["message"]
    assert "wrong side" in refusal.details["message"]
