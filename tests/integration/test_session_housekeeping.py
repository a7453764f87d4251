"""The loop's hourly housekeeping purges sessions and tokens that ended long ago."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import AuditLog, UserSession
from lts.trading.runner import LoopRunner
from tests.factories import gen_user


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock}


def add_session(db, user, clock, *, ended_days_ago=None, revoked_days_ago=None, name="s"):
    now = clock()
    row = UserSession(
        user_id=user.id, token=f"{name:0>64}", kind="api", name=name,
        created_at=now - timedelta(days=90),
        expires_at=now - timedelta(days=ended_days_ago) if ended_days_ago is not None
        else now + timedelta(days=1),
        revoked_at=now - timedelta(days=revoked_days_ago) if revoked_days_ago is not None
        else None,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def test_housekeeping_purges_long_ended_rows_once_an_hour(app, db, clock):
    user = gen_user("keeper")
    live = add_session(db, user, clock, name="live")
    recently_expired = add_session(db, user, clock, ended_days_ago=3, name="recent")
    old_expired = add_session(db, user, clock, ended_days_ago=31, name="oldexp")
    old_revoked = add_session(db, user, clock, revoked_days_ago=45, name="oldrev")

    runner = LoopRunner(app, clock=clock, holder="keeper")
    try:
        assert runner.run_once() is not None
        db.session.rollback()
        remaining = set(db.session.scalars(select(UserSession.id)))
        assert remaining == {live, recently_expired}
        assert not {old_expired, old_revoked} & remaining
        purge = db.session.scalars(select(AuditLog).where(AuditLog.action == "session.purged"))
        assert [row.details["rows"] for row in purge] == [2]

        # Within the hour nothing is purged again, even a row that is old enough.
        late = add_session(db, user, clock, ended_days_ago=40, name="late")
        clock.advance(minutes=30)
        assert runner.run_once() is not None
        db.session.rollback()
        assert set(db.session.scalars(select(UserSession.id))) == {live, recently_expired, late}

        clock.advance(minutes=31)
        assert runner.run_once() is not None
        db.session.rollback()
        assert set(db.session.scalars(select(UserSession.id))) == {live, recently_expired}
    finally:
        runner.shutdown()
