"""How prices read, in one place: the pages' filters and the services' sentences agree.

A price is shown with a fixed number of decimals chosen from the instrument's price
level (5 under 10, like FX quotes; 3 under 1,000; else 2), so every price of one
instrument lines up and ``104.413`` never sits beside a trimmed ``95.00``.
"""

from __future__ import annotations


def price_digits(reference: float) -> int:
    """Decimals for prices around ``reference``: 5 under 10 (FX), 3 under 1,000, else 2."""
    size = abs(float(reference))
    return 5 if size < 10 else 3 if size < 1000 else 2


def format_price(value: float, reference: float | None = None) -> str:
    """``value`` with the decimals of ``reference`` (itself when None), thousands separated."""
    digits = price_digits(reference if reference is not None else value)
    return f"{float(value):,.{digits}f}"
