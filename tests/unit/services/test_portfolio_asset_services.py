"""Portfolio and asset services: scoping, validation through plugins, versions, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lts.models import Asset, AuditLog, Order, Portfolio
from lts.plugins import config_secrets
from lts.services import assets, portfolios
from lts.services.access import etag_of
from tests.factories import gen_asset, gen_portfolio, gen_user


@pytest.fixture
def people(db):
    return {"alice": gen_user("alice"), "bob": gen_user("bob"),
            "root": gen_user("root", role="admin")}


def test_create_portfolio_fills_defaults_and_audits(db, people):
    p = portfolios.create_portfolio(people["alice"], {"name": " Main ", "total_capital": 500})
    assert p.name == "Main" and p.user_id == people["alice"].id
    assert p.portfolio_plugin == "equal_weight" and p.portfolio_latency >= 1
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "portfolio.create")).one()
    assert row.resource == f"portfolio:{p.id}" and row.user_id == people["alice"].id


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "", "total_capital": 1}, "name"),
    ({"name": "x", "total_capital": 0}, "total_capital"),
    ({"name": "x", "total_capital": 1, "portfolio_latency": 0}, "portfolio_latency"),
    ({"name": "x", "total_capital": 1, "max_drawdown_pct": 150}, "max_drawdown_pct"),
    ({"name": "x", "total_capital": 1, "portfolio_plugin": "nope"}, "portfolio_plugin"),
    ({"name": "x", "total_capital": 1, "bogus": 1}, "bogus"),
])
def test_invalid_portfolio_names_the_field_and_writes_nothing(db, people, data, field):
    with pytest.raises(ValidationFailed) as caught:
        portfolios.create_portfolio(people["alice"], data)
    assert field in caught.value.fields
    assert db.session.scalar(select(Portfolio.id)) is None


def test_plugin_config_error_names_plugin_field(db, people):
    with pytest.raises(ValidationFailed) as caught:
        portfolios.create_portfolio(people["alice"], {
            "name": "x", "total_capital": 1, "portfolio_plugin": "fixed_weights",
            "portfolio_config": {"weights": "not a mapping"}})
    assert "weights" in caught.value.fields["portfolio_config"]


def test_duplicate_name_is_a_conflict(db, people):
    portfolios.create_portfolio(people["alice"], {"name": "A", "total_capital": 1})
    with pytest.raises(Conflict):
        portfolios.create_portfolio(people["alice"], {"name": "A", "total_capital": 1})
    portfolios.create_portfolio(people["bob"], {"name": "A", "total_capital": 1})


def test_a_name_clash_names_the_field_and_an_update_never_clashes_with_itself(db, people):
    first = portfolios.create_portfolio(people["alice"], {"name": "A", "total_capital": 1})
    second = portfolios.create_portfolio(people["alice"], {"name": "B", "total_capital": 1})
    portfolios.update_portfolio(people["alice"], first.id, {"name": " A ", "description": "x"})
    with pytest.raises(Conflict) as caught:
        portfolios.update_portfolio(people["alice"], second.id, {"name": "A"})
    assert caught.value.fields == {"name": ["already used by another of your portfolios"]}
    p = gen_portfolio(people["alice"])
    asset = assets.create_asset(people["alice"], p.id, {"symbol": "EUR_USD"})
    other = assets.create_asset(people["alice"], p.id, {"symbol": "GBP_USD"})
    assets.update_asset(people["alice"], asset.id, {"symbol": "EUR_USD", "name": "euro"})
    with pytest.raises(Conflict) as caught:
        assets.update_asset(people["alice"], other.id, {"symbol": " EUR_USD"})
    assert caught.value.fields == {"symbol": ["already in this portfolio"]}


def test_users_see_only_their_portfolios_admins_all(db, people):
    a = gen_portfolio(people["alice"])
    b = gen_portfolio(people["bob"])
    assert [p.id for p in portfolios.list_portfolios(people["alice"]).items] == [a.id]
    assert portfolios.list_portfolios(people["root"]).total == 2
    assert [p.id for p in portfolios.list_portfolios(
        people["root"], user_id=people["bob"].id).items] == [b.id]
    with pytest.raises(Forbidden):
        portfolios.list_portfolios(people["alice"], user_id=people["bob"].id)
    with pytest.raises(NotFound):
        portfolios.get_portfolio(people["alice"], b.id)
    with pytest.raises(NotFound):
        portfolios.update_portfolio(people["alice"], b.id, {"name": "mine"})


def test_stale_version_is_a_conflict(db, people):
    p = gen_portfolio(people["alice"])
    seen, tag = p.updated_at, etag_of(p)
    portfolios.update_portfolio(people["alice"], p.id, {"description": "first"},
                                expected_updated_at=seen)
    with pytest.raises(Conflict):
        portfolios.update_portfolio(people["alice"], p.id, {"description": "second"},
                                    expected_updated_at=seen - timedelta(0))
    with pytest.raises(Conflict):
        portfolios.update_portfolio(people["alice"], p.id, {"description": "x"}, if_match=tag)
    assert db.session.get(Portfolio, p.id).description == "first"


def test_portfolio_with_orders_cannot_be_deleted(db, people):
    p = gen_portfolio(people["alice"])
    asset = gen_asset(p)
    db.session.add(Order(asset_id=asset.id, side="buy", quantity=1, client_order_id="c-1"))
    db.session.commit()
    with pytest.raises(Conflict, match="deactivate"):
        portfolios.delete_portfolio(people["alice"], p.id)
    with pytest.raises(Conflict, match="deactivate"):
        assets.delete_asset(people["alice"], asset.id)
    empty = gen_portfolio(people["alice"])
    gen_asset(empty)
    portfolios.delete_portfolio(people["alice"], empty.id)
    assert db.session.get(Portfolio, empty.id) is None


def test_kill_switch_halts_and_resumes(db, people):
    p = gen_portfolio(people["alice"])
    assert portfolios.set_kill_switch(people["alice"], p.id, True).risk_state == "halted"
    assert portfolios.set_kill_switch(people["root"], p.id, False).risk_state == "active"
    with pytest.raises(NotFound):
        portfolios.set_kill_switch(people["bob"], p.id, True)


def test_asset_plugins_are_validated_by_the_registry(db, people):
    p = gen_portfolio(people["alice"])
    with pytest.raises(ValidationFailed) as caught:
        assets.create_asset(people["alice"], p.id, {
            "symbol": "EUR_USD", "strategy_plugin": "nope",
            "broker_config": {"spread_bps": -1}})
    assert "unknown strategy plugin" in caught.value.fields["strategy_plugin"][0]
    assert "spread_bps" in caught.value.fields["broker_config"]
    assert db.session.scalar(select(Asset.id)) is None
    asset = assets.create_asset(people["alice"], p.id, {"symbol": "EUR_USD"})
    assert asset.broker_plugin == "paper"
    with pytest.raises(Conflict):
        assets.create_asset(people["alice"], p.id, {"symbol": "EUR_USD"})
    with pytest.raises(NotFound):
        assets.create_asset(people["bob"], p.id, {"symbol": "GBP_USD"})


def test_switching_a_plugin_without_its_config_drops_the_old_plugins_config(db, people):
    alice = people["alice"]
    p = portfolios.create_portfolio(alice, {"name": "P", "total_capital": 100,
                                            "portfolio_plugin": "inverse_volatility",
                                            "portfolio_config": {"window": 30}})
    p = portfolios.update_portfolio(alice, p.id, {"portfolio_plugin": "equal_weight"})
    assert p.portfolio_config == {}
    asset = assets.create_asset(alice, p.id, {"symbol": "EUR_USD",
                                              "strategy_plugin": "sma_cross",
                                              "strategy_config": {"fast": 5}})
    kept = assets.update_asset(alice, asset.id, {"strategy_plugin": "sma_cross"})
    assert kept.strategy_config["fast"] == 5  # the same plugin keeps its settings
    switched = assets.update_asset(alice, asset.id, {"strategy_plugin": "prediction_threshold"})
    assert switched.strategy_config == {}


def test_asset_list_is_scoped(db, people):
    mine = gen_asset(gen_portfolio(people["alice"]))
    gen_asset(gen_portfolio(people["bob"]))
    assert [a.id for a in assets.list_assets(people["alice"]).items] == [mine.id]
    assert assets.list_assets(people["root"]).total == 2


def test_broker_secrets_are_encrypted_masked_and_kept(app, db, people):
    asset = gen_asset(gen_portfolio(people["alice"]))
    asset.broker_config = config_secrets.encrypt_config({"api_key": "k-123"}, {"api_key"})
    db.session.commit()
    stored = db.session.get(Asset, asset.id).broker_config["api_key"]
    assert stored.startswith(config_secrets.PREFIX) and "k-123" not in stored
    assert assets.public_broker_config(asset) == {"api_key": config_secrets.MASK}
    assert config_secrets.decrypt_config(asset.broker_config) == {"api_key": "k-123"}
    with pytest.raises(config_secrets.SecretError):
        config_secrets.decrypt_value(stored, "another key")


def test_broker_secret_round_trip_without_a_schema():
    key = "k" * 32
    config = config_secrets.encrypt_config({"token": "t", "spread": 1}, {"token"}, key)
    assert config["spread"] == 1 and config["token"] != "t"
    assert config_secrets.decrypt_config(config, key) == {"token": "t", "spread": 1}
    merged = config_secrets.merge_update(config, {"token": config_secrets.MASK}, {"token"})
    assert merged["token"] == config["token"]
