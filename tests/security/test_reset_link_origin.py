"""Issue 11, finding 1: reset links come from ``public_url``, never from the Host header.

Before the fix, ``POST /api/v1/auth/password-reset`` with ``Host: evil.example.com``
mailed ``http://evil.example.com/reset/<valid token>`` to the account's owner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from lts import create_app
from lts.cli import lts
from lts.config import ConfigError
from lts.models import AuditLog
from lts.security.hosts import trusted_hosts
from lts.services.outbox import outbox
from tests.conftest import make_test_app
from tests.factories import gen_user
from tests.helpers import csrf_from, csrf_token
from tests.security.smtp_server import SlowSMTPServer

EVIL = {"Host": "evil.example.com"}


@pytest.fixture
def smtp() -> Iterator[SlowSMTPServer]:
    with SlowSMTPServer() as server:
        yield server


@pytest.fixture
def app_overrides(smtp: SlowSMTPServer) -> dict[str, object]:
    return smtp.settings()


def reset_requests(db) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.action == "password_reset.requested")))


def test_api_reset_with_a_forged_host_is_refused_and_mails_nothing(app, client, db, smtp):
    gen_user("alice")
    response = client.post("/api/v1/auth/password-reset", json={"identifier": "alice"},
                           headers=EVIL)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "untrusted_host" and "trusted_hosts" in error["message"]
    assert outbox(app).wait_idle(10)
    assert smtp.messages == []
    assert reset_requests(db) == []


def test_reset_pages_with_a_forged_host_are_refused(app, client, db, smtp):
    gen_user("alice")
    token = app.extensions["lts.aaa"].make_reset_token("alice")[1]
    page = client.get("/reset", headers=EVIL)
    assert page.status_code == 400 and "trusted_hosts" in page.get_data(as_text=True)
    assert client.get(f"/reset/{token}", headers=EVIL).status_code == 400
    form = {"csrf_token": csrf_token(client, "/reset"), "identifier": "alice"}
    assert client.post("/reset", data=form, headers=EVIL).status_code == 400
    assert outbox(app).wait_idle(10)
    assert smtp.messages == []


@pytest.mark.parametrize("host", ["lts.example.org", "localhost", "127.0.0.1:8000",
                                  "localhost:5000"])
def test_the_public_host_and_local_names_are_answered(client, db, host):
    assert client.get("/login", headers={"Host": host}).status_code == 200


def test_the_mailed_link_uses_public_url_whatever_host_the_request_named(app, client, db,
                                                                         smtp):
    gen_user("alice")
    page = client.get("/reset", headers={"Host": "127.0.0.1:8000"}).get_data(as_text=True)
    response = client.post("/reset", data={"csrf_token": csrf_from(page),
                                           "identifier": "alice"},
                           headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 302
    api = client.post("/api/v1/auth/password-reset", json={"identifier": "alice@example.com"})
    assert api.status_code == 202
    mails = smtp.wait_for(2)
    links = [re.search(r"\S+/reset/\S+", mail.get_payload(decode=True).decode()).group(0)
             for mail in mails]
    assert all(link.startswith("https://lts.example.org/reset/") for link in links), links
    assert {mail["To"] for mail in mails} == {"alice@example.com"}


def test_a_public_url_under_a_path_keeps_its_path(tmp_path, database_path, smtp):
    app = make_test_app(f"sqlite:///{database_path}", tmp_path,
                        **smtp.settings(public_url="https://example.org/lts/"))
    with app.app_context():
        from lts.extensions import db
        from lts.services.auth_reset import reset_link

        assert reset_link("abc").startswith("https://example.org/lts/reset/abc")
        db.engine.dispose()


def test_mail_without_public_url_is_refused_at_start_with_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"public_url.*must be set when smtp_host is set"):
        create_app({"smtp_host": "mail.example.org", "smtp_from": "lts@example.org",
                    "secret_key": "x"}, instance_path=tmp_path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("public_url", "javascript:alert(1)", "absolute http:// or https:// URL"),
    ("public_url", "lts.example.org", "absolute http:// or https:// URL"),
    ("public_url", "https://user:pw@lts.example.org", "credentials"),
    ("public_url", "https://lts.example.org/?next=x", "query"),
    ("trusted_hosts", "lts.example.org, evil host", "is not a host name"),
    ("trusted_hosts", "lts.example.org/path", "is not a host name"),
    ("reset_rate_limit", "often", "expected a rate"),
])
def test_bad_origin_settings_are_refused_naming_the_key(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=f"key '{key}'.*{re.escape(message)}"):
        create_app({key: value, "secret_key": "x"}, instance_path=tmp_path)


def test_default_trusted_hosts_are_the_public_host_the_listen_address_and_local_names():
    assert trusted_hosts({"public_url": "https://LTS.example.org:8443/x", "host": "10.0.0.5",
                          "trusted_hosts": ""}) == [
        "lts.example.org", "10.0.0.5", "localhost", "127.0.0.1"]
    assert trusted_hosts({"public_url": "", "host": "0.0.0.0", "trusted_hosts": ""}) == [
        "localhost", "127.0.0.1"]
    assert trusted_hosts({"public_url": "https://a.example", "host": "127.0.0.1",
                          "trusted_hosts": "b.example, .c.example"}) == ["b.example",
                                                                         ".c.example"]


def test_explicit_trusted_hosts_replace_the_defaults(tmp_path, database_path):
    app = make_test_app(f"sqlite:///{database_path}", tmp_path,
                        trusted_hosts=".example.org")
    client = app.test_client()
    assert client.get("/login", headers={"Host": "lts.example.org"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    with app.app_context():
        from lts.extensions import db

        db.engine.dispose()


def test_cli_reset_link_uses_public_url(app, db, runner):
    gen_user("alice")
    result = runner.invoke(lts, ["reset-password", "alice"])
    assert result.exit_code == 0, result.output
    assert "https://lts.example.org/reset/" in result.output
    other = runner.invoke(lts, ["reset-password", "alice", "--base-url",
                                "https://admin.example.net"])
    assert "https://admin.example.net/reset/" in other.output
