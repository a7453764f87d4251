"""Orders on the instrument's grid (issue 18): sizing rounds down, prices half-even."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, Decision, InstrumentSpec, MarketSnapshot
from lts.trading.engine import plan_orders
from lts.trading.errors import RiskRejected
from lts.trading.orders import PRECISION_CHECK, OrderIntent, fit_intent
from lts.trading.positions import average_price, reanchor
from lts.trading.sizing import fit_quantity, quantity_step_error
from lts.trading.units import AssetUnit, instrument_of
from tests.trading_fakes import BookBroker, MomentumStrategy, WalkPipeline

NOW = datetime(2026, 1, 5, tzinfo=UTC)
FX = InstrumentSpec(price_decimals=5, quantity_decimals=0, min_quantity=1.0)
CRYPTO = InstrumentSpec(price_decimals=2, quantity_decimals=3, min_quantity=0.001)


class SpecBroker(BookBroker):
    """The test broker, stating an instrument's precision."""

    spec: InstrumentSpec | None = None
    fail: bool = False

    def instrument(self, asset):
        if self.fail:
            raise ConnectionError("instruments unreachable")
        return self.spec


def unit(spec, allocated=1_000.0, config=None, fail=False):
    broker = SpecBroker(config or {})
    broker.spec, broker.fail = spec, fail
    info = AssetInfo(id=1, portfolio_id=1, symbol="AAA", name="", allocated_capital=allocated)
    return AssetUnit(info=info, pipeline=WalkPipeline(), strategy=MomentumStrategy(),
                     broker=broker)


def snapshot(price):
    frame = pd.DataFrame({"open": [price], "high": [price], "low": [price],
                          "close": [price], "volume": [1.0]},
                         index=pd.DatetimeIndex([NOW], tz=UTC))
    return MarketSnapshot(symbol="AAA", candles=frame, as_of=NOW)


# ------------------------------------------------------------------ sizing


def test_sized_quantity_rounds_down_to_the_quantity_decimals():
    # 1000 / 3.3 = 303.03...: lot_step 0.0001 alone would keep 303.0303; 3 decimals keep
    # 303.030, never 303.031 (which would cost more than the allocation).
    _, (intent,) = plan_orders(Decision(action="open", side="buy"),
                               unit(CRYPTO, config={"lot_step": 0.0001}),
                               snapshot(3.3), [])
    assert intent.quantity == 303.03
    assert intent.quantity * 3.3 <= 1_000.0


def test_a_limit_order_is_sized_at_its_rounded_price():
    # 1000 / 3.333336 buys 300, but the limit is sent (and checked) at 3.33334:
    # 300 x 3.33334 = 1000.002 would exceed the allocation; 299 does not.
    _, (intent,) = plan_orders(Decision(action="open", side="buy", order_type="limit",
                                        price=3.333336), unit(FX), snapshot(3.4), [])
    assert (intent.price, intent.quantity) == (3.33334, 299.0)
    assert intent.notional <= 1_000.0


def test_quantity_below_the_broker_minimum_is_a_hold_that_says_why():
    decision, intents = plan_orders(Decision(action="open", side="buy", quantity=0.5),
                                    unit(InstrumentSpec(quantity_decimals=1, min_quantity=1.0),
                                         config={"lot_step": 0.1}), snapshot(100.0), [])
    assert intents == []
    assert decision.action == "hold"
    assert decision.reason == "quantity 0.5 is below the instrument's minimum order of 1"


def test_quantity_rounding_to_zero_is_a_hold_that_says_why():
    decision, intents = plan_orders(Decision(action="open", side="sell", quantity=0.0004,
                                             reason="down"),
                                    unit(InstrumentSpec(quantity_decimals=3),
                                         config={"lot_step": 0.0001}), snapshot(100.0), [])
    assert intents == []
    assert decision.reason == ("quantity 0.0004 rounds down to 0 at the instrument's 3 "
                               "quantity decimals (down)")


def test_no_spec_sizes_as_before():
    (intent,) = plan_orders(Decision(action="open", side="buy"), unit(None, config={
        "lot_step": 0.1}), snapshot(3.0), [])[1]
    assert intent.quantity == 333.3


def test_a_broker_that_cannot_say_leaves_orders_unrounded(caplog):
    held = unit(FX, fail=True)
    assert held.instrument is None
    assert "could not say the instrument's precision" in caplog.text
    assert instrument_of(held.broker, held.info) is None


def test_a_broker_answering_garbage_is_ignored():
    broker = SpecBroker({})
    broker.spec = {"price_decimals": 2}  # not an InstrumentSpec
    assert instrument_of(broker, unit(None).info) is None


@pytest.mark.parametrize(("quantity", "spec", "expected"), [
    (10.7, FX, (10.0, None)),
    (0.9, FX, (0.0, "quantity 0.9 rounds down to 0 at the instrument's 0 quantity decimals")),
    (0.0019, CRYPTO, (0.001, None)),
    (0.0009, CRYPTO, (0.0, "quantity 0.0009 rounds down to 0 at the instrument's 3 "
                           "quantity decimals")),
    (5.0, None, (5.0, None)),
    (0.0, FX, (0.0, None)),  # already nothing: the sizing's own reason stands
])
def test_fit_quantity(quantity, spec, expected):
    assert fit_quantity(quantity, spec) == expected


