"""Issue 11, finding 9: text typed at a failed login is not kept verbatim for unknown names.

People type passwords into the username box. Before the fix the audit row of a failed
login kept whatever was typed; now an unknown name is stored as a short keyed digest
(HMAC with the secret key), so repeated attempts still show, and the text does not.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from lts.models import AuditLog
from lts.plugins.aaa.base import unknown_name_digest
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_token

TYPED_SECRET = "Hunter2-my-Bank-PIN-0042"


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"login_rate_limit": "1000 per minute", "reset_rate_limit": "1000 per minute"}


def rows(db, action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def stored_text(db) -> str:
    """Every audit row as text: what an admin or an audit export would see."""
    return json.dumps([[r.action, r.resource, r.details] for r in
                       db.session.scalars(select(AuditLog))], default=str)


def test_unknown_username_at_a_failed_login_is_stored_as_a_keyed_digest(client, db):
    client.post("/api/v1/auth/login", json={"username": TYPED_SECRET, "password": "x"})
    client.post("/login", data={"csrf_token": csrf_token(client), "username": TYPED_SECRET,
                                "password": "x"})
    client.post("/api/v1/auth/login", json={"username": " hunter2-my-bank-pin-0042 ",
                                            "password": "x"})
    client.post("/api/v1/auth/login", json={"username": "someone-else", "password": "x"})
    assert TYPED_SECRET.lower() not in stored_text(db).lower()
    failed = rows(db, "login.failed")
    digests = [row.details["username_digest"] for row in failed]
    assert all(re.fullmatch(r"[0-9a-f]{12}", d) for d in digests)
    # The same name (case and outer spaces aside) gives the same digest: repeats show.
    assert digests[0] == digests[1] == digests[2] != digests[3]
    assert all(row.details["reason"] == "unknown_user" for row in failed)


def test_the_digest_depends_on_the_secret_key():
    assert unknown_name_digest("key one", TYPED_SECRET) != unknown_name_digest(
        "key two", TYPED_SECRET)


def test_unknown_identifier_of_a_reset_request_is_stored_as_a_digest(client, db):
    client.post("/api/v1/auth/password-reset", json={"identifier": TYPED_SECRET})
    assert TYPED_SECRET.lower() not in stored_text(db).lower()
    (row,) = rows(db, "password_reset.requested")
    assert row.details["matched"] is False
    assert re.fullmatch(r"[0-9a-f]{12}", row.details["identifier_digest"])


def test_known_usernames_keep_pointing_at_their_account(client, db):
    user = gen_user("alice")
    client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    (row,) = rows(db, "login.failed")
    assert row.user_id == user.id and row.resource == f"user:{user.id}"
    assert DEFAULT_PASSWORD not in stored_text(db) and "wrong" not in stored_text(db)
