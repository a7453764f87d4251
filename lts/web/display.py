"""Times and numbers as the viewer wants them: their time zone, their number format.

Jinja filters, registered app-wide by the dashboard blueprint. ``localtime`` writes a
``<time>`` element: the text in the viewer's zone (with the zone's abbreviation), the
exact UTC instant in ``datetime`` and in the tooltip, so a trader can always check the
UTC time a broker or a log shows. Anonymous pages and users without a preference get
UTC and ``1,234.56``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, has_request_context
from flask_login import current_user
from markupsafe import Markup

from lts.services.preferences import NUMBER_FORMAT_LABELS, NUMBER_FORMATS, time_zones


def _preference(name: str, default: str) -> str:
    """One preference of the signed-in user, ``default`` outside a request or signed out."""
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return default
    return getattr(current_user, name, None) or default


def viewer_zone() -> tzinfo:
    """The viewer's time zone (UTC when unset or unknown to this system)."""
    name = _preference("time_zone", "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def tz_label() -> str:
    """The abbreviation of the viewer's zone now (``UTC``, ``CET``, ``JST``): column labels."""
    return datetime.now(viewer_zone()).strftime("%Z")


def local_text(value: datetime | None, seconds: bool = False) -> str:
    """``2026-12-03 17:34 CET``: the instant in the viewer's zone; "never" for None."""
    if value is None:
        return "never"
    local = value.astimezone(viewer_zone())
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def time_tag(value: datetime, text: str) -> Markup:
    """``text`` in a ``<time>`` element: the UTC instant in ``datetime`` and the tooltip."""
    utc = value.astimezone(UTC)
    return Markup('<time datetime="{iso}" title="{tip}">{text}</time>').format(
        iso=utc.isoformat(), tip=utc.strftime("%Y-%m-%d %H:%M:%S UTC"), text=text)


def localtime(value: datetime | None, seconds: bool = False) -> Markup:
    """A ``<time>`` element: local text with its zone, UTC in ``datetime`` and the tooltip."""
    if value is None:
        return Markup("never")
    return time_tag(value, local_text(value, seconds))


def number(value: Any, digits: int = 2, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals in the viewer's number format; "" for None."""
    if value is None:
        return ""
    text = f"{float(value):{'+' if signed else ''},.{digits}f}"
    group, mark = NUMBER_FORMATS.get(_preference("number_format", "en"), (",", "."))
    return text.replace(",", "\0").replace(".", mark).replace("\0", group)


def percent(value: Any, digits: int = 2, signed: bool = False) -> str:
    """A fraction (0.125) as ``12.50 %`` in the viewer's format; "" for None."""
    if value is None:
        return ""
    return f"{number(float(value) * 100.0, digits, signed)} %"


def duration(seconds: Any) -> str:
    """``3 d 4 h 05 m`` / ``4 h 05 m`` / ``5 m 07 s``; "" for None."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes:02d} m"
    if hours:
        return f"{hours} h {minutes:02d} m"
    return f"{minutes} m {secs:02d} s"


def preference_choices() -> dict[str, Any]:
    """What the preferences form offers: every time zone, every number format."""
    return {"zones": time_zones(), "formats": NUMBER_FORMAT_LABELS}


def register_display_filters(bp: Blueprint) -> None:
    """Give every template the display filters, ``tz_label`` and the form's choices."""
    for name, func in (("localtime", localtime), ("num", number), ("pct", percent),
                       ("duration", duration)):
        bp.add_app_template_filter(func, name)
    bp.add_app_template_global(preference_choices, "preference_choices")
    bp.add_app_template_global(tz_label, "tz_label")
