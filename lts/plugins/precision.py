"""Prices and quantities on the instrument's grid: the one rounding rule of LTS.

A broker states how finely it prices and sizes an instrument
(:meth:`lts.plugins.base.BrokerPlugin.instrument`, an
:class:`~lts.plugins.base.InstrumentSpec`), and every number LTS stores for an order or
a position follows it, so the database holds what the broker holds (``1.08234``, not
``1.0823400000000001``):

- **prices** (limit and stop prices, stop losses, take profits, a simulated fill) are
  rounded **half-even** to ``price_decimals``: the unbiased rule, so rounding errors do
  not pile up on one side over many fills. Rounding reads the number as its shortest
  decimal text (``repr``), as a person would: ``1.08235`` (stored in binary as
  1.0823499999...) to 4 decimals is ``1.0824``, the tie rounded to the even digit;
- **quantities** are rounded **down** (towards zero) to ``quantity_decimals``: a sized
  quantity was the most the margin and notional checks allow, so rounding it up could
  exceed them (an order the broker refuses for margin, or more exposure than the
  allocation). Rounding down never does. A quantity a hair below a grid point from
  float noise (``2.9999999999999996``) counts as that point;
- ``None`` decimals leave the number as it is (a broker that does not say).

This module is pure (no LTS state): plugins may use it for their own fills, and
:mod:`lts.trading` uses it where orders are sized and stored.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

# Float noise allowed below a grid point, in grid steps (as lts.trading.sizing does).
_EPSILON = 1e-9
_MAX_DECIMALS = 15


def _places(decimals: int) -> Decimal:
    """The quantum ``10 ** -decimals`` (decimals within 0..15)."""
    return Decimal(1).scaleb(-max(0, min(int(decimals), _MAX_DECIMALS)))


def round_price(value: float, decimals: int | None) -> float:
    """``value`` rounded half-even to ``decimals`` (None, NaN or infinite: unchanged).

    Works the same for any sign (a price distance or a short's level): half-even is
    symmetric about zero.
    """
    if decimals is None or not math.isfinite(value):
        return value
    try:
        rounded = Decimal(repr(float(value))).quantize(_places(decimals),
                                                       rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # beyond Decimal's precision: too large to have decimals
        return value
    return float(rounded)


def floor_quantity(value: float, decimals: int | None) -> float:
    """``value`` rounded towards zero to ``decimals``, float noise forgiven (see module).

    Towards zero for either sign, so a quantity's size never grows: ``-0.37`` (a short,
    where a caller signs quantities) to 1 decimal is ``-0.3``.
    """
    if decimals is None or not math.isfinite(value):
        return value
    step = _places(decimals)
    try:
        exact = Decimal(repr(float(value)))
        # A value within _EPSILON steps below the next grid point is that point.
        nudged = exact + step * Decimal(_EPSILON) * (1 if exact >= 0 else -1)
        rounded = nudged.quantize(step, rounding=ROUND_DOWN)
    except InvalidOperation:
        return value
    return float(rounded) + 0.0  # no -0.0


def on_grid(value: float, decimals: int | None) -> bool:
    """Whether ``value`` (read as its shortest decimal text) has at most ``decimals``."""
    return round_price(value, decimals) == value or not math.isfinite(value)


def step_of(decimals: int | None) -> float | None:
    """The grid step of ``decimals`` as a float (``0.01`` for 2), or None."""
    return None if decimals is None else float(_places(decimals))


def exit_crossed(side: str, reference: float, level: float | None, rounded: float | None,
                 kind: str, rounded_reference: float | None = None) -> bool:
    """Whether rounding moved an exit ``level`` onto or past the price.

    ``kind`` is ``stop_loss`` or ``take_profit``; ``side`` the opening order's side
    (``buy``: the stop below the price, the target above; ``sell``: the reverse).
    ``level`` was on its side of ``reference``; ``rounded`` (the stored level) must stay
    strictly on its side of ``rounded_reference`` (the price as stored; default
    ``reference``). Only a level rounding moved across counts: one the strategy put on
    the wrong side itself is left to the rules that apply to it today.
    """
    if level is None or rounded is None or not math.isfinite(level) \
            or not math.isfinite(reference):
        return False
    after = reference if rounded_reference is None else rounded_reference
    below = (kind == "stop_loss") == (side == "buy")  # where the level belongs
    if below:
        return level < reference and rounded >= after
    return level > reference and rounded <= after
