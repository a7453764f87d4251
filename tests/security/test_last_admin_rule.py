"""Issue 11, finding 12: the last-admin rule holds under concurrency; no self-deactivation.

Before the fix the rule counted the other admins, then wrote: two admins demoting each
other at once both saw the other still an admin, and LTS was left with none. Now the
admin rows are locked before the count (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite's
write lock), so the second change waits for the first and then sees it.

The race test does not hope for an unlucky schedule: it holds the first change right
after its ``UPDATE users`` until the second has either written too (the bug: both
passed the check) or is waiting on a row lock (the fix), watching PostgreSQL's
``pg_stat_activity`` for this test's connections.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from lts.models import AuditLog, User
from tests.conftest import make_test_app
from tests.factories import gen_user
from tests.helpers import csrf_from

ON_POSTGRES = pytest.param("postgresql", marks=pytest.mark.postgres)
BACKENDS = ["sqlite", ON_POSTGRES]
RACE_TIMEOUT = 20.0


class Rendezvous:
    """Hold the first ``UPDATE users`` until the other change writes or waits on a lock."""

    def __init__(self, dsn: str, application_name: str) -> None:
        self._dsn = dsn
        self._application_name = application_name
        self._arrived = 0
        self._changed = threading.Condition()

    def _other_waits_on_a_lock(self) -> bool:
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'", (self._application_name,)).fetchone()
        return bool(row and row[0])

    def after_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """SQLAlchemy ``after_cursor_execute`` hook."""
        if not statement.lstrip().upper().startswith("UPDATE USERS "):
            return
        with self._changed:
            self._arrived += 1
            first = self._arrived == 1
            self._changed.notify_all()
        if not first:
            return
        deadline = time.monotonic() + RACE_TIMEOUT
        while time.monotonic() < deadline:
            with self._changed:
                if self._arrived >= 2:
                    return
            if self._other_waits_on_a_lock():
                return
            with self._changed:
                self._changed.wait(0.02)
        raise AssertionError("the second change neither wrote nor waited for a lock")


@pytest.fixture
def application_name() -> str:
    return f"lts-race-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app(database_url: str, tmp_path: Path, application_name: str) -> Iterator[Flask]:
    """The usual test app; on PostgreSQL its connections are tagged for the race watcher."""
    if database_url.startswith("postgresql"):
        database_url = make_url(database_url).update_query_dict(
            {"application_name": application_name}).render_as_string(hide_password=False)
    application = make_test_app(database_url, tmp_path)
    yield application
    with application.app_context():
        from lts.extensions import db

        db.session.remove()
        db.engine.dispose()


def libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string, for a watcher connection."""
    parsed = make_url(url).set(drivername="postgresql")
    query = {k: v for k, v in parsed.query.items() if k != "application_name"}
    return parsed.set(query=query).render_as_string(hide_password=False)


def active_admins(db) -> int:
    db.session.rollback()  # a fresh snapshot: the changes were made by other sessions
    return int(db.session.scalar(select(func.count(User.id)).where(
        User.role == "admin", User.is_active.is_(True))))


@pytest.mark.parametrize("database_url", [ON_POSTGRES], indirect=True)
@pytest.mark.parametrize(("change_a", "change_b"), [
    ({"role": "user"}, {"role": "user"}),
    ({"is_active": False}, {"is_active": False}),
    ({"role": "user"}, {"is_active": False}),
], ids=["demote-demote", "deactivate-deactivate", "demote-deactivate"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(
        app, db, api_token, application_name, change_a, change_b):
    alice = gen_user("alice", role="admin")
    bob = gen_user("bob", role="admin")
    calls = [(api_token(alice), bob.id, change_a), (api_token(bob), alice.id, change_b)]
    rendezvous = Rendezvous(libpq_dsn(app.config["SQLALCHEMY_DATABASE_URI"]),
                            application_name)
    event.listen(db.engine, "after_cursor_execute", rendezvous.after_execute)
    start = threading.Barrier(len(calls))
    statuses: list[int] = []

    def call(token: str, target: int, change: dict[str, object]) -> None:
        client = app.test_client()
        start.wait(RACE_TIMEOUT)
        response = client.patch(f"/api/v1/users/{target}", json=change,
                                headers={"Authorization": f"Bearer {token}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call, args=c) for c in calls]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(RACE_TIMEOUT * 2)
    finally:
        event.remove(db.engine, "after_cursor_execute", rendezvous.after_execute)
    assert sorted(statuses) == [200, 409]
    assert active_admins(db) == 1


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_an_admin_cannot_deactivate_their_own_account_through_the_api(
        client, db, auth_headers):
    alice = gen_user("alice", role="admin")
    gen_user("bob", role="admin")  # not the last admin: the rule is about who acts
    response = client.patch(f"/api/v1/users/{alice.id}", headers=auth_headers(alice),
                            json={"is_active": False})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert "cannot deactivate your own account" in error["message"]
    assert "is_active" in error["fields"]
    assert active_admins(db) == 2


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_an_admin_cannot_deactivate_their_own_account_on_the_page(client, db, login_as):
    alice = gen_user("alice", role="admin")
    gen_user("bob", role="admin")
    login_as(alice)
    token = csrf_from(client.get("/admin/users").get_data(as_text=True))
    response = client.post(f"/admin/users/{alice.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 403
    assert "cannot deactivate your own account" in response.get_data(as_text=True)
    assert active_admins(db) == 2


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_another_admin_may_deactivate_an_admin_and_it_is_audited(client, db, auth_headers):
    alice = gen_user("alice", role="admin")
    bob = gen_user("bob", role="admin")
    response = client.patch(f"/api/v1/users/{bob.id}", headers=auth_headers(alice),
                            json={"is_active": False})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert active_admins(db) == 1
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.deactivate"))
    assert (row.user_id, row.resource) == (alice.id, f"user:{bob.id}")
    demote_last = client.patch(f"/api/v1/users/{alice.id}", headers=auth_headers(alice),
                               json={"role": "user"})
    assert demote_last.status_code == 409
    assert "last active admin" in demote_last.get_json()["error"]["message"]
