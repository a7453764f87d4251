"""Order sizing (SPEC 2a): how much an allocation buys, rounded down to the lot step."""

from __future__ import annotations

import math

from lts.plugins.base import InstrumentSpec
from lts.plugins.precision import floor_quantity, on_grid, step_of

# Tolerance for float noise such as 0.30000000000000004 / 0.1 = 2.9999999999999996.
_EPSILON = 1e-9


def size_quantity(allocation: float, price: float, *, leverage: float = 1.0,
                  lot_step: float = 1.0) -> float:
    """floor(allocation x leverage / price) to a multiple of ``lot_step``; 0 means hold.

    Quantities are rounded to 10 decimals so multiples of a fractional lot step are
    stored as the numbers a human would write (0.3, not 0.30000000000000004).
    """
    if allocation <= 0 or price <= 0 or leverage <= 0 or lot_step <= 0:
        return 0.0
    lots = math.floor(allocation * leverage / price / lot_step + _EPSILON)
    return round(max(lots, 0) * lot_step, 10)


def round_to_step(quantity: float, lot_step: float) -> float:
    """Round a strategy-given quantity down to the lot step."""
    if lot_step <= 0:
        return quantity
    return round(math.floor(quantity / lot_step + _EPSILON) * lot_step, 10)


def fit_quantity(quantity: float, spec: InstrumentSpec | None) -> tuple[float, str | None]:
    """``quantity`` rounded down to the instrument's decimals; 0 and why when it cannot trade.

    Down, never to nearest: the quantity was sized (or checked) against the allocation,
    leverage and margin, and a quantity rounded up could exceed them (SPEC 2a; see
    :mod:`lts.plugins.precision`). Returns (0, reason) when it rounds to 0 or falls below
    the broker's minimum order: the order is not placed, and the decision says why.
    """
    if spec is None or not quantity > 0:
        return quantity, None
    fitted = floor_quantity(quantity, spec.quantity_decimals)
    if fitted <= 0:
        return 0.0, (f"quantity {quantity:g} rounds down to 0 at the instrument's "
                     f"{spec.quantity_decimals} quantity decimals")
    minimum = spec.min_quantity
    if minimum is not None and fitted < minimum * (1 - _EPSILON):
        return 0.0, (f"quantity {fitted:g} is below the instrument's minimum order "
                     f"of {minimum:g}")
    return fitted, None


def quantity_step_error(quantity: float, lot_step: float,
                        spec: InstrumentSpec | None) -> str | None:
    """Why a quantity a person typed cannot be sent as it is, or None.

    A manual order's quantity is refused, not rounded behind the user's back, when it is
    finer than the lot step (the broker config's ``lot_step``) or the instrument's
    quantity decimals, or below the broker's minimum order.
    """
    if lot_step > 0 and not math.isclose(quantity / lot_step, round(quantity / lot_step),
                                         rel_tol=0, abs_tol=_EPSILON * 1000):
        return (f"{quantity:g} is not a multiple of the lot step {lot_step:g} "
                f"(the broker config's lot_step)")
    if spec is None:
        return None
    decimals = spec.quantity_decimals
    if decimals is not None and not on_grid(quantity, decimals):
        return (f"{quantity:g} is finer than the instrument's quantity step "
                f"{step_of(decimals):g}")
    if spec.min_quantity is not None and quantity < spec.min_quantity * (1 - _EPSILON):
        return f"{quantity:g} is below the instrument's minimum order of {spec.min_quantity:g}"
    return None
