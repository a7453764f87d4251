"""Ownership matrix: user A gets 404 on every one of user B's objects, and nothing changes.

Two users each own a portfolio, asset, order, position and API token. Two layers:

* ``OBJECT_ROUTES`` lists the real routes that take an object id. Later issues add
  theirs (portfolios, assets, orders, positions...) as one line each; a guard test
  fails when a route with an id is neither listed here nor admin-only.
* A probe blueprint, registered only in this test's app, drives the shared helper
  ``get_owned_or_404`` for every model and action, so the rule is proven for models
  whose routes do not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import inspect as sa_inspect

from lts.extensions import db as database
from lts.models import Asset, BacktestRun, Order, Portfolio, Position, User, UserSession, utcnow
from lts.web.owned import get_owned_or_404
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from

MODELS: dict[str, type] = {"portfolio": Portfolio, "asset": Asset, "order": Order,
                           "position": Position, "token": UserSession, "backtest": BacktestRun}


@dataclass(frozen=True)
class ObjectRoute:
    """A real route acting on one object of ``kind``; ``{id}`` is filled with B's object."""

    kind: str
    method: str
    url: str
    action: str
    via: str = "api"  # "api": bearer token; "page": browser session with CSRF
    json: dict[str, Any] | None = field(default=None, hash=False)


OBJECT_ROUTES: list[ObjectRoute] = [
    ObjectRoute("token", "DELETE", "/api/v1/auth/tokens/{id}", "delete"),
    ObjectRoute("token", "POST", "/profile/tokens/{id}/revoke", "delete", via="page"),
    # JSON API (issue 5)
    ObjectRoute("portfolio", "GET", "/api/v1/portfolios/{id}", "read"),
    ObjectRoute("portfolio", "PATCH", "/api/v1/portfolios/{id}", "update",
                json={"name": "taken over"}),
    ObjectRoute("portfolio", "DELETE", "/api/v1/portfolios/{id}", "delete"),
    ObjectRoute("portfolio", "POST", "/api/v1/portfolios/{id}/kill-switch", "update",
                json={"on": True}),
    ObjectRoute("portfolio", "POST", "/api/v1/portfolios/{id}/run", "update"),
    ObjectRoute("portfolio", "GET", "/api/v1/portfolios/{id}/assets", "read"),
    ObjectRoute("portfolio", "POST", "/api/v1/portfolios/{id}/assets", "update",
                json={"symbol": "XAU_USD"}),
    ObjectRoute("asset", "GET", "/api/v1/assets/{id}", "read"),
    ObjectRoute("asset", "PATCH", "/api/v1/assets/{id}", "update", json={"is_active": False}),
    ObjectRoute("asset", "DELETE", "/api/v1/assets/{id}", "delete"),
    ObjectRoute("asset", "POST", "/api/v1/assets/{id}/orders", "trade",
                json={"side": "buy", "quantity": 1}),
    ObjectRoute("order", "GET", "/api/v1/orders/{id}", "read"),
    ObjectRoute("position", "GET", "/api/v1/positions/{id}", "read"),
    ObjectRoute("position", "POST", "/api/v1/positions/{id}/close", "close"),
    # Risk states, cancels, close and deactivate (issue 10)
    ObjectRoute("portfolio", "PUT", "/api/v1/portfolios/{id}/risk-state", "update",
                json={"state": "halted", "reason": "taken over"}),
    ObjectRoute("order", "DELETE", "/api/v1/orders/{id}", "cancel"),
    ObjectRoute("order", "POST", "/api/v1/orders/{id}/cancel", "cancel"),
    ObjectRoute("asset", "POST", "/api/v1/assets/{id}/close-and-deactivate", "update"),
    ObjectRoute("portfolio", "POST", "/portfolios/{id}/risk-state", "update", via="page"),
    ObjectRoute("order", "POST", "/orders/{id}/cancel", "cancel", via="page"),
    ObjectRoute("asset", "POST", "/assets/{id}/close-and-deactivate", "update", via="page"),
    # Dashboard pages (issue 6)
    *[ObjectRoute("portfolio", method, url, action, via="page") for method, url, action in (
        ("GET", "/portfolios/{id}", "read"),
        ("GET", "/portfolios/{id}/edit", "update"),
        ("POST", "/portfolios/{id}/edit", "update"),
        ("POST", "/portfolios/{id}/activate", "update"),
        ("POST", "/portfolios/{id}/deactivate", "update"),
        ("POST", "/portfolios/{id}/kill-switch", "update"),
        ("POST", "/portfolios/{id}/run", "update"),
        ("POST", "/portfolios/{id}/delete", "delete"),
        ("GET", "/portfolios/{id}/assets/new", "update"),
        ("POST", "/portfolios/{id}/assets", "update"),
    )],
    *[ObjectRoute("asset", method, url, action, via="page") for method, url, action in (
        ("GET", "/assets/{id}", "read"),
        ("GET", "/assets/{id}/edit", "update"),
        ("POST", "/assets/{id}/edit", "update"),
        ("POST", "/assets/{id}/delete", "delete"),
        ("POST", "/assets/{id}/toggle", "update"),
        ("POST", "/assets/{id}/orders", "trade"),
    )],
    ObjectRoute("position", "POST", "/positions/{id}/close", "close", via="page"),
    # Stored backtests (issue 15)
    ObjectRoute("backtest", "GET", "/api/v1/backtests/{id}", "read"),
    ObjectRoute("backtest", "GET", "/backtests/{id}", "read", via="page"),
]
# Routes with an id that only admins reach (403 for users, proven in test_users_admin).
ADMIN_ONLY_PREFIXES = ("/admin/", "/api/v1/users/", "/api/v1/config/")
# Routes whose argument names no object: a reset token, an export's table name (its rows
# are the caller's own, proven in test_trader_pages).
NOT_OBJECT_ROUTES = {"auth.reset_password", "dashboard.export"}


