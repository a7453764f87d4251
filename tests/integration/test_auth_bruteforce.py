"""Brute force: database-counted lockout and Flask-Limiter rate limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.models import AuditLog, User
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_token


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock, "max_failed_logins": 3, "lockout_minutes": 30,
            "login_rate_limit": "100 per minute"}


def web_login(client, password: str, username: str = "alice"):
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": password})


def logged_in(client) -> bool:
    return client.get("/api/v1/auth/me").status_code == 200


def test_account_locks_after_max_failed_logins_and_unlocks_after_lockout(client, db, clock):
    user = gen_user("alice")
    for _ in range(3):
        web_login(client, "wrong password!")
    db.session.refresh(user)
    assert user.locked_until is not None
    # Even the right password is refused while locked.
    web_login(client, DEFAULT_PASSWORD)
    assert not logged_in(client)
    actions = [row.action for row in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions.count("login.failed") == 3
    assert "account.locked" in actions and "login.locked" in actions
    clock.advance(minutes=31)
    web_login(client, DEFAULT_PASSWORD)
    assert logged_in(client)


def test_lockout_is_shared_by_the_api_and_the_page(client, db):
    gen_user("alice")
    for _ in range(3):
        client.post("/api/v1/auth/login", json={"username": "alice", "password": "bad"})
    assert db.session.scalar(select(User)).locked_until is not None
    web_login(client, DEFAULT_PASSWORD)
    assert not logged_in(client)


def test_counter_lives_in_the_database_across_app_instances(client, db, tmp_path,
                                                              database_path, clock):
    from tests.conftest import make_test_app

    gen_user("alice")
    web_login(client, "wrong password!")
    web_login(client, "wrong password!")
    # A second process (another app on the same database) sees the count.
    other = make_test_app(f"sqlite:///{database_path}", tmp_path / "other",
                          LTS_CLOCK=clock, max_failed_logins=3)
    other_client = other.test_client()
    assert other_client.post("/api/v1/auth/login",
                             json={"username": "alice", "password": "bad"}).status_code == 401
    db.session.rollback()  # end this session's read snapshot
    assert db.session.scalar(select(User)).locked_until is not None


def test_successful_login_resets_the_counter(client, db):
    user = gen_user("alice")
    web_login(client, "wrong password!")
    web_login(client, DEFAULT_PASSWORD)
    db.session.refresh(user)
    assert user.failed_logins == 0


@pytest.mark.parametrize("app_overrides", [{"login_rate_limit": "3 per minute",
                                            "max_failed_logins": 100}])
def test_login_is_rate_limited_per_client_address(client, db):
    gen_user("alice")
    statuses = [client.post("/api/v1/auth/login",
                            json={"username": f"user{i}", "password": "x"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "rate_limited")
                             ).outcome == "denied"
    assert client.post("/api/v1/auth/login", json={"username": "alice",
                                                   "password": DEFAULT_PASSWORD}
                       ).get_json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("app_overrides", [{"login_rate_limit": "3 per minute",
                                            "max_failed_logins": 100}])
def test_login_is_rate_limited_per_username_across_addresses(client, db):
    gen_user("alice")
    statuses = [client.post("/api/v1/auth/login", json={"username": "alice", "password": "x"},
                            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.parametrize("app_overrides", [{"login_rate_limit": "2 per minute",
                                            "max_failed_logins": 100}])
def test_login_page_and_api_share_the_limit(client, db):
    gen_user("alice")
    web_login(client, "bad password 1")
    client.post("/api/v1/auth/login", json={"username": "alice", "password": "x"})
    response = web_login(client, "bad password 3")
    assert response.status_code == 429
    # Rendering the login page (GET) is not limited.
    assert client.get("/login").status_code == 200
