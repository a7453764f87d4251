"""User administration by admins (page and API); users get 403; the last admin stays."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.models import User, UserSession
from tests.factories import gen_user
from tests.helpers import csrf_from

NEW_PASSWORD = "a-brand-new-passphrase-77"
ADMIN_PAGES = ["/admin/users", "/admin/audit"]
ADMIN_API = [("GET", "/api/v1/users"), ("POST", "/api/v1/users"), ("GET", "/api/v1/audit"),
             ("GET", "/api/v1/users/1"), ("PATCH", "/api/v1/users/1"),
             ("POST", "/api/v1/users/1/unlock"), ("POST", "/api/v1/users/1/revoke-sessions")]


@pytest.fixture
def admin(db):
    return gen_user("root", role="admin")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_answer_403_to_users(client, db, login_as, path):
    login_as(gen_user("alice"))
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("method,path", ADMIN_API)
def test_admin_api_answers_403_json_to_users(client, db, auth_headers, method, path):
    response = client.open(path, method=method, json={}, headers=auth_headers(gen_user("alice")))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_admin_lists_and_creates_users_through_the_api(client, db, admin, auth_headers):
    headers = auth_headers(admin)
    created = client.post("/api/v1/users", headers=headers, json={
        "username": "bob", "email": "bob@example.com", "role": "user",
        "password": NEW_PASSWORD})
    assert created.status_code == 201 and "password" not in created.get_json()
    duplicate = client.post("/api/v1/users", headers=headers, json={
        "username": "BOB", "email": "b2@example.com", "password": NEW_PASSWORD})
    assert duplicate.status_code == 409
    weak = client.post("/api/v1/users", headers=headers, json={
        "username": "carl", "email": "c@example.com", "password": "carl"})
    assert weak.status_code == 422 and "password" in weak.get_json()["error"]["fields"]
    names = [u["username"] for u in client.get("/api/v1/users", headers=headers
                                               ).get_json()["items"]]
    assert names == ["bob", "root"]


def test_admin_changes_role_deactivates_and_unlocks(client, db, admin, auth_headers,
                                                    api_token):
    bob = gen_user("bob")
    bob_token = api_token(bob)
    headers = auth_headers(admin)
    assert client.patch(f"/api/v1/users/{bob.id}", headers=headers,
                        json={"role": "admin"}).get_json()["role"] == "admin"
    assert client.patch(f"/api/v1/users/{bob.id}", headers=headers,
                        json={"is_active": False}).get_json()["is_active"] is False
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": f"Bearer {bob_token}"}).status_code == 401
    assert all(r.revoked_at for r in db.session.scalars(
        select(UserSession).where(UserSession.user_id == bob.id)))
    bob.failed_logins, bob.locked_until = 3, bob.created_at
    db.session.commit()
    body = client.post(f"/api/v1/users/{bob.id}/unlock", headers=headers).get_json()
    assert body["failed_logins"] == 0 and body["locked_until"] is None
    assert client.patch(f"/api/v1/users/{bob.id}", headers=headers,
                        json={"role": "root"}).status_code == 422


def test_last_active_admin_cannot_be_demoted_or_deactivated(client, db, admin, auth_headers):
    headers = auth_headers(admin)
    # 409: the last active admin; 403: nobody deactivates their own account.
    for change, status in (({"role": "user"}, 409), ({"is_active": False}, 403)):
        response = client.patch(f"/api/v1/users/{admin.id}", headers=headers, json=change)
        assert response.status_code == status, change
    db.session.refresh(admin)
    assert admin.role == "admin" and admin.is_active
    second = gen_user("second", role="admin")
    assert client.patch(f"/api/v1/users/{second.id}", headers=headers,
                        json={"is_active": False}).status_code == 200
    assert client.patch(f"/api/v1/users/{admin.id}", headers=headers,
                        json={"role": "user"}).status_code == 409


def test_admin_revokes_all_sessions_of_a_user(app, client, db, admin, auth_headers, login_as):
    bob = gen_user("bob")
    browser = login_as(bob, client=app.test_client())
    response = client.post(f"/api/v1/users/{bob.id}/revoke-sessions",
                           headers=auth_headers(admin))
    assert response.get_json() == {"sessions_ended": 1}
    assert browser.get("/").status_code == 302


def test_users_page_lists_creates_and_acts(client, db, admin, login_as):
    bob = gen_user("bob")
    login_as(admin)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "bob@example.com" in page and "root@example.com" in page
    token = csrf_from(page)
    created = client.post("/admin/users", data={"csrf_token": token, "username": "carol",
                                                 "email": "carol@example.com", "role": "user",
                                                 "password": NEW_PASSWORD})
    assert created.status_code == 302
    refused = client.post("/admin/users", data={"csrf_token": token, "username": "dave",
                                                "email": "dave@example.com", "role": "user",
                                                "password": "dave"})
    assert refused.status_code == 422
    assert client.post(f"/admin/users/{bob.id}/role",
                       data={"csrf_token": token, "role": "admin"}).status_code == 302
    assert client.post(f"/admin/users/{bob.id}/deactivate",
                       data={"csrf_token": token}).status_code == 302
    db.session.refresh(bob)
    assert bob.role == "admin" and not bob.is_active
    assert client.post(f"/admin/users/{bob.id}/activate",
                       data={"csrf_token": token}).status_code == 302
    assert client.post(f"/admin/users/{bob.id}/unlock",
                       data={"csrf_token": token}).status_code == 302
    assert client.post(f"/admin/users/{bob.id}/revoke-sessions",
                       data={"csrf_token": token}).status_code == 302
    db.session.refresh(bob)
    assert bob.is_active
    assert db.session.scalar(select(User).where(User.username == "carol")) is not None
    # Deactivating yourself is refused with a message (another admin must do it).
    client.post(f"/admin/users/{bob.id}/deactivate", data={"csrf_token": token})
    response = client.post(f"/admin/users/{admin.id}/deactivate", data={"csrf_token": token},
                           follow_redirects=True)
    assert response.status_code == 403
    assert "cannot deactivate your own account" in response.get_data(as_text=True)
    # Demoting yourself as the last active admin is refused with a message.
    response = client.post(f"/admin/users/{admin.id}/role",
                           data={"csrf_token": token, "role": "user"})
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)


def test_admin_user_actions_on_a_missing_user_answer_404(client, db, admin, auth_headers):
    assert client.patch("/api/v1/users/999", headers=auth_headers(admin),
                        json={"role": "user"}).status_code == 404
