"""``/api/v1/portfolios`` and assets: CRUD, validation errors, versions, pagination."""

from __future__ import annotations

import pytest

from lts.extensions import db as database
from lts.models import Asset, AssetDecision, Order, Portfolio
from lts.plugins import config_secrets
from lts.plugins.registry import get_registry
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import KeyedPaper


@pytest.fixture
def root(db):
    return gen_user("root", role="admin")


def test_create_read_update_delete_portfolio(client, as_alice):
    created = client.post("/api/v1/portfolios", headers=as_alice,
                          json={"name": "Main", "total_capital": 1000})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["name"] == "Main" and body["risk_state"] == "active"
    assert body["created_at"].endswith("+00:00") and created.headers["ETag"]
    url = f"/api/v1/portfolios/{body['id']}"
    got = client.get(url, headers=as_alice)
    assert got.status_code == 200 and got.headers["ETag"] == created.headers["ETag"]
    patched = client.patch(url, headers={**as_alice, "If-Match": got.headers["ETag"]},
                           json={"description": "long only"})
    assert patched.status_code == 200 and patched.get_json()["description"] == "long only"
    stale = client.patch(url, headers={**as_alice, "If-Match": got.headers["ETag"]},
                         json={"description": "overwrite"})
    assert stale.status_code == 412
    assert stale.get_json()["error"]["code"] == "precondition_failed"
    old = client.patch(url, headers=as_alice, json={"description": "x",
                                                    "expected_updated_at": body["updated_at"]})
    assert old.status_code == 409
    assert client.delete(url, headers=as_alice).status_code == 204
    assert client.get(url, headers=as_alice).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"total_capital": 10}, "name"),
    ({"name": "x"}, "total_capital"),
    ({"name": "x", "total_capital": 0}, "total_capital"),
    ({"name": "x", "total_capital": "lots"}, "total_capital"),
    ({"name": "", "total_capital": 1}, "name"),
    ({"name": "x", "total_capital": 1, "portfolio_latency": 0}, "portfolio_latency"),
    ({"name": "x", "total_capital": 1, "max_drawdown_pct": 101}, "max_drawdown_pct"),
    ({"name": "x", "total_capital": 1, "portfolio_plugin": "nope"}, "portfolio_plugin"),
    ({"name": "x", "total_capital": 1, "portfolio_plugin": "fixed_weights",
      "portfolio_config": {"weights": 3}}, "portfolio_config"),
    ({"name": "x", "total_capital": 1, "colour": "red"}, "colour"),
])
def test_invalid_portfolio_is_a_422_naming_the_field(client, as_alice, body, field):
    response = client.post("/api/v1/portfolios", headers=as_alice, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert database.session.query(Portfolio).count() == 0


def test_plugin_config_error_names_the_plugin_field(client, as_alice):
    response = client.post("/api/v1/portfolios", headers=as_alice, json={
        "name": "x", "total_capital": 1, "portfolio_plugin": "fixed_weights",
        "portfolio_config": {"weights": 3}})
    assert "weights" in response.get_json()["error"]["fields"]["portfolio_config"]


def test_duplicate_name_is_a_409(client, as_alice):
    client.post("/api/v1/portfolios", headers=as_alice, json={"name": "A", "total_capital": 1})
    again = client.post("/api/v1/portfolios", headers=as_alice,
                        json={"name": "A", "total_capital": 1})
    assert again.status_code == 409 and "name" in again.get_json()["error"]["fields"]


def test_non_json_and_oversized_bodies_answer_the_error_shape(client, as_alice):
    text = client.post("/api/v1/portfolios", headers=as_alice, data="name=x",
                       content_type="text/plain")
    assert text.status_code == 415
    assert text.get_json()["error"]["code"] == "unsupported_media_type"
    broken = client.post("/api/v1/portfolios", headers=as_alice, data="{not json",
                         content_type="application/json")
    assert broken.status_code == 400 and "error" in broken.get_json()
    huge = client.post("/api/v1/portfolios", headers=as_alice,
                       data=b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}',
                       content_type="application/json")
    assert huge.status_code == 413
    assert huge.get_json()["error"]["code"] == "payload_too_large"


