"""Template filters for numbers and times on dashboard pages (display only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from lts.web.display import time_tag, viewer_zone


def money(value: Any, digits: int = 2) -> str:
    """``12,345.67``; empty for None."""
    if value is None:
        return ""
    return f"{float(value):,.{digits}f}"


def signed(value: Any, digits: int = 2) -> str:
    """``+12.30`` / ``-4.00``: P&L with its sign."""
    if value is None:
        return ""
    return f"{float(value):+,.{digits}f}"


def quantity(value: Any) -> str:
    """A quantity without useless trailing zeros."""
    if value is None:
        return ""
    return f"{float(value):,.6f}".rstrip("0").rstrip(".")


def price(value: Any) -> str:
    """A price with up to 5 decimals (FX pips), trailing zeros trimmed to 2."""
    if value is None:
        return ""
    text = f"{float(value):.5f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{int(whole):,}.{decimals.ljust(2, '0')}" if whole.lstrip("-").isdigit() else text


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
                       ("price", price), ("pnl_class", pnl_class), ("when", when),
                       ("status_color", status_color)):
        bp.add_app_template_filter(func, name)
