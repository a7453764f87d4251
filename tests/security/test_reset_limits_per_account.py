"""Issue 11, finding 13: reset requests are limited per account, not only per address.

Before the fix, anyone with many addresses could fill one person's mailbox with reset
mails. ``reset_rate_limit`` now caps the requests for one username or email, whatever
address asks, on the page and the API together; an unknown name is limited the same.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from lts.models import AuditLog
from tests.factories import gen_user
from tests.helpers import csrf_token

_addresses = (f"10.0.{i // 250}.{i % 250 + 1}" for i in itertools.count())


@pytest.fixture
def app_overrides() -> dict[str, object]:
    # Per-address limits wide open: only the per-account limit can refuse.
    return {"reset_rate_limit": "2 per hour", "login_rate_limit": "1000 per minute"}


def api_reset(client, identifier: str):
    return client.post("/api/v1/auth/password-reset", json={"identifier": identifier},
                       environ_base={"REMOTE_ADDR": next(_addresses)})


def page_reset(client, identifier: str):
    return client.post("/reset", data={"csrf_token": csrf_token(client, "/reset"),
                                       "identifier": identifier},
                       environ_base={"REMOTE_ADDR": next(_addresses)})


def test_one_account_gets_at_most_the_limit_from_many_addresses(client, db):
    gen_user("alice")
    gen_user("bob")
    assert [api_reset(client, "alice").status_code for _ in range(3)] == [202, 202, 429]
    assert api_reset(client, "bob").status_code == 202
    requested = db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "password_reset.requested"))
    assert requested == 3
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "rate_limited")) == 1


def test_page_and_api_share_the_budget_of_an_account_whatever_its_case(client, db):
    gen_user("alice")
    assert page_reset(client, "alice").status_code == 302
    assert api_reset(client, " ALICE ").status_code == 202
    assert page_reset(client, "Alice").status_code == 429


def test_unknown_accounts_are_limited_alike_so_the_limit_reveals_nothing(client, db):
    gen_user("alice")
    known = [api_reset(client, "alice").status_code for _ in range(3)]
    unknown = [api_reset(client, "nobody-here").status_code for _ in range(3)]
    assert known == unknown == [202, 202, 429]
