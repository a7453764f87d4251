"""A user's display preferences: the time zone times are shown in, and number format.

Stored on the user (migration 0014). Times stay UTC everywhere else (database, API,
CSV exports); only pages convert, through the filters of :mod:`lts.web.display`.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import cache

from lts.errors import ValidationFailed
from lts.extensions import db
from lts.models import User
from lts.services.access import record

# How a number is written: (thousands separator, decimal mark), by a short name.
NUMBER_FORMATS: dict[str, tuple[str, str]] = {
    "en": (",", "."),   # 1,234.56
    "de": (".", ","),   # 1.234,56
    "fr": ("\u202f", ","),  # 1 234,56 (narrow no-break space)
    "ch": ("'", "."),   # 1'234.56
}
NUMBER_FORMAT_LABELS = {"en": "1,234.56", "de": "1.234,56", "fr": "1 234,56", "ch": "1'234.56"}


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name this system knows, sorted (the form's choices)."""
    return tuple(sorted(zoneinfo.available_timezones()))


@dataclass(frozen=True)
class Preferences:
    """The checked preferences of one user."""

    time_zone: str
    number_format: str


def check(time_zone: str | None, number_format: str | None) -> Preferences:
    """Both values checked at once; ValidationFailed names every bad field."""
    errors: dict[str, list[str]] = {}
    zone = (time_zone or "").strip()
    if zone not in time_zones():
        errors["time_zone"] = ["must be an IANA time zone such as Europe/Paris or UTC"]
    style = (number_format or "").strip()
    if style not in NUMBER_FORMATS:
        errors["number_format"] = [f"must be one of {', '.join(NUMBER_FORMATS)}"]
    if errors:
        raise ValidationFailed("invalid preferences", errors)
    return Preferences(time_zone=zone, number_format=style)


def update_preferences(actor: User, time_zone: str | None, number_format: str | None, *,
                       ip: str | None = None) -> Preferences:
    """Store the actor's own preferences (audited) once both are valid."""
    prefs = check(time_zone, number_format)
    before = {"time_zone": actor.time_zone, "number_format": actor.number_format}
    actor.time_zone, actor.number_format = prefs.time_zone, prefs.number_format
    record(actor, "user.preferences", f"user:{actor.id}",
           {"before": before, "after": {"time_zone": prefs.time_zone,
                                        "number_format": prefs.number_format}},
           ip=ip, commit=False)
    db.session.commit()
    return prefs
