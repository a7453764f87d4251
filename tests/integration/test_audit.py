"""Accounting: audited actions write rows without secrets; admin page and API read them."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from lts.models import AuditLog
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_from, csrf_token

NEW_PASSWORD = "a-brand-new-passphrase-77"


def actions(db) -> list[str]:
    return [row.action for row in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def all_audit_text(db) -> str:
    rows = db.session.scalars(select(AuditLog)).all()
    return json.dumps([[r.action, r.resource, r.details, r.ip] for r in rows])


def test_every_auth_action_is_audited_without_secrets(app, client, db, login_as):
    admin = gen_user("root", role="admin")
    bob = gen_user("bob")
    secrets = [DEFAULT_PASSWORD, NEW_PASSWORD]
    # failed login, login
    client.post("/login", data={"csrf_token": csrf_token(client), "username": "bob",
                                "password": "Wrong-Password-1"})
    secrets.append("Wrong-Password-1")
    login_as(bob)
    page = client.get("/profile").get_data(as_text=True)
    token = csrf_from(page)
    # token create + revoke
    created = client.post("/profile/tokens", data={"csrf_token": token, "name": "ci"})
    raw = created.get_data(as_text=True).split('data-testid="new-token">')[1].split("<")[0]
    secrets.append(raw)
    row_id = client.get("/api/v1/auth/tokens").get_json()["items"][0]["id"]
    client.delete(f"/api/v1/auth/tokens/{row_id}", headers={"X-CSRFToken": token})
    # denied access (someone else's token), password change
    other = app.extensions["lts.aaa"].issue_token(admin, "admin's")
    secrets.append(other.raw)
    assert client.delete(f"/api/v1/auth/tokens/{other.row.id}",
                         headers={"X-CSRFToken": token}).status_code == 404
    assert client.get("/admin/users").status_code == 403
    client.post("/profile/password", data={"csrf_token": token,
                                           "current_password": DEFAULT_PASSWORD,
                                           "new_password": NEW_PASSWORD})
    # password reset request + reset
    reset = app.extensions["lts.aaa"].make_reset_token("bob")[1]
    secrets.append(reset)
    client.post("/api/v1/auth/password-reset", json={"identifier": "bob"})
    client.post("/api/v1/auth/password-reset/confirm",
                json={"token": reset, "password": "reset-passphrase-2026"})
    secrets.append("reset-passphrase-2026")
    # logout (browser session was ended by the reset: log in again first)
    login_as(bob, "reset-passphrase-2026")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/profile")})
    # admin actions
    headers = {"Authorization": f"Bearer {other.raw}"}
    client.post("/api/v1/users", headers=headers, json={
        "username": "carol", "email": "c@example.com", "password": NEW_PASSWORD})
    client.patch(f"/api/v1/users/{bob.id}", headers=headers, json={"role": "admin"})
    client.patch(f"/api/v1/users/{bob.id}", headers=headers, json={"is_active": False})
    client.post(f"/api/v1/users/{bob.id}/unlock", headers=headers)

    seen = actions(db)
    for expected in ("login.failed", "login", "token.create", "token.revoke", "access.denied",
                     "password.change", "password_reset.requested", "password.reset",
                     "logout", "user.create", "user.role", "user.deactivate", "user.unlock"):
        assert expected in seen, expected
    text = all_audit_text(db)
    for secret in secrets:
        assert secret not in text
    denied = db.session.scalars(select(AuditLog).where(AuditLog.outcome == "denied")).all()
    assert {r.action for r in denied} >= {"login.failed", "access.denied"}
    assert all(r.ip == "127.0.0.1" for r in db.session.scalars(select(AuditLog)) if r.ip)


def test_lockout_is_audited(client, db):
    gen_user("bob")
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "bob", "password": "nope"})
    assert "account.locked" in actions(db)


def test_cr_lf_in_user_input_is_neutralised_in_audit_rows_and_logs(client, db, caplog):
    caplog.set_level(logging.INFO, logger="lts.audit")
    forged = "mallory\r\nINFO audit action=login outcome=ok"
    client.post("/api/v1/auth/login", json={"username": forged, "password": "x"})
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "login.failed"))
    # An unknown username is stored as a keyed digest (issue 11, finding 9): nothing of
    # the typed text, control characters included, reaches the row.
    assert "mallory" not in str(row.details) and "\n" not in str(row.details)
    assert set(row.details) == {"username_digest", "reason"}
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_password_fields_passed_in_details_are_redacted(app, db):
    app.extensions["lts.aaa"].account(None, "test.event", None, {
        "password": "hunter2-hunter2", "nested": {"api_key": "k-123", "ok": "fine"},
        "Authorization": "Bearer abc"})
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "test.event"))
    assert row.details == {"password": "[redacted]",
                           "nested": {"api_key": "[redacted]", "ok": "fine"},
                           "Authorization": "[redacted]"}


@pytest.fixture
def audit_rows(app, db):
    root = gen_user("root", role="admin")
    bob = gen_user("bob")
    aaa = app.extensions["lts.aaa"]
    for i in range(60):
        aaa.account(bob, "portfolio.update", f"portfolio:{i}", {"n": i}, commit=False)
    aaa.account(bob, "access.denied", "portfolio:9", None, "denied", commit=False)
    aaa.account(root, "user.create", "user:2", None, commit=False)
    db.session.commit()
    return root


def test_audit_page_filters_and_paginates(client, db, audit_rows, login_as):
    login_as(audit_rows)
    page1 = client.get("/admin/audit").get_data(as_text=True)
    assert "Page 1 of 2" in page1 and "app-wrapper" in page1
    denied = client.get("/admin/audit?outcome=denied").get_data(as_text=True)
    assert "access.denied" in denied and "portfolio.update" not in denied
    by_user = client.get("/admin/audit?user=root&action=user.").get_data(as_text=True)
    assert "user.create" in by_user and "portfolio.update" not in by_user
    page2 = client.get("/admin/audit?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in page2


def test_audit_page_answers_htmx_with_the_table_fragment_only(app, db, audit_rows,
                                                              htmx_client, login_as):
    login_as(audit_rows, client=htmx_client)
    response = htmx_client.get("/admin/audit?outcome=denied")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith("{#") is False and 'id="audit-table"' in html
    assert "app-wrapper" not in html and "<html" not in html
    assert "HX-Request" in response.headers.get("Vary", "")


def test_audit_page_ignores_bad_filters(client, db, audit_rows, login_as):
    login_as(audit_rows)
    assert client.get("/admin/audit?date_from=yesterday&page=-3").status_code == 200


def test_audit_api_filters_and_paginates(client, db, audit_rows, auth_headers):
    headers = auth_headers(audit_rows)
    body = client.get("/api/v1/audit?per_page=10", headers=headers).get_json()
    assert body["total"] == 63 and len(body["items"]) == 10 and body["pages"] == 7
    denied = client.get("/api/v1/audit?outcome=denied", headers=headers).get_json()
    assert [i["action"] for i in denied["items"]] == ["access.denied"]
    assert denied["items"][0]["username"] == "bob"
    bad = client.get("/api/v1/audit?outcome=maybe", headers=headers)
    assert bad.status_code == 422 and "outcome" in bad.get_json()["error"]["fields"]
    today = client.get("/api/v1/audit", headers=headers,
                       query_string={"date_from": "2000-01-01", "date_to": "2000-01-02"})
    assert today.get_json()["total"] == 0


def test_cli_user_creation_and_reset_links_are_audited(db, runner):
    from lts.cli import lts

    runner.invoke(lts, ["create-user", "carol", "--email", "carol@example.com",
                        "--password-stdin"], input=f"{NEW_PASSWORD}\n")
    runner.invoke(lts, ["reset-password", "carol"])
    rows = {row.action: row for row in db.session.scalars(select(AuditLog))}
    assert rows["user.create"].details["via"] == "cli"
    assert rows["password_reset.link_issued"].details["via"] == "cli"
    assert NEW_PASSWORD not in all_audit_text(db)
