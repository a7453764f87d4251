"""CSRF: every form and htmx request needs the token; only bearer-token calls skip it."""

from __future__ import annotations

from sqlalchemy import select

from lts.models import AuditLog, UserSession
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_from, csrf_token


def test_login_form_without_csrf_token_is_refused(client, db):
    gen_user("alice")
    response = client.post("/login", data={"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/v1/auth/me").status_code == 401
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "csrf.refused"))


def test_login_form_with_csrf_token_is_accepted(client, db):
    gen_user("alice")
    response = client.post("/login", data={"csrf_token": csrf_token(client),
                                            "username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302


def test_form_post_with_a_token_from_another_session_is_refused(app, client, db, login_as):
    gen_user("alice")
    foreign = csrf_token(app.test_client())
    response = client.post("/login", data={"csrf_token": foreign, "username": "alice",
                                            "password": DEFAULT_PASSWORD})
    assert response.status_code == 400


def test_json_call_riding_on_the_session_cookie_needs_the_csrf_token(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    refused = client.post("/api/v1/auth/tokens", json={"name": "sneaky"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "bad_request"
    assert db.session.scalar(select(UserSession).where(UserSession.kind == "api")) is None
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    accepted = client.post("/api/v1/auth/tokens", json={"name": "fine"},
                           headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_bearer_token_calls_skip_csrf(client, db, auth_headers):
    user = gen_user("alice")
    response = client.post("/api/v1/auth/tokens", json={"name": "script"},
                           headers=auth_headers(user))
    assert response.status_code == 201


def test_an_invalid_bearer_token_does_not_fall_back_to_the_cookie(client, db, login_as):
    login_as(gen_user("alice"))
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    response = client.post("/api/v1/auth/tokens", json={"name": "x"},
                           headers={"Authorization": "Bearer forged", "X-CSRFToken": token})
    assert response.status_code == 401


def test_htmx_request_needs_the_csrf_header(app, db, htmx_client, login_as):
    user = gen_user("alice")
    login_as(user, client=htmx_client)
    page = htmx_client.get("/profile").get_data(as_text=True)
    row = app.extensions["lts.aaa"].issue_token(user, "t").row
    url = f"/profile/tokens/{row.id}/revoke"
    assert htmx_client.post(url).status_code == 400
    response = htmx_client.post(url, headers={"X-CSRFToken": csrf_from(page)})
    assert response.status_code == 302
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_json_credential_endpoints_need_json_to_skip_csrf(client, db):
    gen_user("alice")
    as_form = client.post("/api/v1/auth/login",
                          data={"username": "alice", "password": DEFAULT_PASSWORD})
    assert as_form.status_code == 400
    as_json = client.post("/api/v1/auth/login",
                          json={"username": "alice", "password": DEFAULT_PASSWORD})
    assert as_json.status_code == 201


def test_every_post_form_on_the_pages_carries_a_csrf_token(client, db, login_as):
    import re

    login_as(gen_user("root", role="admin"))
    gen_user("bob")
    for path in ("/profile", "/admin/users", "/login", "/reset"):
        html = client.get(path).get_data(as_text=True)
        forms = re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', html, flags=re.S)
        assert forms or path in ("/login", "/reset"), path
        for body in forms:
            assert 'name="csrf_token"' in body, (path, body[:200])
    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    for path in ("/login", "/reset"):
        html = client.get(path).get_data(as_text=True)
        for body in re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', html, flags=re.S):
            assert 'name="csrf_token"' in body, path
