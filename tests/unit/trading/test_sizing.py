"""Order sizing (SPEC 2a)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lts.trading.sizing import round_to_step, size_quantity
from lts.trading.units import config_leverage


@pytest.mark.parametrize(("allocation", "price", "leverage", "step", "expected"), [
    (5_000, 100.5, 1, 1, 49),
    (10_000, 1.1, 1, 1, 9090),
    (10_000, 1.1, 30, 1000, 272_000),
    (1_000, 30_000, 1, 0.001, 0.033),
    (0.3, 0.1, 1, 0.1, 3.0),  # 0.3 / 0.1 = 2.9999999999999996 must not floor to 2
    (50, 100, 1, 1, 0),       # too little for one lot: 0, a hold
    (0, 100, 1, 1, 0),
    (100, 0, 1, 1, 0),
])
def test_size_quantity_floors_to_the_lot_step(allocation, price, leverage, step, expected):
    assert size_quantity(allocation, price, leverage=leverage, lot_step=step) == expected


def test_round_to_step_floors_a_strategy_quantity():
    assert round_to_step(12.7, 5) == 10
    assert round_to_step(0.0349, 0.001) == 0.034


@given(st.floats(0, 1e7), st.floats(0.01, 1e5), st.floats(1, 50),
       st.sampled_from([0.001, 0.01, 1.0, 100.0]))
def test_sized_order_never_costs_more_than_allocation_times_leverage(allocation, price,
                                                                      leverage, step):
    quantity = size_quantity(allocation, price, leverage=leverage, lot_step=step)
    assert quantity >= 0
    assert quantity * price <= allocation * leverage * (1 + 1e-9) + 1e-6


@pytest.mark.parametrize(("config", "expected"), [
    ({}, 1.0), (None, 1.0), ({"leverage": 10}, 10.0), ({"leverage": "20"}, 20.0),
    ({"leverage": 0}, 1.0), ({"leverage": -5}, 1.0), ({"leverage": "lots"}, 1.0),
    ({"leverage": float("nan")}, 1.0), ({"leverage": None}, 1.0),
])
def test_stored_broker_leverage_reads_like_the_plugin_and_fails_safe(config, expected):
    """An unreadable leverage counts as 1: the most margin, never a free pass."""
    assert config_leverage(config) == expected
