"""Issue 11, finding 2: the password-change form is no longer an unlimited oracle.

Before the fix, 20 wrong current passwords in 2.7 s all answered 422 "is not correct",
then the right one changed the password of a locked account.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.models import AuditLog
from lts.plugins.aaa.passwords import verify_password
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_from

NEW_PASSWORD = "a-brand-new-passphrase-77"
LOCK_AFTER = 3


@pytest.fixture
def app_overrides(clock) -> dict[str, object]:
    # Rate limits out of the way: these tests are about the lockout.
    return {"LTS_CLOCK": clock, "max_failed_logins": LOCK_AFTER,
            "login_rate_limit": "1000 per minute"}


def api_change(client, headers, current: str, new: str = NEW_PASSWORD):
    return client.post("/api/v1/auth/password", headers=headers,
                       json={"current_password": current, "new_password": new})


def page_change(client, current: str, new: str = NEW_PASSWORD):
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    return client.post("/profile/password", data={"csrf_token": token,
                                                  "current_password": current,
                                                  "new_password": new})


def actions(db) -> list[tuple[str, str]]:
    return [(row.action, row.outcome)
            for row in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_api_wrong_current_passwords_lock_the_account_and_then_nothing_changes(
        client, db, auth_headers):
    user = gen_user("alice")
    headers = auth_headers(user)
    for _ in range(LOCK_AFTER):
        assert api_change(client, headers, "not the password").status_code == 422
    locked = api_change(client, headers, DEFAULT_PASSWORD)
    assert locked.status_code == 403
    error = locked.get_json()["error"]
    assert error["code"] == "account_locked" and "current_password" in error["fields"]
    db.session.refresh(user)
    assert verify_password(user.password_hash, DEFAULT_PASSWORD)
    assert ("account.locked", "denied") in actions(db)
    assert ("password.change.locked", "denied") in actions(db)


def test_page_wrong_current_passwords_lock_the_account_and_then_nothing_changes(
        client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    for _ in range(LOCK_AFTER):
        assert page_change(client, "not the password").status_code == 422
    locked = page_change(client, DEFAULT_PASSWORD)
    assert locked.status_code == 403
    assert "locked" in locked.get_data(as_text=True)
    db.session.refresh(user)
    assert verify_password(user.password_hash, DEFAULT_PASSWORD)


def test_the_lockout_ends_like_a_login_lockout(client, db, auth_headers, clock):
    user = gen_user("alice")
    headers = auth_headers(user)
    for _ in range(LOCK_AFTER):
        api_change(client, headers, "not the password")
    clock.advance(minutes=31)  # lockout_minutes is 30
    assert api_change(client, headers, DEFAULT_PASSWORD).status_code == 204


def test_a_locked_account_is_refused_at_login_after_failed_password_changes(
        client, db, auth_headers):
    user = gen_user("alice")
    headers = auth_headers(user)
    for _ in range(LOCK_AFTER):
        api_change(client, headers, "not the password")
    login = client.post("/api/v1/auth/login", json={"username": "alice",
                                                    "password": DEFAULT_PASSWORD})
    assert login.status_code == 401


def test_success_ends_other_sessions_and_tokens_and_every_attempt_is_audited(
        app, client, db, login_as, api_token):
    user = gen_user("alice")
    other_browser = login_as(user, client=app.test_client())
    other_token = {"Authorization": f"Bearer {api_token(user)}"}
    this_token = {"Authorization": f"Bearer {api_token(user)}"}
    assert api_change(client, this_token, "not the password").status_code == 422
    assert api_change(client, this_token, DEFAULT_PASSWORD, "short").status_code == 422
    assert api_change(client, this_token, DEFAULT_PASSWORD).status_code == 204
    assert client.get("/api/v1/auth/me", headers=this_token).status_code == 200
    assert client.get("/api/v1/auth/me", headers=other_token).status_code == 401
    assert other_browser.get("/profile").status_code == 302
    rows = db.session.scalars(select(AuditLog).where(
        AuditLog.action.like("password.change%")).order_by(AuditLog.id)).all()
    assert [(r.action, r.outcome) for r in rows] == [
        ("password.change.failed", "denied"), ("password.change.failed", "denied"),
        ("password.change", "ok")]
    assert rows[1].details == {"reason": "policy"}
    assert rows[2].details == {"sessions_ended": 2}
    assert all(r.ip == "127.0.0.1" for r in rows)


@pytest.mark.parametrize("app_overrides", [{"login_rate_limit": "3 per minute",
                                            "max_failed_logins": 50}])
def test_password_changes_are_rate_limited_and_share_the_login_budget(
        client, db, auth_headers):
    user = gen_user("alice")
    headers = auth_headers(user)
    statuses = [api_change(client, headers, "not the password").status_code
                for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    # The per-username budget is the login's: guessing here spent it there too.
    other_address = {"REMOTE_ADDR": "10.9.8.7"}
    login = client.post("/api/v1/auth/login", environ_base=other_address,
                        json={"username": "alice", "password": DEFAULT_PASSWORD})
    assert login.status_code == 429


@pytest.mark.parametrize("app_overrides", [{"login_rate_limit": "2 per minute",
                                            "max_failed_logins": 50}])
def test_password_change_page_is_rate_limited(client, db, login_as):
    user = gen_user("alice")
    login_as(user, expect_ok=True)
    # The login spent one of the two: one more change, then 429.
    assert page_change(client, "not the password").status_code == 422
    assert page_change(client, "not the password").status_code == 429


@pytest.mark.parametrize("body", [{}, {"current_password": DEFAULT_PASSWORD},
                                  {"new_password": NEW_PASSWORD}])
def test_api_password_change_names_the_missing_field(client, db, auth_headers, body):
    response = client.post("/api/v1/auth/password", headers=auth_headers(gen_user("alice")),
                           json=body)
    assert response.status_code == 422
    missing = {"current_password", "new_password"} - set(body)
    assert missing <= set(response.get_json()["error"]["fields"])
