"""``/api/v1`` orders, positions, manual orders, statistics, config, plugins and loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lts.extensions import db as database
from lts.models import AuditLog, Order, Position, Statistic
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _orders(asset, n, status="filled", start=NOW):
    for i in range(n):
        database.session.add(Order(asset_id=asset.id, side="buy", quantity=1, status=status,
                                   client_order_id=f"o-{asset.id}-{status}-{i}",
                                   created_at=start + timedelta(minutes=i)))
    database.session.commit()


def test_orders_list_filters_and_pages(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    other = gen_asset(gen_portfolio(alice))
    _orders(asset, 4)
    _orders(other, 2, status="rejected")
    _orders(gen_asset(gen_portfolio(gen_user("bob"))), 3)
    body = client.get("/api/v1/orders?per_page=3", headers=as_alice).get_json()
    assert body["total"] == 6 and len(body["items"]) == 3 and body["pages"] == 2
    stamps = [o["created_at"] for o in body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert client.get(f"/api/v1/orders?asset_id={other.id}",
                      headers=as_alice).get_json()["total"] == 2
    assert client.get("/api/v1/orders?status=rejected",
                      headers=as_alice).get_json()["total"] == 2
    since = (NOW + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    assert client.get(f"/api/v1/orders?since={since}&portfolio_id={asset.portfolio_id}",
                      headers=as_alice).get_json()["total"] == 2
    linked = client.get(f"/api/v1/orders?status=filled&per_page=1&since={since}",
                        headers=as_alice).get_json()
    assert "status=filled" in linked["links"]["next"] and "since=" in linked["links"]["next"]
    one = body["items"][0]
    single = client.get(f"/api/v1/orders/{one['id']}", headers=as_alice).get_json()
    assert "broker_response" not in one  # lists leave it out unless asked for
    assert single == {**one, "broker_response": None}
    included = client.get("/api/v1/orders?per_page=3&include=broker_response",
                          headers=as_alice).get_json()
    assert included["items"][0] == single
    assert "include=broker_response" in included["links"]["last"]


@pytest.mark.parametrize("query", ["status=bogus", "since=yesterday", "asset_id=0",
                                   "per_page=500", "portfolio_id=abc",
                                   "since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z"])
def test_orders_bad_filters_are_422(client, as_alice, query):
    response = client.get(f"/api/v1/orders?{query}", headers=as_alice)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]


def test_manual_order_and_close_position(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    placed = client.post(f"/api/v1/assets/{asset.id}/orders", headers=as_alice,
                         json={"side": "buy", "quantity": 10})
    assert placed.status_code == 201, placed.get_json()
    body = placed.get_json()
    assert body["order"]["source"] == "manual" and body["rejected_by"] is None
    assert body["client_order_id"] == body["order"]["client_order_id"]
    positions = client.get("/api/v1/positions?status=open", headers=as_alice).get_json()
    assert positions["total"] == 1
    position_id = positions["items"][0]["id"]
    assert client.get(f"/api/v1/positions/{position_id}",
                      headers=as_alice).get_json()["status"] == "open"
    closed = client.post(f"/api/v1/positions/{position_id}/close", headers=as_alice)
    assert closed.status_code == 201, closed.get_json()
    assert database.session.get(Position, position_id).status == "closed"
    again = client.post(f"/api/v1/positions/{position_id}/close", headers=as_alice)
    assert again.status_code == 409  # a state conflict, not bad input
    assert again.get_json()["error"]["fields"] == {"position": ["is not open"]}
    assert closed.headers["Location"] == f"/api/v1/orders/{closed.get_json()['order']['id']}"
    actions = set(database.session.scalars(database.select(AuditLog.action)))
    assert {"order.manual", "position.close"} <= actions


@pytest.mark.parametrize(("body", "field"), [
    ({}, "side"),
    ({"side": "hold"}, "side"),
    ({"side": "buy", "quantity": -1}, "quantity"),
    ({"side": "buy", "order_type": "limit"}, "price"),
    ({"side": "buy", "order_type": "iceberg"}, "order_type"),
    ({"side": "buy", "leverage": 100}, "leverage"),
])
def test_manual_order_validation(client, alice, as_alice, body, field):
    asset = gen_asset(gen_portfolio(alice))
    response = client.post(f"/api/v1/assets/{asset.id}/orders", headers=as_alice, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert database.session.query(Order).count() == 0


def test_statistics_series_is_downsampled_and_scoped(client, alice, as_alice, as_root):
    portfolio = gen_portfolio(alice)
    key = f"portfolio.{portfolio.id}.equity"
    database.session.add_all(Statistic(key=key, value=float(i), portfolio_id=portfolio.id,
                                       timestamp=NOW + timedelta(minutes=i)) for i in range(2500))
    database.session.commit()
    body = client.get(f"/api/v1/statistics?key={key}", headers=as_alice).get_json()
    assert 0 < len(body["points"]) <= 1000 and body["raw_count"] == 2500
    assert body["points"][0]["timestamp"].endswith("+00:00")
    few = client.get(f"/api/v1/statistics?key={key}&bucket=1d&max_points=5",
                     headers=as_alice).get_json()
    assert len(few["points"]) <= 5
    assert client.get(f"/api/v1/statistics?key={key}&bucket=soon",
                      headers=as_alice).status_code == 422
    assert client.get("/api/v1/statistics", headers=as_alice).status_code == 422
    assert client.get("/api/v1/statistics?key=loop.tick_seconds",
                      headers=as_alice).status_code == 403
    assert client.get("/api/v1/statistics?key=loop.tick_seconds",
                      headers=as_root).status_code == 200
    keys = client.get("/api/v1/statistics/keys", headers=as_alice).get_json()["items"]
    assert keys == [key]


def test_statistics_of_someone_else_is_404(client, auth_headers, alice):
    portfolio = gen_portfolio(alice)
    bob = auth_headers(gen_user("bob"))
    response = client.get(f"/api/v1/statistics?key=portfolio.{portfolio.id}.equity",
                          headers=bob)
    assert response.status_code == 404


def test_config_is_admin_only_and_validated(client, as_alice, as_root):
    assert client.get("/api/v1/config", headers=as_alice).status_code == 403
    items = {i["key"]: i for i in client.get("/api/v1/config", headers=as_root)
             .get_json()["items"]}
    assert items["secret_key"]["value"] in ("", "********") and items["secret_key"]["secret"]
    put = client.put("/api/v1/config/global_latency", headers=as_root, json={"value": 2.5})
    assert put.status_code == 200 and put.get_json()["value"] == 2.5
    assert put.get_json()["source"] == "table"
    assert client.get("/api/v1/config/global_latency",
                      headers=as_root).get_json()["value"] == 2.5
    bad = client.put("/api/v1/config/global_latency", headers=as_root, json={"value": "fast"})
    assert bad.status_code == 422 and "value" in bad.get_json()["error"]["fields"]
    static = client.put("/api/v1/config/database_url", headers=as_root,
                        json={"value": "sqlite://"})
    assert static.status_code == 422 and "key" in static.get_json()["error"]["fields"]
    assert client.put("/api/v1/config/nope", headers=as_root,
                      json={"value": 1}).status_code == 404
    assert client.put("/api/v1/config/global_latency", headers=as_root,
                      json={"value": 1, "extra": 2}).status_code == 422
    assert client.put("/api/v1/config/global_latency", headers=as_alice,
                      json={"value": 1}).status_code == 403


def test_plugins_list_with_json_schemas(client, as_alice, as_root):
    body = client.get("/api/v1/plugins", headers=as_alice).get_json()
    names = {(p["kind"], p["name"]) for p in body["items"]}
    assert {("broker", "paper"), ("strategy", "sma_cross"), ("pipeline", "synthetic"),
            ("portfolio", "equal_weight")} <= names
    paper = next(p for p in body["items"] if p["name"] == "paper")
    assert paper["config_schema"]["type"] == "object" and paper["is_default"]
    assert "spread_bps" in paper["config_schema"]["properties"]
    assert body["errors"] == []
    strategies = client.get("/api/v1/plugins?kind=strategy", headers=as_alice).get_json()
    assert {p["kind"] for p in strategies["items"]} == {"strategy"}
    assert client.get("/api/v1/plugins?kind=nope", headers=as_alice).status_code == 422
    assert isinstance(client.get("/api/v1/plugins", headers=as_root).get_json()["errors"], list)


def test_loop_status_and_admin_controls(client, as_alice, as_root):
    status = client.get("/api/v1/loop", headers=as_alice)
    assert status.status_code == 200 and status.get_json()["paused"] is False
    for action in ("tick", "pause", "resume"):
        assert client.post(f"/api/v1/loop/{action}", headers=as_alice).status_code == 403
    assert client.post("/api/v1/loop/pause", headers=as_root).get_json()["paused"] is True
    assert client.get("/api/v1/loop", headers=as_alice).get_json()["paused"] is True
    assert client.post("/api/v1/loop/resume", headers=as_root).get_json()["paused"] is False
    tick = client.post("/api/v1/loop/tick", headers=as_root)
    assert tick.status_code == 200 and "duration_seconds" in tick.get_json()
    killed = client.post("/api/v1/loop/kill-switch", headers=as_root, json={"on": True})
    assert killed.get_json()["kill_switch"] is True


def test_order_and_position_lists_sort_and_filter_by_side(client, alice, as_alice):
    a = gen_asset(gen_portfolio(alice), "AAA")
    b = gen_asset(gen_portfolio(alice), "BBB")
    _orders(b, 2)
    _orders(a, 2)
    body = client.get("/api/v1/orders?sort=symbol&direction=asc", headers=as_alice).get_json()
    assert [o["asset_id"] for o in body["items"]] == [a.id, a.id, b.id, b.id]
    assert "sort=symbol" in body["links"]["self"]
    assert client.get("/api/v1/orders?side=sell", headers=as_alice).get_json()["total"] == 0
    assert client.get("/api/v1/orders?sort=secret", headers=as_alice).status_code == 422
    assert client.get("/api/v1/positions?sort=realized_pnl&side=long",
                      headers=as_alice).status_code == 200
    assert client.get("/api/v1/positions?side=buy", headers=as_alice).status_code == 422


def test_run_portfolio_now(client, alice, as_alice, auth_headers):
    portfolio = gen_portfolio(alice)
    ran = client.post(f"/api/v1/portfolios/{portfolio.id}/run", headers=as_alice)
    assert ran.status_code == 200 and portfolio.id in ran.get_json()["portfolios_run"]
    other = auth_headers(gen_user("bob"))
    assert client.post(f"/api/v1/portfolios/{portfolio.id}/run", headers=other).status_code == 404
