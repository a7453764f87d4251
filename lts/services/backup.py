"""Backups and restores of the LTS database (``flask lts backup`` / ``flask lts restore``).

SQLite: SQLite's online backup API, consistent while a server writes (the WAL
included); a restore copies the file back through the same API, page by page, under
SQLite's locks. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean``
when those binaries are on PATH (they must match the server's major version), a clear
error naming them otherwise.

A restore replaces every row, the scheduler lease and the orders in flight included,
so it is refused while a trading loop holds the lease (a running server): stop the
server first, or pass ``force`` when the holder is known to be gone.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from lts.errors import Conflict, ValidationFailed

SQLITE_HEADER = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"PGDMP"
PG_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class BackupResult:
    """What a backup or restore did: the file, the backend and the schema revision."""

    path: Path
    backend: str
    revision: str | None
    size: int


def database_url(app: Flask) -> str:
    """The app's database URL (absolute for SQLite, as the app resolved it)."""
    return str(app.config["SQLALCHEMY_DATABASE_URI"])


def sqlite_file(url: str, field: str) -> Path:
    """The file of a SQLite URL; ValidationFailed naming ``field`` for memory databases."""
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:"):
        raise ValidationFailed("not a database file", {field: [
            f"the database {parsed.database or 'in memory'} is not a plain file"]})
    return Path(parsed.database)


def sqlite_backup(source: Path, target: Path, field: str = "--out") -> None:
    """Copy a live SQLite database consistently (WAL included) with the online backup API."""
    if not source.exists():
        raise ValidationFailed("no database", {field: [f"{source} does not exist"]})
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def _sqlite_revision(path: Path) -> str | None:
    """The Alembic revision stored in a SQLite file (None: no alembic_version table)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None


def _libpq_url(url: str) -> str:
    """The URL pg_dump understands: SQLAlchemy's ``+driver`` part removed."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _schema_options(url: str) -> list[str]:
    """``--schema X`` when the URL pins ``search_path`` to X (one schema per deployment)."""
    options = make_url(url).query.get("options", "")
    text = options if isinstance(options, str) else " ".join(options)
    for part in text.split():
        if part.startswith("-csearch_path="):
            return ["--schema", part.split("=", 1)[1].split(",")[0]]
    return []


def _binary(name: str, field: str) -> str:
    """The path of ``name`` on PATH; ValidationFailed naming it and ``field`` otherwise."""
    found = shutil.which(name)
    if found is None:
        raise ValidationFailed(f"{name} not found", {field: [
            f"a PostgreSQL backup needs {name} on PATH (the postgresql-client package of "
            f"the server's major version); none was found"]})
    return found


def _run(command: list[str], field: str) -> None:
    """Run a client binary; ValidationFailed with its stderr when it fails."""
    done = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                          timeout=PG_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ValidationFailed(f"{Path(command[0]).name} failed", {field: [
            f"{Path(command[0]).name} exited with {done.returncode}: " + " | ".join(tail)]})


def backup(app: Flask, out: str | Path) -> BackupResult:
    """Write a consistent backup of ``app``'s database to ``out`` (never overwritten)."""
    target = Path(out)
    if target.exists():
        raise ValidationFailed("file exists", {"--out": [
            f"{target} exists; a backup never overwrites a file"]})
    if not target.parent.is_dir():
        raise ValidationFailed("no such folder", {"--out": [
            f"the folder {target.parent} does not exist"]})
    url = database_url(app)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        partial = target.with_name(target.name + ".partial")
        try:
            sqlite_backup(sqlite_file(url, "--out"), partial)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        revision = _sqlite_revision(target)
    elif backend == "postgresql":
        pg_dump = _binary("pg_dump", "--out")
        _run([pg_dump, "--format=custom", "--no-owner", *_schema_options(url),
              "--file", str(target), "--dbname", _libpq_url(url)], "--out")
        revision = _current_revision(app)
    else:
        raise ValidationFailed("unsupported database", {"--out": [
            f"backups support SQLite and PostgreSQL, not {backend}"]})
    return BackupResult(target, backend, revision, target.stat().st_size)


def _current_revision(app: Flask) -> str | None:
    """The live database's Alembic revision."""
    from lts.services.schema import migration_status

    with app.app_context():
        return migration_status().current


def lease_holder(app: Flask, now: datetime | None = None) -> tuple[str, datetime] | None:
    """(holder, expires_at) of a live scheduler lease, None when no loop leads."""
    from lts.extensions import db
    from lts.trading.lease import current_holder

    with app.app_context():
        try:
            return current_holder(db.session(), now or datetime.now(UTC))
        except Exception:  # no tables yet (a fresh database): nobody leads
            db.session.rollback()
            return None
        finally:
            db.session.remove()


def restore(app: Flask, source: str | Path, *, force: bool = False,
            now: datetime | None = None) -> BackupResult:
    """Replace ``app``'s database with the backup ``source``.

    Refused (Conflict) while a trading loop holds the scheduler lease, unless ``force``.
    """
    path = Path(source)
    if not path.is_file():
        raise ValidationFailed("no backup file", {"FILE": [f"{path} is not a file"]})
    holder = lease_holder(app, now)
    if holder is not None and not force:
        name, expires = holder
        raise Conflict("a server is running", {"FILE": [
            f"the trading loop of {name} holds the scheduler lease until "
            f"{expires.isoformat(timespec='seconds')}: stop the server before restoring, "
            f"or pass --force if that process is gone"]})
    url = database_url(app)
    backend = make_url(url).get_backend_name()
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    _dispose(app)
    if backend == "sqlite":
        if header != SQLITE_HEADER:
            raise ValidationFailed("not a SQLite backup", {"FILE": [
                f"{path} is not a SQLite database (a PostgreSQL dump restores only into "
                f"PostgreSQL)"]})
        revision = _sqlite_revision(path)
        if revision is None:
            raise ValidationFailed("not an LTS backup", {"FILE": [
                f"{path} has no alembic_version table: not an LTS database"]})
        target = sqlite_file(url, "FILE")
        sqlite_backup(path, target, "FILE")
    elif backend == "postgresql":
        if not header.startswith(PG_DUMP_HEADER):
            raise ValidationFailed("not a pg_dump archive", {"FILE": [
                f"{path} is not a pg_dump custom-format archive (flask lts backup writes one)"]})
        pg_restore = _binary("pg_restore", "FILE")
        _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", _libpq_url(url), str(path)], "FILE")
        revision = _current_revision(app)
    else:
        raise ValidationFailed("unsupported database", {"FILE": [
            f"restores support SQLite and PostgreSQL, not {backend}"]})
    return BackupResult(path, backend, revision, path.stat().st_size)


def _dispose(app: Flask) -> None:
    """Close the app's pooled connections: none may hold a lock the restore waits on."""
    from lts.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
