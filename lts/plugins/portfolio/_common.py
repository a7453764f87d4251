"""Allocation arithmetic shared by the built-in portfolio plugins."""

from __future__ import annotations

import math
from collections.abc import Mapping


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
    summed = math.fsum(shares.values())
    if summed > total:
        scale = total / summed
        shares = {asset_id: value * scale for asset_id, value in shares.items()}
    while sum(shares.values()) > total or math.fsum(shares.values()) > total:
        shares = {asset_id: value * (1.0 - 2.0**-40) for asset_id, value in shares.items()}
    return shares
