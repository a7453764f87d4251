"""Password change and reset: current password, policy, other sessions end, single-use links."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lts.cli import lts
from lts.models import AuditLog, UserSession
from lts.plugins.aaa.passwords import verify_password
from lts.services.outbox import outbox
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_from, csrf_token

NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock}


def reset_token(app, username: str = "alice") -> str:
    return app.extensions["lts.aaa"].make_reset_token(username)[1]


def test_password_change_requires_the_current_password(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    page = client.get("/profile").get_data(as_text=True)
    response = client.post("/profile/password", data={
        "csrf_token": csrf_from(page), "current_password": "not it at all",
        "new_password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "is not correct" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert verify_password(user.password_hash, DEFAULT_PASSWORD)


def test_password_change_applies_the_policy_with_messages(client, db, login_as):
    login_as(gen_user("alice"))
    page = client.get("/profile").get_data(as_text=True)
    response = client.post("/profile/password", data={
        "csrf_token": csrf_from(page), "current_password": DEFAULT_PASSWORD,
        "new_password": "short"})
    assert response.status_code == 422
    assert "must be at least 12 characters long" in response.get_data(as_text=True)


def test_password_change_ends_other_sessions_and_tokens_but_keeps_this_one(
        app, client, db, login_as, api_token):
    user = gen_user("alice")
    other_browser = login_as(user, client=app.test_client())
    raw = api_token(user)
    login_as(user)
    page = client.get("/profile").get_data(as_text=True)
    response = client.post("/profile/password", data={
        "csrf_token": csrf_from(page), "current_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    assert other_browser.get("/profile").status_code == 302
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_api_password_change(client, db, auth_headers):
    user = gen_user("alice")
    headers = auth_headers(user)
    response = client.post("/api/v1/auth/password", headers=headers, json={
        "current_password": DEFAULT_PASSWORD, "new_password": "alice"})
    assert response.status_code == 422
    assert "must not be the same as the username" in \
        response.get_json()["error"]["fields"]["new_password"]
    response = client.post("/api/v1/auth/password", headers=headers, json={
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 204
    # The token used for the change survives; other sessions do not.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


def test_reset_request_never_reveals_whether_the_account_exists(client, db):
    gen_user("alice")
    answers = []
    for identifier in ("alice", "nobody-here"):
        response = client.post("/reset", data={"csrf_token": csrf_token(client, "/reset"),
                                                "identifier": identifier},
                               follow_redirects=True)
        # CSRF tokens are signed with the current second: strip them (the hidden field
        # and the meta tag htmx reads), or two answers a second apart differ.
        page = re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))
        answers.append((response.status_code,
                        re.sub(r'<meta name="csrf-token" content="[^"]*">', "", page)))
    assert answers[0] == answers[1]
    api = [client.post("/api/v1/auth/password-reset", json={"identifier": i})
           for i in ("alice", "nobody-here")]
    assert [r.status_code for r in api] == [202, 202]
    assert api[0].get_json() == api[1].get_json()


def test_reset_token_sets_the_password_once(app, client, db):
    user = gen_user("alice")
    token = reset_token(app)
    page = client.get(f"/reset/{token}").get_data(as_text=True)
    response = client.post(f"/reset/{token}", data={"csrf_token": csrf_from(page),
                                                      "password": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    again = client.post(f"/reset/{token}", data={"csrf_token": csrf_from(page),
                                                  "password": "yet-another-passphrase-9"})
    assert again.headers["Location"] == "/reset"
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_reset_token_expires_after_thirty_minutes(app, client, db, clock):
    gen_user("alice")
    token = reset_token(app)
    clock.advance(minutes=31)
    response = client.post("/api/v1/auth/password-reset/confirm",
                           json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "token" in response.get_json()["error"]["fields"]


def test_reset_token_within_thirty_minutes_works_and_ends_sessions(app, client, db, clock,
                                                                   api_token):
    user = gen_user("alice")
    raw = api_token(user)
    token = reset_token(app)
    clock.advance(minutes=29)
    response = client.post("/api/v1/auth/password-reset/confirm",
                           json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_tampered_reset_token_is_refused(app, client, db):
    gen_user("alice")
    token = reset_token(app)
    # Change a fully significant signature character (the last one of unpadded base64
    # carries spare bits, and the old ``[:-2] + "xx"`` left a token ending in "xx" intact).
    tampered = token[:-2] + ("B" if token[-2] == "A" else "A") + token[-1]
    response = client.post("/api/v1/auth/password-reset/confirm",
                           json={"token": tampered, "password": NEW_PASSWORD})
    assert response.status_code == 422


def test_cli_prints_a_reset_link(app, db, runner):
    gen_user("alice")
    result = runner.invoke(lts, ["reset-password", "alice"])
    assert result.exit_code == 0, result.output
    link = re.search(r"(http://\S+/reset/\S+)", result.output).group(1)
    assert link.startswith("http://127.0.0.1:8000/reset/")
    missing = runner.invoke(lts, ["reset-password", "nobody"])
    assert missing.exit_code != 0


@pytest.mark.parametrize("app_overrides", [{"smtp_host": "mail.example", "smtp_from":
                                            "lts@example.com", "smtp_user": "lts",
                                            "smtp_password": "smtp-secret",
                                            "public_url": "https://lts.example.com"}])
def test_reset_link_is_mailed_when_smtp_is_configured(app, client, db, monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            self.host = host

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            pass

        def login(self, user, password):
            pass

        def send_message(self, message):
            sent.append(message)

    monkeypatch.setattr("lts.services.auth_reset.smtplib.SMTP", FakeSMTP)
    gen_user("alice")
    response = client.post("/api/v1/auth/password-reset", json={"identifier": "alice"})
    assert response.status_code == 202
    assert outbox(app).wait_idle(10)  # the mail leaves after the response
    db.session.rollback()  # end this session's snapshot: the outbox wrote since
    assert len(sent) == 1 and sent[0]["To"] == "alice@example.com"
    assert "https://lts.example.com/reset/" in sent[0].get_content()
    row = db.session.scalar(select(AuditLog).where(
        AuditLog.action == "password_reset.requested"))
    assert row.details == {"delivered": "queued"}
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "password_reset.mailed"))
    assert row.details == {"delivered": "smtp"} and row.outcome == "ok"


def test_registration_when_open(client, db):
    assert client.post("/api/v1/auth/register", json={
        "username": "newbie", "email": "n@example.com", "password": NEW_PASSWORD}
    ).status_code == 404


@pytest.mark.parametrize("app_overrides", [{"registration_open": True}])
def test_registration_page_creates_a_user_account(client, db):
    page = client.get("/register").get_data(as_text=True)
    bad = client.post("/register", data={"csrf_token": csrf_from(page), "username": "newbie",
                                         "email": "n@example.com", "password": "password"})
    assert bad.status_code == 422
    assert "must be at least 12 characters long" in bad.get_data(as_text=True)
    ok = client.post("/register", data={"csrf_token": csrf_from(page), "username": "newbie",
                                        "email": "n@example.com", "password": NEW_PASSWORD})
    assert ok.status_code == 302
    api = client.post("/api/v1/auth/register", json={
        "username": "other", "email": "o@example.com", "password": NEW_PASSWORD})
    assert api.status_code == 201 and api.get_json()["role"] == "user"
    assert db.session.scalar(select(UserSession)) is None  # registering does not log in