def owned_objects(owner: User) -> dict[str, Any]:
    """A portfolio, asset, order, position and token owned by ``owner``."""
    from flask import current_app

    portfolio = gen_portfolio(owner)
    asset = gen_asset(portfolio)
    order = Order(asset_id=asset.id, side="buy", quantity=1.0,
                  client_order_id=f"lts-{asset.id}-0-0", status="filled", fill_price=1.1)
    database.session.add(order)
    database.session.flush()
    position = Position(asset_id=asset.id, order_id=order.id, side="long", quantity=1.0,
                        entry_price=1.1)
    database.session.add(position)
    database.session.commit()
    token = current_app.extensions["lts.aaa"].issue_token(owner, f"{owner.username}'s").row
    backtest = BacktestRun(user_id=owner.id, portfolio_id=portfolio.id, status="done",
                           date_from=utcnow(), date_to=utcnow(), parameters={})
    database.session.add(backtest)
    database.session.commit()
    return {"portfolio": portfolio, "asset": asset, "order": order, "position": position,
            "token": token, "backtest": backtest}


def snapshot(objects: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every column of every object, read fresh from the database."""
    database.session.expire_all()
    result = {}
    for kind, obj in objects.items():
        row = database.session.get(type(obj), obj.id)
        result[kind] = None if row is None else {
            column.key: getattr(row, column.key) for column in sa_inspect(type(obj)).columns}
    return result


@pytest.fixture
def probe_app(app):
    """The app plus a probe blueprint: read/update/delete any model through the helper."""
    probe = Blueprint("ownership_probe", __name__)

    @probe.route("/_probe/<kind>/<int:object_id>", methods=["GET", "PATCH", "DELETE"])
    def act(kind: str, object_id: int):  # type: ignore[no-untyped-def]
        from flask import request

        action = {"GET": "read", "PATCH": "update", "DELETE": "delete"}[request.method]
        obj = get_owned_or_404(MODELS[kind], object_id, action)
        if action == "update":
            if isinstance(obj, UserSession):
                obj.name = "changed"
            else:
                obj.updated_at = utcnow()
            database.session.commit()
        elif action == "delete":
            database.session.delete(obj)
            database.session.commit()
        return jsonify({"id": object_id})

    app.register_blueprint(probe)
    return app


@pytest.fixture
def two_users(probe_app, db):
    alice, bob = gen_user("alice"), gen_user("bob")
    return alice, bob, owned_objects(alice), owned_objects(bob)


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_matrix_through_the_helper_with_a_browser_session(
        client, two_users, login_as, kind, method):
    alice, _bob, mine, theirs = two_users
    login_as(alice)
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    before = snapshot(theirs)
    response = client.open(f"/_probe/{kind}/{theirs[kind].id}", method=method,
                           headers={"X-CSRFToken": token})
    assert response.status_code == 404
    assert snapshot(theirs) == before
    # Positive control: the owner reaches their own object.
    if method != "DELETE":
        own = client.open(f"/_probe/{kind}/{mine[kind].id}", method=method,
                          headers={"X-CSRFToken": token})
        assert own.status_code == 200


def test_missing_and_foreign_objects_answer_the_same(client, two_users, login_as):
    alice, _bob, _mine, theirs = two_users
    login_as(alice)
    foreign = client.get(f"/_probe/portfolio/{theirs['portfolio'].id}")
    missing = client.get("/_probe/portfolio/99999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()


def test_admin_reaches_every_users_objects(client, two_users, login_as):
    _alice, _bob, _mine, theirs = two_users
    login_as(gen_user("root", role="admin"))
    for kind, obj in theirs.items():
        assert client.get(f"/_probe/{kind}/{obj.id}").status_code == 200, kind


def test_denied_object_access_is_audited(client, two_users, login_as):
    from sqlalchemy import select

    from lts.models import AuditLog

    alice, _bob, _mine, theirs = two_users
    login_as(alice)
    client.get(f"/_probe/order/{theirs['order'].id}")
    row = database.session.scalar(select(AuditLog).where(AuditLog.action == "access.denied"))
    assert row.outcome == "denied" and row.resource == f"order:{theirs['order'].id}"
    assert row.user_id == alice.id


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=lambda r: f"{r.method} {r.url}")
def test_real_object_routes_answer_404_for_another_users_object(
        client, two_users, auth_headers, login_as, route):
    alice, _bob, _mine, theirs = two_users
    headers: dict[str, str] = {}
    if route.via == "api":
        headers = auth_headers(alice)
    else:
        login_as(alice)
        headers = {"X-CSRFToken": csrf_from(client.get("/profile").get_data(as_text=True))}
    before = snapshot(theirs)
    response = client.open(route.url.format(id=theirs[route.kind].id), method=route.method,
                           headers=headers, json=route.json)
    assert response.status_code == 404
    assert snapshot(theirs) == before


def test_every_object_route_is_in_the_matrix(probe_app):
    listed = {(r.method, r.url.split("{")[0]) for r in OBJECT_ROUTES}
    missing = []
    for rule in probe_app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint.startswith(("static", "ownership_probe")):
            continue
        if rule.rule.startswith(ADMIN_ONLY_PREFIXES) or rule.endpoint in NOT_OBJECT_ROUTES:
            continue
        prefix = rule.rule.split("<")[0]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, prefix) not in listed:
                missing.append(f"{method} {rule.rule}")
    assert not missing, "add these object routes to OBJECT_ROUTES:\n" + "\n".join(missing)


def test_token_list_never_shows_another_users_tokens(client, two_users, auth_headers):
    alice, _bob, _mine, theirs = two_users
    items = client.get("/api/v1/auth/tokens", headers=auth_headers(alice)).get_json()["items"]
    assert theirs["token"].id not in {item["id"] for item in items}
