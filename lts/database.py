"""Database engine settings: SQLite pragmas, path resolution and write transactions.

SQLite is the embedded default, so it gets the settings that make it safe with a web
server and a scheduler thread writing at once: WAL (readers never block the writer),
a busy timeout (writers wait instead of failing), and enforced foreign keys.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL's serialization failure and deadlock: the transaction was rolled back whole
# and may be run again as it was.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
UNIT_ATTEMPTS = 3

# Whether transactions begun in this context (a request thread, a CLI command) begin
# IMMEDIATE on SQLite. Unsafe HTTP methods and CLI commands set it: a unit that reads and
# then writes must hold the write lock from its first statement, or a second writer gets
# "database is locked" at once on the upgrade (the busy timeout does not apply to it).
_IMMEDIATE_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lts_immediate_writes", default=False)


def set_immediate_writes(on: bool) -> contextvars.Token[bool]:
    """Make this context's SQLite transactions begin IMMEDIATE (``on``) or deferred.

    Returns the token to hand to :func:`reset_immediate_writes` when the unit ends.
    """
    return _IMMEDIATE_WRITES.set(on)


def reset_immediate_writes(token: contextvars.Token[bool]) -> None:
    """Restore what :func:`set_immediate_writes` changed."""
    _IMMEDIATE_WRITES.reset(token)


def immediate_writes() -> bool:
    """Whether transactions of this context begin IMMEDIATE on SQLite."""
    return _IMMEDIATE_WRITES.get()


def resolve_database_url(url: str, project_root: Path) -> str:
    """Make a relative SQLite path absolute against the project folder (psycopg 3 for PG).

    Flask-SQLAlchemy would otherwise resolve it against the instance folder, which would
    turn the documented default ``sqlite:///instance/lts.db`` into ``instance/instance``.
    """
    if url.startswith(("postgresql://", "postgres://")):
        # The driver LTS ships is psycopg 3; SQLAlchemy's default for a bare
        # postgresql:// URL is psycopg2, which is not installed.
        url = "postgresql+psycopg://" + url.partition("://")[2]
    parsed: URL = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = project_root / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def engine_options(url: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Engine options per backend: SQLite's busy timeout, or a server database's pool.

    The pool settings (``db_pool_size``, ``db_max_overflow``, ``db_pool_timeout``,
    ``db_pool_recycle``, ``db_pool_pre_ping``) apply to PostgreSQL (psycopg 3); each
    process (gunicorn worker, CLI command) has its own pool, so the database sees up to
    ``workers x (pool_size + max_overflow)`` connections.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    settings = settings or {}
    return {
        "pool_pre_ping": bool(settings.get("db_pool_pre_ping", True)),
        "pool_size": int(settings.get("db_pool_size", 5)),
        "max_overflow": int(settings.get("db_max_overflow", 10)),
        "pool_timeout": float(settings.get("db_pool_timeout", 30.0)),
        "pool_recycle": int(settings.get("db_pool_recycle", 1800)),
    }


def install_sqlite_pragmas(engine: Engine) -> None:
    """Set WAL, busy timeout and foreign keys on every new SQLite connection.

    pysqlite's own transaction handling is switched off (``isolation_level = None``) and
    SQLAlchemy's ``begin`` event emits ``BEGIN`` itself, so :func:`write_transaction`
    can ask for ``BEGIN IMMEDIATE`` and take the write lock up front.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: every request begins a transaction, and the full
        # execution path (context, cursor, events) cost ~0.05 ms of a ~1.5 ms API call.
        immediate = connection.get_execution_options().get("sqlite_immediate",
                                                            _IMMEDIATE_WRITES.get())
        connection.info["lts_immediate"] = immediate
        connection.connection.dbapi_connection.execute(
            "BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run a block in one transaction that holds the write lock from its first statement.

    On SQLite this is ``BEGIN IMMEDIATE``, so two writers that both read-then-write (for
    example two risk checks) are serialised instead of one failing with "database is
    locked" on upgrade. On PostgreSQL it is an ordinary transaction; callers lock rows
    with ``SELECT ... FOR UPDATE`` where they need to.
    """
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("write_transaction() entered with unsaved changes pending")
        session.commit()  # ends a read-only transaction; nothing is written
    session.connection(execution_options={"sqlite_immediate": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _holds_write_lock(session: Session) -> bool:
    """Whether the session's open transaction began IMMEDIATE (or needs no upgrade)."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    return bool(session.connection().info.get("lts_immediate"))


@contextlib.contextmanager
def write_unit(session: Session) -> Iterator[Session]:
    """A short write that joins the current write transaction, or starts its own.

    For writes that may come from anywhere, including a GET request's read transaction
    (audit rows, session bookkeeping): inside a transaction that already holds the write
    lock (an unsafe request, :func:`write_transaction`) the block's changes commit with
    it, as before; inside a read transaction on SQLite, the read ends (it wrote nothing)
    and the block runs in a ``BEGIN IMMEDIATE`` transaction of its own, so it waits for
    the lock instead of failing on the upgrade.
    """
    if session.in_transaction() and (session.new or session.dirty or session.deleted
                                     or _holds_write_lock(session)):
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return
    with write_transaction(session):
        yield session


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the whole transaction was refused, run it again".

    PostgreSQL's serialization failures and deadlocks, and SQLite's "database is locked"
    (a busy timeout that ran out): either way nothing of the transaction was kept.
    """
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def retry_unit(unit: Callable[[], T], *, attempts: int = UNIT_ATTEMPTS,
               pause: float = 0.05, what: str = "write unit") -> T:
    """Run ``unit`` (one whole transaction) again when the database refused it as a whole.

    Only for units that have not reached a broker (or that only record a broker's
    answer): running them twice changes nothing a first, rolled-back run had done.
    """
    for attempt in range(1, attempts + 1):
        try:
            return unit()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            log.warning("%s refused by the database (%s); attempt %d of %d",
                        what, str(exc.orig).splitlines()[0], attempt + 1, attempts)
            time.sleep(pause * attempt)  # back off: the other transaction finishes first
    raise AssertionError("unreachable")  # pragma: no cover
