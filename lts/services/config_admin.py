"""Configuration seen and changed by admins: every setting, runtime ones editable.

Values come from :mod:`lts.config` (merged sources) overridden by the Config table for
runtime keys; secrets are masked. Only runtime keys can be changed here, validated by
:func:`lts.config.validate_value`; the rest need a restart with new settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from lts.config import MASK, SETTINGS, ConfigError, mask_url_password
from lts.errors import NotFound, ValidationFailed
from lts.extensions import db
from lts.models import ConfigEntry, User
from lts.runtime_config import effective_settings, set_runtime_setting
from lts.services.access import record, require_admin


@dataclass(frozen=True)
class ConfigItem:
    """One setting as admins see it."""

    key: str
    value: Any
    default: Any
    description: str
    runtime: bool
    secret: bool
    source: str  # "table" (runtime override) or "config" (merged sources)
    updated_at: datetime | None
    nullable: bool = False  # may be empty (null): "no limit"


def _shown(key: str, value: Any) -> Any:
    """Mask a secret (or a database password) for display."""
    if SETTINGS[key].secret and value:
        return MASK
    if key == "database_url" and isinstance(value, str):
        return mask_url_password(value)
    return value


def _items(keys: tuple[str, ...]) -> list[ConfigItem]:
    """Build the items of ``keys`` in two queries."""
    values = effective_settings(keys)
    rows = {row.key: row for row in db.session.scalars(
        select(ConfigEntry).where(ConfigEntry.key.in_(keys)))}
    result = []
    for key in keys:
        setting = SETTINGS[key]
        row = rows.get(key) if setting.runtime else None
        value = values.get(key, current_app.config["LTS"].get(key, setting.default))
        result.append(ConfigItem(
            key=key, value=_shown(key, value), default=_shown(key, setting.default),
            description=setting.description, runtime=setting.runtime, secret=setting.secret,
            source="table" if row is not None else "config",
            updated_at=row.updated_at if row is not None else None,
            nullable=setting.nullable))
    return result


def list_config(actor: User, *, ip: str | None = None) -> list[ConfigItem]:
    """Every declared setting, by key (admins)."""
    require_admin(actor, "config.read", ip=ip)
    return _items(tuple(sorted(SETTINGS)))


def get_config(actor: User, key: str, *, ip: str | None = None) -> ConfigItem:
    """One setting (admins); NotFound for an unknown key."""
    require_admin(actor, "config.read", ip=ip)
    if key not in SETTINGS:
        raise NotFound(f"unknown setting {key!r}")
    return _items((key,))[0]


def _editor_value(setting: Any, value: Any) -> Any:
    """The value as the rules should see it: "" is null for a nullable key; no inf/NaN.

    The editor says "empty: no limit", so an empty field must mean null rather than make
    the admin type ``null``. JSON parsing turns ``1e400`` into infinity and accepts
    ``NaN``: neither is a setting anyone means (a limit of inf would be shown as "inf"
    and compare true against everything), so they are refused naming the value.
    """
    if setting.nullable and isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed(f"invalid value for {setting.key}", {
            "value": [f"must be a finite number, got {value!r} (too large or not a number)"]})
    return value


def set_config(actor: User, key: str, value: Any, *, ip: str | None = None) -> ConfigItem:
    """Store a runtime setting (admins), validated; read by the loop at its next tick."""
    require_admin(actor, "config.update", ip=ip)
    setting = SETTINGS.get(key)
    if setting is None:
        raise NotFound(f"unknown setting {key!r}")
    if not setting.runtime:
        raise ValidationFailed(f"{key} is not a runtime setting; change it in the "
                               "configuration and restart", {"key": ["not a runtime setting"]})
    value = _editor_value(setting, value)
    try:
        stored = set_runtime_setting(key, value)
    except ConfigError as exc:
        raise ValidationFailed(f"invalid value for {key}", {"value": [str(exc)]}) from exc
    record(actor, "config.update", f"config:{key}",
           {"value": MASK if setting.secret else stored}, ip=ip)
    return _items((key,))[0]
