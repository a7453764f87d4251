"""`flask lts tick --now`: one tick at a chosen time, on a throw-away copy of the data.

For debugging a plugin or a portfolio ("what would the 09:30 tick have done?") without
touching what is stored. The SQLite database file is copied (SQLite's online backup,
consistent even while a server writes), a second app is built on the copy with the
same settings and instance folder (so stored secrets decrypt), the tick runs there
through the core plugin like any other, and the copy is deleted.

PostgreSQL is refused: a tick commits many short transactions, which one outer
transaction rolled back at the end could not hold without changing how the engine
commits. Real money is refused too: only simulated brokers run on a copy, since a
broker plugin talking to a real account would place real orders at a made-up time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from lts.errors import ValidationFailed
from lts.models import Asset, Portfolio
from lts.plugins.base import TickReport
from lts.services.backup import sqlite_backup

#: Brokers that only simulate fills in LTS's own tables: safe on a copy.
SIMULATED_BROKERS = frozenset({"paper"})


@dataclass(frozen=True)
class DebugTick:
    """A debug tick's report and the database file it copied."""

    report: TickReport
    source: str


def parse_now(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is UTC. ValidationFailed names ``--now``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("invalid --now", {"--now": [
            f"{text!r} is not an ISO 8601 time, e.g. 2026-03-02T09:30:00+00:00"]}) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sqlite_path(app: Flask) -> Path:
    """The app's SQLite database file; ValidationFailed for anything that is not one."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        raise ValidationFailed("--now needs SQLite", {"--now": [
            f"runs on a copy of the SQLite database file; this database is "
            f"{url.get_backend_name()}: copy it yourself (pg_dump into a scratch "
            f"database) and run `flask lts --set database_url=<copy> tick --now ...`"]})
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ValidationFailed("--now needs a database file", {"--now": [
            f"runs on a copy of the SQLite database file; {url.database or 'memory'!s} "
            f"is not a plain file"]})
    return Path(url.database)


def run_debug_tick(app: Flask, now: datetime,
                   create_app: Callable[..., Flask]) -> DebugTick:
    """Run one tick at ``now`` on a copy of ``app``'s SQLite database; the original is kept.

    ``create_app`` (the entry point's factory, passed in: services sit below the entry
    layer) builds the twin app on the copy.
    """
    from lts.extensions import db
    from lts.trading.loop import run_tick

    source = sqlite_path(app)
    with tempfile.TemporaryDirectory(prefix="lts-debug-tick-") as folder:
        copy = Path(folder) / "copy.db"
        sqlite_backup(source, copy, "--now")
        settings = {**app.config["LTS"], "database_url": f"sqlite:///{copy}"}
        twin = create_app(config=settings, instance_path=app.instance_path)
        try:
            with twin.app_context():
                _refuse_real_brokers()
                db.session.remove()
            report = run_tick(twin, now)
        finally:
            with twin.app_context():
                db.session.remove()
                db.engine.dispose()
    return DebugTick(report=report, source=str(source))


def _refuse_real_brokers() -> None:
    """ValidationFailed naming every asset of an active portfolio on a non-simulated broker."""
    real = [f"asset {aid} ({symbol}) of portfolio {pid} uses broker {broker!r}"
            for aid, symbol, pid, broker in _broker_rows() if broker not in SIMULATED_BROKERS]
    if real:
        raise ValidationFailed("--now runs on simulated brokers only", {"--now": [
            f"a debug tick would send real orders: {'; '.join(real)} (simulated brokers: "
            f"{', '.join(sorted(SIMULATED_BROKERS))})"]})


def _broker_rows() -> list[tuple[int, str, int, str]]:
    """(asset id, symbol, portfolio id, broker) of every asset of an active portfolio."""
    from lts.extensions import db

    statement = (select(Asset.id, Asset.symbol, Asset.portfolio_id, Asset.broker_plugin)
                 .join(Portfolio, Portfolio.id == Asset.portfolio_id)
                 .where(Portfolio.is_active.is_(True)).order_by(Asset.id))
    return [tuple(row) for row in db.session.execute(statement).all()]  # type: ignore[misc]
