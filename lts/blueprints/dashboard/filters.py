"""Template filters for numbers and times on dashboard pages (display only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from lts.services.number_format import format_price
from lts.web.display import time_tag, viewer_zone


def _with_currency(text: str, currency: str | None) -> str:
    """``text`` followed by its currency code when one is known."""
    return f"{text} {currency}" if currency else text


def money(value: Any, currency: str | None = None, digits: int = 2) -> str:
    """``12,345.67 USD`` (the portfolio's currency when given); empty for None."""
    if value is None:
        return ""
    return _with_currency(f"{float(value):,.{digits}f}", currency)


def signed(value: Any, currency: str | None = None, digits: int = 2) -> str:
    """``+12.30 USD`` / ``-4.00 USD``: P&L with its sign (and currency when given)."""
    if value is None:
        return ""
    return _with_currency(f"{float(value):+,.{digits}f}", currency)


def percent_of(value: Any, base: Any) -> str:
    """``+1.25 %``: ``value`` as a signed share of ``base``; empty without a base."""
    if value is None or not base:
        return ""
    return f"{100.0 * float(value) / float(base):+.2f} %"


def quantity(value: Any) -> str:
    """A quantity without useless trailing zeros."""
    if value is None:
        return ""
    return f"{float(value):,.6f}".rstrip("0").rstrip(".")


def price(value: Any, reference: Any = None) -> str:
    """A price with the instrument's fixed decimals (from ``reference``, else itself)."""
    if value is None:
        return ""
    return format_price(float(value), None if reference is None else float(reference))


def pnl_class(value: Any) -> str:
    """Bootstrap text colour of a P&L figure."""
    if not value:
        return "text-secondary"
    return "text-success" if float(value) > 0 else "text-danger"


def when(value: datetime | None, seconds: bool = False) -> str:
    """``2026-11-26 12:34`` in the viewer's time zone, UTC in its tooltip; "never" for None.

    The zone is named once, in the column or sentence label (``tz_label``), not per cell.
    """
    if value is None:
        return "never"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return time_tag(value, value.astimezone(viewer_zone()).strftime(fmt))


STATUS_COLORS = {
    "filled": "success", "open": "primary", "closed": "secondary", "pending": "warning",
    "submitted": "info", "partially_filled": "info", "unknown": "warning",
    "cancelled": "secondary", "rejected": "danger", "error": "danger", "active": "success",
    "reducing": "warning", "halted": "danger", "inactive": "secondary", "long": "success",
    "short": "danger", "buy": "success", "sell": "danger", "ok": "success",
    "denied": "danger",
}


def status_color(value: Any) -> str:
    """Bootstrap colour of a status badge."""
    return STATUS_COLORS.get(str(value), "secondary")


def register_filters(bp: Blueprint) -> None:
    """Make the filters available to every template of the app."""
    for name, func in (("money", money), ("signed", signed), ("qty", quantity),
                       ("percent_of", percent_of),
                       ("price", price), ("pnl_class", pnl_class), ("when", when),
                       ("status_color", status_color)):
        bp.add_app_template_filter(func, name)
