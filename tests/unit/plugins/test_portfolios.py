"""Portfolio allocations: exact splits, and the never-negative, never-above-total property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lts.plugins.portfolio._common import capped
from lts.plugins.portfolio.equal_weight import EqualWeight
from lts.plugins.portfolio.fixed_weights import FixedWeights
from lts.plugins.portfolio.inverse_volatility import InverseVolatility
from lts.testing.base_contract import make_snapshot, sample_asset
from lts.testing.portfolio_contract import sample_portfolio


def assets(*symbols: str):
    return [sample_asset(symbol, asset_id=i + 1) for i, symbol in enumerate(symbols)]


def test_equal_weight_splits_evenly():
    allocation = EqualWeight().allocate(sample_portfolio(9000.0), assets("A", "B", "C"), {})
    assert allocation == {1: pytest.approx(3000.0), 2: pytest.approx(3000.0),
                          3: pytest.approx(3000.0)}


def test_equal_weight_never_exceeds_the_total_by_rounding():
    allocation = EqualWeight().allocate(sample_portfolio(0.3), assets(*"ABCDEFG"), {})
    assert sum(allocation.values()) <= 0.3


def test_fixed_weights_follow_symbols_and_share_duplicates():
    plugin = FixedWeights({"weights": {"A": 0.5, "B": 0.3}})
    allocation = plugin.allocate(sample_portfolio(10_000.0), assets("A", "B", "C", "A"), {})
    assert allocation == {1: pytest.approx(2500.0), 2: pytest.approx(3000.0), 3: 0.0,
                          4: pytest.approx(2500.0)}


def test_inverse_volatility_gives_calmer_assets_more():
    group = assets("CALM", "WILD")
    snapshots = {1: make_snapshot(volatility=0.001, seed=1, bars=500),
                 2: make_snapshot(volatility=0.002, seed=1, bars=500)}
    allocation = InverseVolatility({"window": 400}).allocate(
        sample_portfolio(9000.0), group, snapshots)
    assert allocation[1] == pytest.approx(6000.0, rel=0.01)
    assert allocation[2] == pytest.approx(3000.0, rel=0.01)


def test_inverse_volatility_fills_gaps_and_falls_back_to_equal():
    group = assets("A", "B", "C")
    one = {1: make_snapshot(volatility=0.001, seed=1)}
    allocation = InverseVolatility().allocate(sample_portfolio(9000.0), group, one)
    assert allocation == {1: pytest.approx(3000.0), 2: pytest.approx(3000.0),
                          3: pytest.approx(3000.0)}
    flat = {1: make_snapshot([100.0] * 50), 2: make_snapshot(volatility=0.01, seed=2)}
    allocation = InverseVolatility().allocate(sample_portfolio(9000.0), group[:2], flat)
    assert allocation[1] > allocation[2] > 0  # a flat price is floored, not infinite
    assert sum(allocation.values()) <= 9000.0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(raw=st.dictionaries(st.integers(1, 50), st.floats(allow_nan=True, allow_infinity=True),
                           max_size=20),
       total=st.floats(allow_nan=True, allow_infinity=True))
def test_capped_is_never_negative_and_never_above_total(raw, total):
    shares = capped(raw, total)
    assert set(shares) == set(raw)
    assert all(value >= 0 and math.isfinite(value) for value in shares.values())
    limit = total if math.isfinite(total) and total > 0 else 0.0
    assert sum(shares.values()) <= limit
    assert math.fsum(shares.values()) <= limit


@settings(max_examples=100, deadline=None, derandomize=True)
@given(weights=st.dictionaries(st.sampled_from("ABCDE"), st.floats(0, 1), max_size=5)
       .filter(lambda w: sum(w.values()) <= 1),
       symbols=st.lists(st.sampled_from("ABCDEF"), max_size=10),
       total=st.floats(0, 1e9))
def test_fixed_weights_property(weights, symbols, total):
    group = assets(*symbols)
    allocation = FixedWeights({"weights": weights}).allocate(sample_portfolio(total), group, {})
    assert all(value >= 0 for value in allocation.values())
    assert sum(allocation.values()) <= total