def test_pagination_edges_and_links(client, alice, as_alice):
    for i in range(5):
        gen_portfolio(alice, f"p{i}")
    first = client.get("/api/v1/portfolios?per_page=2", headers=as_alice).get_json()
    assert first["total"] == 5 and first["pages"] == 3 and len(first["items"]) == 2
    assert first["links"]["prev"] is None and "page=2" in first["links"]["next"]
    last = client.get(first["links"]["last"], headers=as_alice).get_json()
    assert len(last["items"]) == 1 and last["links"]["next"] is None
    beyond = client.get("/api/v1/portfolios?page=9&per_page=2", headers=as_alice).get_json()
    assert beyond["items"] == [] and beyond["total"] == 5
    ids = [p["id"] for p in first["items"] + client.get(
        first["links"]["next"], headers=as_alice).get_json()["items"]]
    assert ids == sorted(ids)
    for bad in ("per_page=0", "per_page=201", "page=0", "page=x", "bogus=1"):
        response = client.get(f"/api/v1/portfolios?{bad}", headers=as_alice)
        assert response.status_code == 422, bad


def test_admin_filters_by_user_and_users_cannot(client, alice, as_alice, root, auth_headers):
    bob = gen_user("bob")
    gen_portfolio(alice)
    theirs = gen_portfolio(bob)
    admin = auth_headers(root)
    listed = client.get(f"/api/v1/portfolios?user_id={bob.id}", headers=admin).get_json()
    assert [p["id"] for p in listed["items"]] == [theirs.id]
    assert client.get(f"/api/v1/portfolios?user_id={bob.id}",
                      headers=as_alice).status_code == 403
    made = client.post("/api/v1/portfolios", headers=admin,
                       json={"name": "for bob", "total_capital": 5, "user_id": bob.id})
    assert made.status_code == 201 and made.get_json()["user_id"] == bob.id


def test_kill_switch(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    url = f"/api/v1/portfolios/{portfolio.id}/kill-switch"
    assert client.post(url, headers=as_alice, json={"on": True}).get_json()[
        "risk_state"] == "halted"
    assert client.post(url, headers=as_alice, json={"on": False}).get_json()[
        "risk_state"] == "active"
    assert client.post(url, headers=as_alice, json={}).status_code == 422


def test_asset_crud_and_write_only_broker_secrets(app, client, alice, as_alice):
    get_registry(app).register("broker", KeyedPaper, origin="test")
    portfolio = gen_portfolio(alice)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_alice,
                          json={"symbol": "EUR_USD", "strategy_plugin": "sma_cross",
                                "broker_plugin": "keyed_paper",
                                "broker_config": {"api_key": "sk-live"}})
    assert created.status_code == 201, created.get_json()
    asset = created.get_json()
    assert "sk-live" not in created.get_data(as_text=True)
    assert asset["broker_config"]["api_key"] == "********"
    listed = client.get(f"/api/v1/portfolios/{portfolio.id}/assets",
                        headers=as_alice).get_json()
    assert [a["id"] for a in listed["items"]] == [asset["id"]]
    stored = database.session.get(Asset, asset["id"]).broker_config["api_key"]
    assert stored.startswith(config_secrets.PREFIX)
    shown = client.get(f"/api/v1/assets/{asset['id']}", headers=as_alice)
    assert "sk-live" not in shown.get_data(as_text=True)
    renamed = client.patch(f"/api/v1/assets/{asset['id']}", headers=as_alice,
                           json={"name": "Euro"})
    assert renamed.status_code == 200, renamed.get_json()
    resent = client.patch(f"/api/v1/assets/{asset['id']}", headers=as_alice,
                          json={"broker_config": {"api_key": "********", "spread_bps": 3}})
    assert resent.status_code == 200, resent.get_json()
    database.session.expire_all()
    kept = config_secrets.decrypt_config(database.session.get(Asset, asset["id"]).broker_config)
    assert kept == {"api_key": "sk-live", "spread_bps": 3}
    from lts.trading.manual import _plugin_source
    from lts.trading.units import build_unit
    unit = build_unit(_plugin_source(app), database.session.get(Asset, asset["id"]))
    assert unit.broker.config["api_key"] == "sk-live"
    assert client.delete(f"/api/v1/assets/{asset['id']}", headers=as_alice).status_code == 204


