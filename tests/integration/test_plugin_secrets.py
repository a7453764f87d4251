"""Secret config fields of every plugin kind: encrypted at rest, write-only, masked.

Broker secrets had this from the start; a pipeline's data API key or a portfolio
plugin's token is just as sensitive. Each test goes through the real API and pages.
"""

from __future__ import annotations

import pytest
from marshmallow import fields

from lts.extensions import db as database
from lts.models import Asset, Portfolio
from lts.plugins import config_secrets
from lts.plugins.portfolio.equal_weight import EqualWeight
from lts.plugins.registry import get_registry
from lts.trading.manual import _plugin_source
from lts.trading.units import build_unit, portfolio_info
from tests.factories import gen_portfolio
from tests.trading_fakes import KeyedSynthetic

PIPELINE_KEY = "pk-live-123"
PORTFOLIO_TOKEN = "pt-live-456"


class TokenWeightsConfig(EqualWeight.config_schema):  # type: ignore[name-defined,misc]
    """Equal weights, fetched with a (pretend) service token."""

    service_token = fields.String(load_default="", metadata={
        "secret": True, "description": "Token of the weights service."})


class TokenWeights(EqualWeight):
    """Equal weights behind a token."""

    name = "token_weights"
    interface_version = "1.0"
    config_schema = TokenWeightsConfig


@pytest.fixture(autouse=True)
def keyed_plugins(app):
    registry = get_registry(app)
    assert registry.register("pipeline", KeyedSynthetic, origin="test") is not None
    assert registry.register("portfolio", TokenWeights, origin="test") is not None


def test_a_pipeline_secret_is_encrypted_masked_and_kept(app, client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_alice,
                          json={"symbol": "EUR_USD", "pipeline_plugin": "keyed_synthetic",
                                "pipeline_config": {"api_key": PIPELINE_KEY, "seed": 3}})
    assert created.status_code == 201, created.get_json()
    asset_id = created.get_json()["id"]
    assert PIPELINE_KEY not in created.get_data(as_text=True)
    assert created.get_json()["pipeline_config"]["api_key"] == config_secrets.MASK
    stored = database.session.get(Asset, asset_id).pipeline_config
    assert stored["api_key"].startswith(config_secrets.PREFIX) and stored["seed"] == 3
    for url in (f"/api/v1/assets/{asset_id}", f"/api/v1/portfolios/{portfolio.id}/assets"):
        shown = client.get(url, headers=as_alice)
        assert shown.status_code == 200 and PIPELINE_KEY not in shown.get_data(as_text=True)
        assert config_secrets.PREFIX not in shown.get_data(as_text=True)

    for change in ({"name": "Euro"}, {"pipeline_config": {"api_key": config_secrets.MASK,
                                                          "seed": 4}}):
        response = client.patch(f"/api/v1/assets/{asset_id}", headers=as_alice, json=change)
        assert response.status_code == 200, response.get_json()
    database.session.expire_all()
    asset = database.session.get(Asset, asset_id)
    assert config_secrets.decrypt_config(asset.pipeline_config) == {
        **asset.pipeline_config, "api_key": PIPELINE_KEY, "seed": 4}
    unit = build_unit(_plugin_source(app), asset)
    assert unit.pipeline.config["api_key"] == PIPELINE_KEY
    assert "api_key" not in unit.info.pipeline_config


def test_the_asset_form_shows_a_pipeline_secret_as_an_empty_password(app, client, alice,
                                                                     as_alice, login_as):
    portfolio = gen_portfolio(alice)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_alice,
                          json={"symbol": "EUR_USD", "pipeline_plugin": "keyed_synthetic",
                                "pipeline_config": {"api_key": PIPELINE_KEY}})
    login_as(alice)
    page = client.get(f"/assets/{created.get_json()['id']}/edit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and PIPELINE_KEY not in html
    assert config_secrets.PREFIX not in html
    assert 'name="pipeline_config-api_key"' in html
    field = html[html.index('name="pipeline_config-api_key"') - 200:]
    assert 'type="password"' in field[:600]


def test_a_portfolio_plugin_secret_is_encrypted_masked_and_kept(app, client, alice, as_alice):
    created = client.post("/api/v1/portfolios", headers=as_alice, json={
        "name": "tokened", "total_capital": 1000, "portfolio_plugin": "token_weights",
        "portfolio_config": {"service_token": PORTFOLIO_TOKEN}})
    assert created.status_code == 201, created.get_json()
    portfolio_id = created.get_json()["id"]
    assert created.get_json()["portfolio_config"] == {"service_token": config_secrets.MASK}
    stored = database.session.get(Portfolio, portfolio_id).portfolio_config
    assert stored["service_token"].startswith(config_secrets.PREFIX)
    for url in ("/api/v1/portfolios", f"/api/v1/portfolios/{portfolio_id}"):
        shown = client.get(url, headers=as_alice)
        assert shown.status_code == 200 and PORTFOLIO_TOKEN not in shown.get_data(as_text=True)
        assert config_secrets.PREFIX not in shown.get_data(as_text=True)
    renamed = client.patch(f"/api/v1/portfolios/{portfolio_id}", headers=as_alice,
                           json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.get_json()
    database.session.expire_all()
    portfolio = database.session.get(Portfolio, portfolio_id)
    assert config_secrets.decrypt_config(portfolio.portfolio_config) == {
        "service_token": PORTFOLIO_TOKEN}
    allocator = _plugin_source(app).get("portfolio", "token_weights",
                                        portfolio.portfolio_config)
    assert allocator.config["service_token"] == PORTFOLIO_TOKEN
    assert portfolio_info(portfolio).config == {}
