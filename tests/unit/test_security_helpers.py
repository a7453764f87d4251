"""Pure helpers: CR/LF neutralising, secret scrubbing, safe ``next`` targets, owners."""

from __future__ import annotations

import pytest

from lts.plugins.aaa.base import REDACTED, neutralise, scrub
from lts.security.authz import is_safe_next


@pytest.mark.parametrize("text,expected", [
    ("plain", "plain"),
    ("a\r\nb", "a\\r\\nb"),
    ("tab\there", "tab\\x09here"),
    ("bell\x07", "bell\\x07"),
])
def test_neutralise_escapes_control_characters(text, expected):
    assert neutralise(text) == expected


def test_neutralise_caps_length():
    assert len(neutralise("x" * 10_000)) == 500


def test_scrub_redacts_secret_keys_at_any_depth():
    details = {"password": "p", "new_password": "n", "token": "t", "api_key": "k",
               "broker_config": {"secret": "s", "account": "123"}, "items": [{"pwd": "x"}],
               "note": "line1\nline2", "count": 3, "ok": True}
    clean = scrub(details)
    assert clean["password"] == clean["new_password"] == clean["token"] == REDACTED
    assert clean["api_key"] == REDACTED
    assert clean["broker_config"] == {"secret": REDACTED, "account": "123"}
    assert clean["items"] == [{"pwd": REDACTED}]
    assert clean["note"] == "line1\\nline2" and clean["count"] == 3 and clean["ok"] is True


@pytest.mark.parametrize("target,safe", [
    ("/profile", True), ("/admin/audit?page=2", True), (None, False), ("", False),
    ("profile", False), ("//evil.example", False), ("/\\evil.example", False),
    ("https://evil.example/", False), ("/ok\r\nSet-Cookie: x", False),
    ("/%0d%0aLocation:x", True),  # still a local path: the browser stays on this site
])
def test_is_safe_next(target, safe):
    assert is_safe_next(target) is safe


def test_owner_resolution_follows_parents():
    from types import SimpleNamespace

    from lts.plugins.aaa.default import owner_id

    portfolio = SimpleNamespace(user_id=7)
    asset = SimpleNamespace(portfolio=portfolio)
    order = SimpleNamespace(asset=asset)
    assert owner_id(portfolio) == 7 and owner_id(asset) == 7 and owner_id(order) == 7
    assert owner_id(SimpleNamespace()) is None


def test_log_filter_escapes_cr_lf_in_messages(app, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="lts")
    logging.getLogger("lts").info("path %s", "/x\r\nINFO forged entry")
    assert caplog.records[-1].getMessage() == "path /x\\r\\nINFO forged entry"
