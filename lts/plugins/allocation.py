"""Allocation arithmetic for portfolio plugins: :func:`capped` (public, for any plugin).

A plugin computing shares in floats can allocate a cent that does not exist: three
assets of ``capital / 3`` may sum to more than ``capital``. Pass the raw shares through
:func:`capped` and the answer is safe by construction::

    from lts.plugins.allocation import capped

    return capped({asset.id: weight * portfolio.capital for ...}, portfolio.capital)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_MAX_NUDGES = 10_000


def capped(raw: Mapping[int, float], total: float) -> dict[int, float]:
    """Return ``raw`` made safe: no negative or non-finite share, summing to at most ``total``.

    Shares are scaled down when they add up to more than ``total``, then nudged down
    until the float sum (in any order) fits too: a rounding error must never allocate
    a cent that does not exist.
    """
    total = total if math.isfinite(total) and total > 0 else 0.0
    shares = {asset_id: (value if math.isfinite(value) and value > 0 else 0.0)
              for asset_id, value in raw.items()}
    if total == 0.0:
        return dict.fromkeys(shares, 0.0)
    largest = max(shares.values(), default=0.0)
    if largest == 0.0:
        return shares
    # Work with ratios to the largest share, so huge values cannot overflow the sum.
    ratio_sum = math.fsum(value / largest for value in shares.values())
    room = total / largest
    if ratio_sum > room:
        scale = room / ratio_sum
        shares = {asset_id: (value / largest) * scale * largest
                  for asset_id, value in shares.items()}
    for _ in range(_MAX_NUDGES):
        if sum(shares.values()) <= total and math.fsum(shares.values()) <= total:
            return shares
        shares = {asset_id: math.nextafter(value * (1.0 - 2.0**-40), 0.0)
                  for asset_id, value in shares.items()}
    return dict.fromkeys(shares, 0.0)  # unreachable in practice; never over-allocate