@pytest.mark.parametrize(("body", "field"), [
    ({}, "symbol"),
    ({"symbol": "X", "strategy_plugin": "nope"}, "strategy_plugin"),
    ({"symbol": "X", "broker_config": {"spread_bps": -3}}, "broker_config"),
    ({"symbol": "X", "broker_config": {"price_decimals": 11}}, "broker_config"),
    ({"symbol": "X", "broker_config": {"quantity_decimals": -1}}, "broker_config"),
    ({"symbol": "X", "pipeline_config": []}, "pipeline_config"),
    ({"symbol": "X", "unknown": 1}, "unknown"),
    ({"symbol": "X" * 40}, "symbol"),
])
def test_invalid_asset_is_a_422_naming_the_field(client, alice, as_alice, body, field):
    portfolio = gen_portfolio(alice)
    response = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_alice,
                           json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(("setting", "value"), [("price_decimals", 11),
                                                ("quantity_decimals", -1),
                                                ("price_decimals", "two")])
def test_bad_instrument_decimals_are_refused_naming_the_setting(client, alice, as_alice,
                                                                 setting, value):
    portfolio = gen_portfolio(alice)
    response = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_alice,
                           json={"symbol": "X", "broker_config": {setting: value}})
    assert response.status_code == 422
    assert setting in str(response.get_json()["error"]["fields"]["broker_config"])


def test_asset_with_orders_cannot_be_deleted(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    database.session.add(Order(asset_id=asset.id, side="buy", quantity=1,
                               client_order_id="x-1"))
    database.session.commit()
    response = client.delete(f"/api/v1/assets/{asset.id}", headers=as_alice)
    assert response.status_code == 409
    assert "deactivate" in response.get_json()["error"]["message"]


def test_assets_show_the_strategys_latest_decision(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    quiet, busy = gen_asset(portfolio, "AAA"), gen_asset(portfolio, "BBB")
    assert client.get(f"/api/v1/assets/{busy.id}",
                      headers=as_alice).get_json()["last_decision"] is None
    database.session.add(AssetDecision(asset_id=busy.id, action="open", side="buy",
                                       reason="breakout", orders_placed=1,
                                       decided_at=busy.created_at))
    database.session.commit()
    shown = client.get(f"/api/v1/assets/{busy.id}", headers=as_alice).get_json()
    assert shown["last_decision"] == {"action": "open", "side": "buy", "reason": "breakout",
                                      "orders_placed": 1,
                                      "decided_at": busy.created_at.isoformat()}
    listed = client.get(f"/api/v1/portfolios/{portfolio.id}/assets",
                        headers=as_alice).get_json()["items"]
    assert [a["last_decision"] and a["last_decision"]["reason"] for a in listed] == [
        None, "breakout"]
    assert quiet.id == listed[0]["id"]


def test_huge_ids_are_404_not_500(client, as_alice):
    assert client.get(f"/api/v1/portfolios/{2**70}", headers=as_alice).status_code == 404
    assert client.get(f"/api/v1/assets/{2**40}", headers=as_alice).status_code == 404


def test_anonymous_gets_401_json(client):
    response = client.get("/api/v1/portfolios")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
