"""Allocation checks and how decisions become orders."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lts.plugins.base import AssetInfo, Decision, MarketSnapshot, PositionInfo
from lts.trading.engine import decide_intents, plan_orders, validate_allocation
from lts.trading.errors import PluginCallError
from lts.trading.units import AssetUnit
from tests.trading_fakes import BookBroker, MomentumStrategy, WalkPipeline

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def test_allocation_missing_assets_get_zero():
    assert validate_allocation({1: 100.0}, [1, 2]) == {1: 100.0, 2: 0.0}


@pytest.mark.parametrize("raw", [{1: -1.0}, {1: float("nan")}, {1: float("inf")},
                                 {1: "lots"}, [1, 2]])
def test_bad_allocations_are_refused(raw):
    with pytest.raises(ValueError):
        validate_allocation(raw, [1, 2])


def test_an_allocation_above_the_total_is_accepted_for_scaling():
    """The sum is the engine's to cap (to the allocatable equity), not a reason to refuse."""
    assert validate_allocation({1: 600.0, 2: 600.0}, [1, 2]) == {1: 600.0, 2: 600.0}


@given(st.dictionaries(st.integers(1, 5), st.floats(0, 2_000)))
def test_accepted_allocations_are_never_negative(raw):
    allocation = validate_allocation(raw, [1, 2, 3, 4, 5])
    assert all(v >= 0 for v in allocation.values())


def unit(allocated=1_000.0, broker_config=None):
    info = AssetInfo(id=1, portfolio_id=1, symbol="AAA", name="", allocated_capital=allocated)
    return AssetUnit(info=info, pipeline=WalkPipeline(), strategy=MomentumStrategy(),
                     broker=BookBroker(broker_config or {}))


def snapshot(price=100.0):
    frame = pd.DataFrame({"open": [price], "high": [price], "low": [price],
                          "close": [price], "volume": [1.0]},
                         index=pd.DatetimeIndex([NOW], tz=UTC))
    return MarketSnapshot(symbol="AAA", candles=frame, as_of=NOW)


def position(side="long"):
    return PositionInfo(id=9, asset_id=1, side=side, quantity=5, entry_price=90.0,
                        opened_at=NOW)


def test_open_is_sized_from_allocation_leverage_and_lot_step():
    (intent,) = decide_intents(Decision(action="open", side="buy", stop_loss=95.0),
                               unit(1_000.0, {"leverage": 2, "lot_step": 3}), snapshot(), [])
    assert (intent.side, intent.quantity, intent.stop_loss) == ("buy", 18.0, 95.0)


def test_open_too_small_for_one_lot_is_a_hold():
    assert decide_intents(Decision(action="open", side="buy"), unit(50.0), snapshot(), []) == []


def test_open_while_holding_the_same_side_is_a_hold():
    assert decide_intents(Decision(action="open", side="buy"), unit(), snapshot(),
                          [position("long")]) == []


def test_open_against_an_open_position_closes_it_first():
    close, opened = decide_intents(Decision(action="open", side="sell"), unit(), snapshot(),
                                   [position("long")])
    assert (close.side, close.quantity, close.closes_position_id) == ("sell", 5, 9)
    assert (opened.side, opened.quantity, opened.closes_position_id) == ("sell", 10.0, None)


def test_close_without_position_does_nothing_and_invalid_decision_fails_the_asset():
    assert decide_intents(Decision(action="close"), unit(), snapshot(), []) == []
    with pytest.raises(PluginCallError):
        decide_intents(Decision(action="open"), unit(), snapshot(), [])


def test_reduce_only_turns_an_open_into_a_hold_that_says_why():
    decision, intents = plan_orders(Decision(action="open", side="buy", reason="up"), unit(),
                                    snapshot(), [], "asset deactivated: reduce-only until flat")
    assert intents == []
    assert (decision.action, decision.reason) == (
        "hold", "asset deactivated: reduce-only until flat: not opening long (up)")


def test_reduce_only_still_closes():
    decision, (close,) = plan_orders(Decision(action="close", reason="turned"), unit(),
                                     snapshot(), [position("long")], "reduce-only")
    assert decision.action == "close" and close.closes_position_id == 9


def test_zero_quantity_reversal_closes_only_and_says_why():
    decision, (close,) = plan_orders(Decision(action="open", side="sell", reason="down"),
                                     unit(50.0), snapshot(), [position("long")])
    assert close.closes_position_id == 9
    assert decision.action == "close"
    assert decision.reason == ("closing only, capital too small for one lot: allocation 50.00 "
                               "< price 100 (down)")


def test_zero_quantity_reason_names_leverage_and_lot_step():
    decision, intents = plan_orders(Decision(action="open", side="buy"),
                                    unit(50.0, {"leverage": 2, "lot_step": 5}), snapshot(), [])
    assert intents == []
    assert decision.reason == ("capital too small for one lot: allocation 50.00 x leverage 2 "
                               "< price 100 x lot 5")


def test_strategy_quantity_below_one_lot_is_a_hold():
    decision, intents = plan_orders(Decision(action="open", side="buy", quantity=0.5),
                                    unit(), snapshot(), [])
    assert intents == [] and decision.reason == "quantity 0.5 is less than one lot of 1"
