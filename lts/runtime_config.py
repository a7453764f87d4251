"""Runtime settings: the Config table first, then the merged configuration.

Settings declared ``runtime=True`` in :mod:`lts.config` may be changed by admins
while LTS runs; the loop reads them here at every tick. A row holding a value that
no longer validates is ignored (and logged) rather than stopping the loop.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from lts.config import SETTINGS, ConfigError, validate_value
from lts.database import write_transaction
from lts.extensions import db
from lts.models import ConfigEntry

log = logging.getLogger(__name__)


def effective_setting(key: str, session: Session | None = None) -> Any:
    """Return ``key`` from the Config table when it is a runtime setting with a row there.

    Otherwise (no row, not a runtime key, or an invalid stored value) return the merged
    configuration's value from ``current_app.config["LTS"]``.
    """
    setting = SETTINGS.get(key)
    if setting is None:
        raise KeyError(f"unknown setting {key!r}")
    fallback = current_app.config["LTS"].get(key, setting.default)
    if not setting.runtime:
        return fallback
    session = session or db.session()
    row = session.execute(select(ConfigEntry.value).where(ConfigEntry.key == key)).first()
    if row is None:
        return fallback
    try:
        return validate_value(key, row[0], source="config table")
    except ConfigError as exc:
        log.warning("ignoring stored runtime setting: %s", exc)
        return fallback


def effective_settings(keys: tuple[str, ...], session: Session | None = None) -> dict[str, Any]:
    """Return several runtime settings at once (one query)."""
    session = session or db.session()
    rows = dict(session.execute(
        select(ConfigEntry.key, ConfigEntry.value).where(ConfigEntry.key.in_(keys))
    ).all())
    result = {}
    merged = current_app.config["LTS"]
    for key in keys:
        setting = SETTINGS[key]
        value = merged.get(key, setting.default)
        if setting.runtime and key in rows:
            try:
                value = validate_value(key, rows[key], source="config table")
            except ConfigError as exc:
                log.warning("ignoring stored runtime setting: %s", exc)
        result[key] = value
    return result


def set_runtime_setting(key: str, value: Any, session: Session | None = None) -> Any:
    """Validate and store a runtime setting in the Config table; return the stored value."""
    session = session or db.session()
    # Read-then-write under the write lock: a deferred transaction upgraded to a write
    # after another process committed fails at once on SQLite ("database is locked").
    with write_transaction(session):
        return stage_runtime_setting(session, key, value)


def stage_runtime_setting(session: Session, key: str, value: Any) -> Any:
    """Validate and write a runtime setting in the caller's (write) transaction.

    For changes that must commit together, e.g. two settings and their audit row; the
    caller opens the transaction with :func:`lts.database.write_transaction`.
    """
    setting = SETTINGS.get(key)
    if setting is None or not setting.runtime:
        raise ConfigError(f"config table: key '{key}' is not a runtime setting")
    value = validate_value(key, value, source="config table")
    row = session.scalar(select(ConfigEntry).where(ConfigEntry.key == key))
    if row is None:
        session.add(ConfigEntry(key=key, value=value))
    else:
        row.value = value
    return value
