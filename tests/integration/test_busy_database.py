"""Writes never fail on a busy SQLite database (SPEC 2a, issue 10 item 7).

Another connection holds the write lock and commits a change while a request runs:
a deferred read that upgrades to a write would fail with "database is locked" at once
(its snapshot is stale). Unsafe requests begin IMMEDIATE and wait instead; a GET's
denial audit runs in a write unit of its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from lts.database import immediate_writes, retry_unit, write_unit
from lts.models import AuditLog, Portfolio, User
from tests.factories import gen_portfolio, gen_user

HOLD_SECONDS = 1.0


@contextmanager
def another_writer(path: Path) -> Iterator[threading.Thread]:
    """Hold the write lock from another connection, then commit a change and let go.

    The change (a statistics row) makes every snapshot taken before it stale, as a
    concurrent request or tick would. Entered once the lock is held; the test's request
    runs while it is held, so it must wait for it.
    """
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO statistics (key, value, timestamp) "
                               "VALUES ('busy.test', 1.0, '2026-01-01 00:00:00.000000')")
            held.set()
            release.wait(HOLD_SECONDS)  # a fixed hold: the request starts meanwhile
            connection.execute("COMMIT")
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        yield thread
    finally:
        release.set()
        thread.join(10)


def test_patch_waits_for_a_busy_writer_instead_of_answering_500(app, db, client, database_path,
                                                                auth_headers):
    owner = gen_user()
    portfolio_id = gen_portfolio(owner).id
    headers = auth_headers(owner)
    client.get("/api/v1/auth/me", headers=headers)  # the token's first use is recorded now
    db.session.remove()  # the request gets a fresh session, as in a server (own context)
    with another_writer(database_path):
        response = client.patch(f"/api/v1/portfolios/{portfolio_id}", headers=headers,
                                json={"description": "edited while busy"})
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    assert db.session.get(Portfolio, portfolio_id).description == "edited while busy"


def test_a_denied_read_is_answered_and_audited_while_another_writer_commits(
        app, db, client, database_path, auth_headers):
    user_id = gen_user().id
    headers = auth_headers(db.session.get(User, user_id))
    client.get("/api/v1/auth/me", headers=headers)
    db.session.remove()
    with another_writer(database_path):
        response = client.get("/api/v1/users", headers=headers)
    assert response.status_code == 403
    db.session.expire_all()
    denied = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "access.denied", AuditLog.user_id == user_id)).all()
    assert len(denied) == 1


def test_only_unsafe_requests_begin_immediate(app, client, auth_headers):
    seen: dict[str, bool] = {}

    @app.get("/api/v1/_probe")
    def probe():  # type: ignore[no-untyped-def]
        seen["GET"] = immediate_writes()
        return {}

    @app.post("/api/v1/_probe")
    def probe_post():  # type: ignore[no-untyped-def]
        seen["POST"] = immediate_writes()
        return {}

    with app.app_context():
        headers = auth_headers(gen_user())
    client.get("/api/v1/_probe", headers=headers)
    client.post("/api/v1/_probe", headers=headers)
    assert seen == {"GET": False, "POST": True}
    assert immediate_writes() is False  # nothing leaks into the next request or the test


def test_write_unit_ends_a_read_and_writes_in_its_own_immediate_transaction(app, db,
                                                                            database_path):
    user = gen_user()
    db.session.execute(select(Portfolio)).all()  # a read transaction is open
    with another_writer(database_path), write_unit(db.session()) as session:
        session.add(AuditLog(action="busy.write", resource=f"user:{user.id}",
                             outcome="ok"))
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "busy.write"))


def test_retry_unit_runs_a_refused_unit_again_and_gives_up_after_the_limit():
    from sqlalchemy.exc import OperationalError

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return "done"

    assert retry_unit(flaky, pause=0) == "done" and len(calls) == 3

    def broken() -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("no such table: x"))

    calls.clear()
    with pytest.raises(OperationalError):
        retry_unit(lambda: (calls.append(1), broken()), pause=0)
    assert len(calls) == 1  # not a refusal of the whole unit: never retried