@pytest.mark.parametrize(("quantity", "lot_step", "spec", "message"), [
    (10, 1, FX, None),
    (10.5, 1, None, "10.5 is not a multiple of the lot step 1 (the broker config's lot_step)"),
    (0.0015, 0.0001, CRYPTO, "0.0015 is finer than the instrument's quantity step 0.001"),
    (0.3, 0.1, InstrumentSpec(quantity_decimals=1, min_quantity=0.5),
     "0.3 is below the instrument's minimum order of 0.5"),
    (0.3, 0.1, InstrumentSpec(quantity_decimals=1), None),
])
def test_quantity_step_error(quantity, lot_step, spec, message):
    assert quantity_step_error(quantity, lot_step, spec) == message


# ------------------------------------------------------------------ prices


def intent(**changes):
    values = {"asset_id": 1, "side": "buy", "quantity": 1000.0, "reference_price": 1.0823412,
              "stop_loss": 1.0800049, "take_profit": 1.0900051}
    values.update(changes)
    return OrderIntent(**values)


def test_prices_are_stored_half_even_to_the_price_decimals():
    fitted = fit_intent(intent(order_type="limit", price=1.0823450001), FX)
    assert (fitted.price, fitted.stop_loss, fitted.take_profit) == (1.08235, 1.08, 1.09001)
    # The reference (the last close it was sized and risk-checked at) is a valuation.
    assert fitted.reference_price == 1.0823412
    assert fitted.quantity == 1000.0


def test_an_intent_already_on_the_grid_is_the_same_object():
    on_grid = intent(reference_price=1.08234, stop_loss=1.08, take_profit=1.09)
    assert fit_intent(on_grid, FX) is on_grid
    assert fit_intent(intent(), None) == intent()


def test_opening_quantity_is_floored_and_closing_quantity_kept():
    assert fit_intent(intent(quantity=1000.9), FX).quantity == 1000.0
    closing = intent(quantity=0.4, closes_position_id=3, stop_loss=None, take_profit=None)
    assert fit_intent(closing, FX).quantity == 0.4  # it closes what the position holds


def test_an_opening_quantity_rounding_to_zero_is_refused():
    with pytest.raises(RiskRejected) as refused:
        fit_intent(intent(quantity=0.4), FX)
    assert refused.value.check == PRECISION_CHECK
    assert "rounds down to 0" in refused.value.message


@pytest.mark.parametrize(("side", "changes", "words"), [
    ("buy", {"stop_loss": 1.082339}, "stop loss 1.082339 rounds to 1.08234"),
    ("buy", {"take_profit": 1.0823449}, "take profit 1.0823449 rounds to 1.08234"),
    ("sell", {"reference_price": 1.0823388, "stop_loss": 1.0823401, "take_profit": 1.07},
     "stop loss 1.0823401 rounds to 1.08234"),
    ("sell", {"stop_loss": 1.09, "take_profit": 1.082339}, "take profit 1.082339 rounds"),
])
def test_an_exit_rounded_onto_the_wrong_side_is_refused(side, changes, words):
    with pytest.raises(RiskRejected) as refused:
        fit_intent(intent(**{"side": side, **changes}), FX)
    assert refused.value.check == PRECISION_CHECK
    assert words in refused.value.message and "wrong side" in refused.value.message
    assert f"{side} price 1.08234" in refused.value.message


def test_an_exit_the_strategy_put_on_the_wrong_side_is_left_to_todays_rules():
    fitted = fit_intent(intent(stop_loss=1.2), FX)  # not rounding's doing
    assert fitted.stop_loss == 1.2


def test_a_short_keeps_its_exits_on_its_sides():
    fitted = fit_intent(intent(side="sell", stop_loss=1.0900051, take_profit=1.0800049), FX)
    assert (fitted.stop_loss, fitted.take_profit) == (1.09001, 1.08)


# ------------------------------------------------------------------ fills


def test_one_fill_keeps_the_brokers_price_exactly():
    # The sum form (0 + p q) / q gave 1.8073700000000001 for this pair.
    assert average_price(None, 0.0, 1.80737, 29.15) == 1.80737
    assert average_price(1.80737, 29.15, 1.80737, 10.0) == 1.80737


def test_fills_at_two_prices_average_by_quantity():
    assert average_price(1.0, 1.0, 2.0, 3.0) == pytest.approx(1.75)


@pytest.mark.parametrize(("anchor", "expected"), [
    ("pct", 1.07011),        # 1.07 x 1.08245 / 1.0823412 = 1.0701075...
    ("distance", 1.07011),   # 1.07 + (1.08245 - 1.0823412) = 1.0701088
    ("price", 1.07),         # an absolute level stays (rounded when it was stored)
])
def test_exits_moved_to_the_fill_are_rounded_to_the_price_decimals(anchor, expected):
    assert reanchor(1.07, anchor, 1.0823412, 1.08245, 5) == expected
    moved = reanchor(1.07, anchor, 1.0823412, 1.08245)  # no decimals: as computed
    assert moved == pytest.approx(expected, abs=1e-5)
