"""Concurrent API calls with one token: recording its use never fails a request."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from lts.models import UserSession
from tests.factories import gen_user


def test_a_stale_reader_touching_a_token_waits_instead_of_failing(app, db, api_token):
    raw = api_token(gen_user("racer"))
    aaa = app.extensions["lts.aaa"]
    db.session.execute(update(UserSession).values(
        last_used_at=aaa.clock() - timedelta(hours=1)))
    db.session.commit()
    # Request A has read the token (its read transaction is open)...
    row = aaa._live_row(raw, "api")
    assert row is not None
    # ...when request B, on another connection, records the use and commits.
    with db.engine.begin() as connection:
        connection.execute(update(UserSession).values(last_used_at=aaa.clock()))
    aaa._touch(row)  # before: "database is locked" on SQLite, a 500 for request A
    db.session.expire_all()
    assert db.session.get(UserSession, row.id).last_used_at is not None
