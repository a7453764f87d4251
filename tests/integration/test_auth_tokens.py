"""API bearer tokens: login, list, create (re-auth), revoke, expiry, hashing, inactivity."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from lts.models import UserSession
from tests.factories import DEFAULT_PASSWORD, gen_user


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock}


def api_login(client, username="alice", password=DEFAULT_PASSWORD, **extra):
    return client.post("/api/v1/auth/login",
                       json={"username": username, "password": password, **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_login_returns_a_token_stored_only_as_its_sha256(client, db):
    gen_user("alice")
    response = api_login(client, name="ci script", ttl_hours=2)
    assert response.status_code == 201
    body = response.get_json()
    raw = body["token"]
    assert len(raw) >= 40 and body["name"] == "ci script"
    row = db.session.get(UserSession, body["id"])
    assert row.kind == "api" and row.token == hashlib.sha256(raw.encode()).hexdigest()
    assert db.session.scalar(select(UserSession).where(UserSession.token == raw)) is None
    me = client.get("/api/v1/auth/me", headers=bearer(raw))
    assert me.status_code == 200 and me.get_json()["username"] == "alice"
    assert "password_hash" not in me.get_json()


def test_api_login_failure_is_generic_401(client, db):
    gen_user("alice")
    for username in ("alice", "nobody"):
        response = api_login(client, username=username, password="not the password")
        assert response.status_code == 401
        assert response.get_json()["error"]["message"].startswith("invalid username or password")


def test_api_login_validates_its_body(client, db):
    response = client.post("/api/v1/auth/login", json={"username": "alice"})
    assert response.status_code == 422
    assert "password" in response.get_json()["error"]["fields"]
    assert client.post("/api/v1/auth/login", data="x",
                       content_type="application/json").status_code == 400


def test_token_expires(client, db, clock, api_token):
    user = gen_user("alice")
    raw = api_token(user, ttl_hours=1)
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    clock.advance(minutes=61)
    response = client.get("/api/v1/auth/me", headers=bearer(raw))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_use_updates_last_used_at(client, db, clock, api_token):
    user = gen_user("alice")
    raw = api_token(user)
    clock.advance(hours=3)
    client.get("/api/v1/auth/me", headers=bearer(raw))
    row = db.session.scalar(select(UserSession).where(UserSession.kind == "api"))
    db.session.refresh(row)
    assert row.last_used_at == clock.now


def test_revoked_token_is_refused(client, db, api_token):
    user = gen_user("alice")
    raw = api_token(user)
    row = db.session.scalar(select(UserSession).where(UserSession.kind == "api"))
    assert client.delete(f"/api/v1/auth/tokens/{row.id}", headers=bearer(raw)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 401


def test_logout_revokes_the_token_used(client, db, api_token):
    raw = api_token(gen_user("alice"))
    assert client.post("/api/v1/auth/logout", headers=bearer(raw)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 401


def test_garbage_and_wrong_scheme_tokens_are_refused(client, db):
    assert client.get("/api/v1/auth/me", headers=bearer("nope")).status_code == 401
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": "Basic YWxpY2U6eA=="}).status_code == 401


def test_token_of_a_deactivated_user_is_refused_at_once(client, db, api_token):
    user = gen_user("alice")
    raw = api_token(user)
    user.is_active = False
    db.session.commit()
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 401


def test_list_tokens_shows_only_own_tokens_and_no_secrets(client, db, api_token):
    alice, bob = gen_user("alice"), gen_user("bob")
    raw = api_token(alice, "laptop")
    api_token(bob, "bob's")
    items = client.get("/api/v1/auth/tokens", headers=bearer(raw)).get_json()["items"]
    assert [item["name"] for item in items] == ["laptop"]
    assert "token" not in items[0]


def test_creating_a_token_within_ten_minutes_of_login_needs_no_password(client, db, clock):
    gen_user("alice")
    raw = api_login(client).get_json()["token"]
    clock.advance(minutes=9)
    response = client.post("/api/v1/auth/tokens", json={"name": "second"}, headers=bearer(raw))
    assert response.status_code == 201 and response.get_json()["token"]


def test_creating_a_token_after_ten_minutes_asks_for_the_password(client, db, clock):
    gen_user("alice")
    raw = api_login(client).get_json()["token"]
    clock.advance(minutes=11)
    response = client.post("/api/v1/auth/tokens", json={"name": "second"}, headers=bearer(raw))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "reauth_required"
    wrong = client.post("/api/v1/auth/tokens", json={"name": "second", "password": "nope"},
                        headers=bearer(raw))
    assert wrong.status_code == 401
    ok = client.post("/api/v1/auth/tokens",
                     json={"name": "second", "password": DEFAULT_PASSWORD, "ttl_hours": 5},
                     headers=bearer(raw))
    assert ok.status_code == 201


def test_profile_page_creates_a_token_shown_once_and_revokes_it(client, db, login_as):
    from tests.helpers import csrf_from

    user = gen_user("alice")
    login_as(user)
    page = client.get("/profile").get_data(as_text=True)
    response = client.post("/profile/tokens", data={"csrf_token": csrf_from(page),
                                                     "name": "from the page"})
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    assert 'data-testid="new-token"' in html
    assert 'data-testid="new-token"' not in client.get("/profile").get_data(as_text=True)
    row = db.session.scalar(select(UserSession).where(UserSession.kind == "api"))
    revoke = client.post(f"/profile/tokens/{row.id}/revoke",
                         data={"csrf_token": csrf_from(html)})
    assert revoke.status_code == 302
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_profile_token_creation_asks_password_after_ten_minutes(client, db, login_as, clock):
    from tests.helpers import csrf_from

    login_as(gen_user("alice"))
    clock.advance(minutes=11)
    page = client.get("/profile").get_data(as_text=True)
    assert 'name="password"' in page
    refused = client.post("/profile/tokens", data={"csrf_token": csrf_from(page), "name": "x"})
    assert refused.status_code == 422
    accepted = client.post("/profile/tokens", data={"csrf_token": csrf_from(page), "name": "x",
                                                     "password": DEFAULT_PASSWORD})
    assert accepted.status_code == 201


def test_reauth_is_per_session_not_per_user(client, db, login_as, clock):
    """A fresh API login elsewhere does not spare an old browser session the password."""
    from tests.helpers import csrf_from

    login_as(gen_user("alice"))
    clock.advance(minutes=30)
    assert api_login(client.application.test_client()).status_code == 201
    page = client.get("/profile").get_data(as_text=True)
    refused = client.post("/profile/tokens", data={"csrf_token": csrf_from(page), "name": "x"})
    assert refused.status_code == 422
    accepted = client.post("/profile/tokens", data={"csrf_token": csrf_from(page), "name": "y",
                                                     "password": DEFAULT_PASSWORD})
    assert accepted.status_code == 201
    # The re-authentication counts for this browser session for ten minutes.
    clock.advance(minutes=5)
    again = client.post("/profile/tokens", data={"csrf_token": csrf_from(page), "name": "z"})
    assert again.status_code == 201
