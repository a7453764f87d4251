"""Bounds of values that several layers check: defined once, read by all of them.

A portfolio's ``total_capital`` is checked by the page form, the API schemas, the CLI
and the portfolios service (the one that must hold; the others answer earlier with a
message under the field). They used to carry four different bounds (``> 0``,
``>= 0.01``, ``<= 1e15``, none); they all read these now.
"""

from __future__ import annotations

import math

#: ``total_capital`` must be greater than this (money in the portfolio: never 0).
TOTAL_CAPITAL_MIN_EXCLUSIVE = 0.0
#: ``total_capital`` must be at most this (finite; the API's documented maximum).
TOTAL_CAPITAL_MAX = 1e15
TOTAL_CAPITAL_RULE = f"must be greater than 0 and at most {TOTAL_CAPITAL_MAX:,.0f}"


def total_capital_problem(value: object) -> str | None:
    """Why ``value`` is not a valid ``total_capital`` (None when it is)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if not math.isfinite(value) or not TOTAL_CAPITAL_MIN_EXCLUSIVE < value <= TOTAL_CAPITAL_MAX:
        return TOTAL_CAPITAL_RULE
    return None
