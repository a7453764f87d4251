"""An ``oanda`` asset through the real API, pages and engine: the token never shows again.

The token (and the account id, a secret too per SPEC 3) is typed once; after that it
is stored encrypted and must not appear in any API answer, page, audit row or log line
(captured at DEBUG, the HTTP libraries' own logging included).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Asset, AuditLog, Order
from lts.plugins import config_secrets as broker_secrets
from lts.plugins.broker.oanda import OandaBroker
from tests.factories import gen_portfolio, gen_user
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN
from tests.helpers import tick_once


def asset_body(fake: Any, **broker: Any) -> dict[str, Any]:
    """An asset on the oanda broker and pipeline, as a user would send it."""
    connection = {"api_token": TOKEN, "base_url": fake.url}
    # slow > lookback: sma_cross holds, so the tick never takes the margin the manual
    # order below needs (the fake's prices follow the wall clock).
    return {"symbol": "EUR/USD", "strategy_plugin": "sma_cross",
            "strategy_config": {"fast": 10, "slow": 500},
            "pipeline_plugin": "oanda",
            "pipeline_config": {**connection, "granularity": "M1", "lookback": 60},
            "broker_plugin": "oanda",
            "broker_config": {**connection, "account_id": ACCOUNT, **broker}}


def test_the_token_is_encrypted_and_never_shown_again(app, client, alice, auth_headers,
                                                      login_as, fake_v20, caplog):
    caplog.set_level(logging.DEBUG)
    OandaBroker._links.clear()  # the fake runs on the wall clock, like the manual order
    headers = auth_headers(alice)
    portfolio = gen_portfolio(alice, portfolio_latency=1)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=headers,
                          json=asset_body(fake_v20))
    assert created.status_code == 201, created.get_json()
    asset_id = created.get_json()["id"]
    assert created.get_json()["broker_config"]["api_token"] == broker_secrets.MASK
    assert created.get_json()["broker_config"]["account_id"] == broker_secrets.MASK

    stored = database.session.get(Asset, asset_id)
    for config in (stored.broker_config, stored.pipeline_config):
        assert config["api_token"].startswith(broker_secrets.PREFIX)
    assert stored.broker_config["account_id"].startswith(broker_secrets.PREFIX)

    # The engine trades with the decrypted token (the fake checks it on every call).
    now = datetime.now(UTC)
    report = tick_once(app, now)
    assert report.errors == (), report.errors
    assert any(path.endswith("/candles") for _, path in fake_v20.requests)
    placed = client.post(f"/api/v1/assets/{asset_id}/orders", headers=headers, json={
        "side": "buy", "quantity": 100, "stop_loss": 1.0, "take_profit": 1.2})
    assert placed.status_code == 201, placed.get_json()
    assert placed.get_json()["status"] == "filled"
    assert fake_v20.placed[placed.get_json()["client_order_id"]] == 1

    seen = [created.get_data(as_text=True), placed.get_data(as_text=True)]
    for url in (f"/api/v1/assets/{asset_id}", f"/api/v1/portfolios/{portfolio.id}/assets",
                "/api/v1/orders", "/api/v1/positions", "/api/v1/plugins"):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, url
        seen.append(answer.get_data(as_text=True))
    login_as(alice)
    for url in (f"/assets/{asset_id}", f"/assets/{asset_id}/edit",
                f"/portfolios/{portfolio.id}", "/"):
        page = client.get(url)
        assert page.status_code == 200, url
        seen.append(page.get_data(as_text=True))
    asset_page = seen[-4]
    assert 'id="asset-broker"' in asset_page and "matches LTS" in asset_page
    edit = seen[-3]
    field = edit[edit.index('name="broker_config-api_token"') - 200:]
    assert 'type="password"' in field[:600]

    audit = [str(row.details) for row in database.session.scalars(select(AuditLog))]
    responses = [str(order.broker_response) for order in database.session.scalars(
        select(Order))]
    for text in seen + audit + responses:
        assert TOKEN not in text
        assert ACCOUNT not in text
    assert TOKEN not in caplog.text


def test_a_live_environment_is_refused_with_a_message_naming_allow_live(
        client, alice, auth_headers, fake_v20):
    headers = auth_headers(alice)
    portfolio = gen_portfolio(alice)
    refused = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=headers,
                          json=asset_body(fake_v20, environment="live"))
    assert refused.status_code in (400, 422)
    assert "allow_live" in refused.get_data(as_text=True)
    assert TOKEN not in refused.get_data(as_text=True)
    assert database.session.scalars(select(Asset)).all() == []


def test_switching_allow_live_on_needs_an_admin_and_is_audited(
        client, alice, auth_headers, fake_v20):
    portfolio = gen_portfolio(alice)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets",
                          headers=auth_headers(alice), json=asset_body(fake_v20))
    asset_id = created.get_json()["id"]
    live = {"broker_config": {**asset_body(fake_v20)["broker_config"],
                              "environment": "live", "allow_live": True}}

    refused = client.patch(f"/api/v1/assets/{asset_id}", headers=auth_headers(alice),
                           json=live)
    assert refused.status_code == 403
    assert "allow_live" in refused.get_json()["error"]["message"]
    denied = database.session.scalars(select(AuditLog).where(
        AuditLog.action == "asset.allow_live")).one()
    assert (denied.outcome, denied.resource) == ("denied", f"asset:{asset_id}")
    database.session.expire_all()
    assert database.session.get(Asset, asset_id).broker_config.get("environment") != "live"
    also_refused = client.post(f"/api/v1/portfolios/{portfolio.id}/assets",
                               headers=auth_headers(alice),
                               json={**asset_body(fake_v20), "symbol": "GBP/USD", **live})
    assert also_refused.status_code == 403

    admin = gen_user("root", role="admin")
    switched = client.patch(f"/api/v1/assets/{asset_id}", headers=auth_headers(admin),
                            json=live)
    assert switched.status_code == 200, switched.get_json()
    row = database.session.scalars(select(AuditLog).where(
        AuditLog.action == "asset.update").order_by(AuditLog.id.desc())).first()
    assert row.details["allow_live"] == "switched on" and row.user_id == admin.id
    assert TOKEN not in str(row.details)
    # Kept on: later edits by the owner are not a switch and need no admin.
    renamed = client.patch(f"/api/v1/assets/{asset_id}", headers=auth_headers(alice),
                           json={"name": "Euro live"})
    assert renamed.status_code == 200, renamed.get_json()
