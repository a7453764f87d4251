"""P&L arithmetic of SPEC 2a and fills turning into positions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lts.models import Order
from lts.plugins.base import Fill
from lts.trading.positions import pnl, reanchor, record_fill_on_order

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def test_long_and_short_pnl_subtract_commissions():
    assert pnl("long", 100.0, 110.0, 3, 2.0) == pytest.approx(28.0)
    assert pnl("short", 100.0, 110.0, 3, 2.0) == pytest.approx(-32.0)
    assert pnl("short", 100.0, 90.0, 3, 0.5) == pytest.approx(29.5)


def test_partial_fills_average_the_price_and_add_commissions():
    order = Order(filled_quantity=0.0, commission=0.0)
    record_fill_on_order(order, Fill("c", 2, 10.0, NOW, 0.5))
    record_fill_on_order(order, Fill("c", 6, 12.0, NOW, 1.5))
    assert order.filled_quantity == 8
    assert order.fill_price == pytest.approx(11.5)
    assert order.commission == pytest.approx(2.0)


prices = st.floats(0.01, 1e5, allow_nan=False)


@given(st.sampled_from(["long", "short"]), prices, prices, st.floats(0.001, 1e4),
       st.floats(0, 100), st.floats(0, 100))
def test_closing_at_the_mark_moves_equity_by_the_exit_commission_only(side, entry, mark,
                                                                     quantity, paid, exit_fee):
    # Unrealized already subtracts the commissions paid, so closing at the mark changes
    # equity by exactly the exit commission: no jump in the equity series.
    unrealized = pnl(side, entry, mark, quantity, paid)
    realized = pnl(side, entry, mark, quantity, paid + exit_fee)
    assert realized == pytest.approx(unrealized - exit_fee, rel=1e-9, abs=1e-6)
    assert pnl("long", entry, mark, quantity, 0) == pytest.approx(
        -pnl("short", entry, mark, quantity, 0), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(("anchor", "expected"), [
    ("price", 99.0),             # absolute: kept
    ("pct", 99.0 * 100.02 / 100.0),  # 1 % below the fill
    ("distance", 99.02),         # 1.00 below the fill
])
def test_relative_exit_levels_move_to_the_fill(anchor, expected):
    assert reanchor(99.0, anchor, 100.0, 100.02) == pytest.approx(expected)


def test_reanchor_leaves_missing_levels_and_unusable_prices_alone():
    assert reanchor(None, "pct", 100.0, 100.02) is None
    assert reanchor(99.0, "pct", 0.0, 100.02) == 99.0
