"""The one rounding rule (issue 18): prices half-even, quantities down, any sign."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lts.plugins.precision import (
    exit_crossed,
    floor_quantity,
    on_grid,
    round_price,
    step_of,
)


@pytest.mark.parametrize(("value", "decimals", "expected"), [
    (1.0823400000000001, 5, 1.08234),   # float noise goes
    (1.08235, 4, 1.0824),               # a tie: 3 is odd, up to the even 4
    (1.08245, 4, 1.0824),               # a tie: to the even digit (4 stays)
    (2.5, 0, 2.0), (3.5, 0, 4.0),       # half-even, not half-up
    (-1.08235, 4, -1.0824),             # symmetric about zero
    (-2.5, 0, -2.0),
    (0.125, 2, 0.12), (0.135, 2, 0.14),
    (104.4135, 3, 104.414),             # read as written, not as its binary value
    (1.08234, None, 1.08234),           # None: unchanged
])
def test_prices_round_half_even_as_written(value, decimals, expected):
    assert round_price(value, decimals) == expected


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_non_finite_prices_are_left_alone(value):
    assert round_price(value, 2) == value
    assert math.isnan(round_price(math.nan, 2))


@pytest.mark.parametrize(("value", "decimals", "expected"), [
    (0.30000000000000004, 1, 0.3),
    (0.37, 1, 0.3),                     # down, never to nearest
    (0.39999, 2, 0.39),
    (1234.99, 0, 1234.0),
    (2.9999999999999996, 0, 3.0),       # float noise below a grid point counts as it
    (-0.37, 1, -0.3),                   # towards zero: a short's size never grows
    (-1234.99, 0, -1234.0),
    (0.004, 2, 0.0),
    (7.0, None, 7.0),
])
def test_quantities_round_towards_zero(value, decimals, expected):
    result = floor_quantity(value, decimals)
    assert result == expected
    assert math.copysign(1, result) == math.copysign(1, expected) or result == 0


def test_a_quantity_that_rounds_to_nothing_is_plus_zero():
    assert str(floor_quantity(-0.004, 2)) == "0.0"


@given(st.floats(0, 1e9, allow_nan=False), st.integers(0, 8))
def test_rounded_down_quantities_never_grow_and_sit_on_the_grid(value, decimals):
    result = floor_quantity(value, decimals)
    assert result <= value + 10 ** -decimals * 1e-9 * 2 + abs(value) * 1e-15
    assert on_grid(result, decimals)
    assert value - result < 10 ** -decimals * (1 + 1e-9) + abs(value) * 1e-15


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(0, 8))
def test_rounded_prices_are_within_half_a_step(value, decimals):
    result = round_price(value, decimals)
    assert abs(result - value) <= 10 ** -decimals / 2 * (1 + 1e-9) + abs(value) * 1e-15
    assert on_grid(result, decimals)


def test_grid_and_step():
    assert on_grid(0.3, 1) and not on_grid(0.35, 1) and not on_grid(0.30000000000000004, 1)
    assert on_grid(0.35, None)
    assert step_of(2) == 0.01 and step_of(0) == 1.0 and step_of(None) is None


@pytest.mark.parametrize(("side", "kind", "level", "rounded", "crossed"), [
    ("buy", "stop_loss", 1.234566, 1.23457, True),     # a buy's stop rounded onto the price
    ("buy", "stop_loss", 1.23450, 1.2345, False),
    ("buy", "take_profit", 1.234568, 1.23457, False),  # still above
    ("buy", "take_profit", 1.234568, 1.23456, True),   # rounded below the price
    ("sell", "stop_loss", 1.234568, 1.23456, True),    # a short's stop rounded below
    ("sell", "take_profit", 1.234566, 1.23457, True),
    ("sell", "take_profit", 1.2344, 1.2344, False),
    ("buy", "stop_loss", 1.3, 1.3, False),  # wrong side already: not rounding's doing
    ("buy", "stop_loss", None, None, False),
])
def test_exit_crossed_by_rounding(side, kind, level, rounded, crossed):
    assert exit_crossed(side, 1.234567, level, rounded, kind) is crossed


def test_exit_crossed_against_the_stored_price():
    # 1.2345649 is below 1.2345651, but both store as 1.23457: a buy stop at its price.
    assert exit_crossed("buy", 1.2345651, 1.2345649, 1.23456, "stop_loss", 1.23457) is False
    assert exit_crossed("buy", 1.2345651, 1.2345649, 1.23457, "stop_loss", 1.23457) is True
