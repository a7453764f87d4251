"""Secrets inside a wrapping pipeline's ``source_config`` are secrets like top-level ones.

``arima`` wraps the ``oanda`` candle pipeline, whose ``api_token`` sits in
``pipeline_config.source_config``: stored encrypted, masked in every answer and page,
kept when sent back masked, decrypted only for the plugin that uses it, and never in an
audit row, a log line or the view other plugins get of the asset.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Asset, AuditLog
from lts.plugins import config_secrets
from lts.trading.plugin_source import RegistryPluginSource
from lts.trading.units import build_unit
from tests.factories import gen_portfolio, gen_user
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN


@pytest.fixture
def alice(db):
    return gen_user("alice")


def wrapped_body(fake: Any) -> dict[str, Any]:
    """An asset whose arima pipeline wraps oanda candles (the token nested)."""
    return {"symbol": "EUR/USD", "strategy_plugin": "sma_cross",
            "strategy_config": {"fast": 10, "slow": 500},
            "pipeline_plugin": "arima",
            "pipeline_config": {"source": "oanda", "window": 20, "horizon": 2,
                                "source_config": {"api_token": TOKEN, "base_url": fake.url,
                                                  "granularity": "M1", "lookback": 40}},
            "broker_plugin": "paper", "broker_config": {}}


def test_a_nested_token_is_encrypted_masked_kept_and_used_only_by_its_plugin(
        app, client, alice, auth_headers, login_as, fake_v20, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth_headers(alice)
    portfolio = gen_portfolio(alice, portfolio_latency=1)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=headers,
                          json=wrapped_body(fake_v20))
    assert created.status_code == 201, created.get_json()
    asset_id = created.get_json()["id"]
    shown = created.get_json()["pipeline_config"]["source_config"]
    assert shown["api_token"] == config_secrets.MASK and shown["base_url"] == fake_v20.url

    stored = database.session.get(Asset, asset_id)
    assert stored.pipeline_config["source_config"]["api_token"].startswith(
        config_secrets.PREFIX)

    # Sent back masked (a form round trip) with another change: the token is kept.
    body = created.get_json()["pipeline_config"]
    body["source_config"]["lookback"] = 50
    patched = client.patch(f"/api/v1/assets/{asset_id}", headers=headers,
                           json={"pipeline_config": body})
    assert patched.status_code == 200, patched.get_json()
    database.session.expire_all()
    stored = database.session.get(Asset, asset_id)
    kept = stored.pipeline_config["source_config"]
    assert kept["lookback"] == 50
    assert config_secrets.decrypt_value(kept["api_token"], app.config["SECRET_KEY"]) == TOKEN

    # The source pipeline reaches OANDA with the decrypted token (the fake refuses any
    # other); the view of the asset other plugins get holds no token, nested or not.
    unit = build_unit(RegistryPluginSource(app), stored)
    assert unit.pipeline.source.config["api_token"] == TOKEN
    snapshot = unit.pipeline.source.snapshot(unit.info, datetime.now(UTC))
    assert not snapshot.candles.empty
    assert "api_token" not in unit.info.pipeline_config["source_config"]
    assert TOKEN not in str(unit.info)

    seen = [created.get_data(as_text=True), patched.get_data(as_text=True)]
    for url in (f"/api/v1/assets/{asset_id}", f"/api/v1/portfolios/{portfolio.id}/assets"):
        seen.append(client.get(url, headers=headers).get_data(as_text=True))
    login_as(alice)
    for url in (f"/assets/{asset_id}", f"/assets/{asset_id}/edit"):
        page = client.get(url)
        assert page.status_code == 200, url
        seen.append(page.get_data(as_text=True))
    audit = [str(row.details) for row in database.session.scalars(select(AuditLog))]
    for text in seen + audit:
        assert TOKEN not in text
        assert ACCOUNT not in text
    assert TOKEN not in caplog.text


def test_nested_secret_paths_follow_the_sources_schema():
    # account_id is a secret by the schema's flag only (its name is no credential's).
    config = {"source": "x", "source_config": {"api_token": "t", "account_id": "a",
                                               "inner": {"password": "p", "n": 1}}}
    names = config_secrets.secret_field_names(None, config)
    assert names == {"source_config.api_token", "source_config.inner.password"}
    encrypted = config_secrets.encrypt_config(config, names | {"source_config.account_id"},
                                              "k" * 32)
    assert encrypted["source_config"]["account_id"].startswith(config_secrets.PREFIX)
    assert encrypted["source_config"]["inner"]["password"].startswith(config_secrets.PREFIX)
    assert encrypted["source_config"]["inner"]["n"] == 1
    assert config_secrets.decrypt_config(encrypted, "k" * 32) == config
    masked = config_secrets.mask_config(encrypted)
    assert masked["source_config"] == {"api_token": config_secrets.MASK,
                                       "account_id": config_secrets.MASK,
                                       "inner": {"password": config_secrets.MASK, "n": 1}}
    assert config_secrets.without_secrets(config, names) == {
        "source": "x", "source_config": {"account_id": "a", "inner": {"n": 1}}}
