"""What the database looks like: migration revisions and the live table list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect, text

from lts.extensions import db


@dataclass(frozen=True)
class MigrationStatus:
    """The revision the database is at and the newest one the code ships."""

    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        """Whether the database is at the newest revision."""
        return self.current is not None and self.current == self.head


def migration_status() -> MigrationStatus:
    """Compare the database's Alembic revision with the migrations folder's head."""
    directory = current_app.extensions["migrate"].directory
    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(directory)))
    head = ScriptDirectory.from_config(config).get_current_head()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return MigrationStatus(current=current, head=head)


def database_reachable() -> bool:
    """Run ``SELECT 1``; False when the database cannot be reached."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not reachable" to a health check
        current_app.logger.exception("database health check failed")
        return False
    return True


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the database reports it."""

    name: str
    type: str
    nullable: bool
    primary_key: bool


def live_schema() -> dict[str, list[ColumnInfo]]:
    """Every table of the live database (Alembic's own excluded) with its columns."""
    inspector = inspect(db.engine)
    tables = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        pk = set(inspector.get_pk_constraint(table).get("constrained_columns") or ())
        tables[table] = [
            ColumnInfo(c["name"], str(c["type"]), bool(c["nullable"]), c["name"] in pk)
            for c in inspector.get_columns(table)
        ]
    return tables
