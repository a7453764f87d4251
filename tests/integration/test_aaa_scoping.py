"""Swapping the aaa plugin changes lists and pages too, not only single objects.

An aaa plugin that denies everything (installed like any third-party aaa plugin, by
entry point) leaves every list empty: API lists, dashboard pages, statistics, audit,
tokens and users, for a user and for an administrator alike. The same data under the
default plugin is visible, so the emptiness comes from the plugin, not the fixtures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lts.extensions import db as database
from lts.models import Order, Position, User
from lts.services import auth_admin, overview, statistics, tokens
from lts.services.audit import AuditFilter, query_audit
from lts.trading import statistics as trading_statistics
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.integration.test_plugin_registry import (  # noqa: F401  (the site fixture)
    install_distribution,
    site,
    unique,
)

DENY_ALL = '''
"""An aaa plugin that authenticates as usual and authorizes nothing."""
from lts.plugins.aaa.default import DefaultAAA


class DenyAll(DefaultAAA):
    """Logins work; every authorization question is answered no."""

    name = "denyall"
    interface_version = "1.0"

    def authorize(self, user, action, resource=None):
        return False
'''

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
API_LISTS = ("/api/v1/portfolios", "/api/v1/orders", "/api/v1/positions",
             "/api/v1/statistics/keys", "/api/v1/auth/tokens")
PAGES = ("/", "/portfolios", "/orders", "/positions", "/statistics", "/profile")
ADMIN_ONLY = ("/api/v1/audit", "/api/v1/users", "/admin/audit", "/admin/users")


@pytest.fixture(params=["default", "denyall"])
def policy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_overrides(policy: str, site) -> dict[str, object]:  # noqa: F811
    module = unique("lts_deny_all_aaa")
    install_distribution(site, "lts-deny-all-aaa", module, DENY_ALL,
                         {"lts.aaa": {"denyall": f"{module}:DenyAll"}})
    return {"aaa_plugin": policy}


def seed(owner: User, tag: str) -> dict[str, Any]:
    """A portfolio with an asset, a filled order, an open position and statistics."""
    portfolio = gen_portfolio(owner, f"Hidden portfolio {tag}")
    asset = gen_asset(portfolio, f"HID{tag.upper()}")
    order = Order(asset_id=asset.id, side="buy", quantity=1.0, status="filled",
                  client_order_id=f"hidden-order-{tag}", fill_price=1.1)
    database.session.add(order)
    database.session.flush()
    database.session.add(Position(asset_id=asset.id, order_id=order.id, side="long",
                                  quantity=1.0, entry_price=1.1))
    trading_statistics.record(database.session, [
        (trading_statistics.equity_key(portfolio.id), 10_000.0),
        (trading_statistics.unrealized_key(asset.id), 1.0),
        (trading_statistics.tick_seconds_key(), 0.5)], NOW)
    database.session.commit()
    return {"portfolio": portfolio, "asset": asset, "order": order}


@pytest.fixture
def world(db, auth_headers):
    alice, root = gen_user("alice"), gen_user("root", role="admin")
    objects = {"alice": seed(alice, "a"), "root": seed(root, "r")}
    headers = {"alice": auth_headers(alice), "root": auth_headers(root)}
    return {"users": {"alice": alice, "root": root}, "objects": objects, "headers": headers}


def markers(world: dict[str, Any], who: str) -> list[str]:
    """Texts that appear on a page or in a list exactly when ``who``'s data is shown."""
    mine = world["objects"][who]
    return [mine["portfolio"].name, mine["asset"].symbol]


@pytest.mark.parametrize("who", ["alice", "root"])
def test_api_lists_follow_the_plugin(client, world, policy: str, who: str) -> None:
    for path in API_LISTS:
        response = client.get(path, headers=world["headers"][who])
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        items = response.get_json()["items"]
        if policy == "denyall":
            assert items == [], (path, items)
        else:
            assert items, path


@pytest.mark.parametrize("who", ["alice", "root"])
def test_pages_follow_the_plugin(client, login_as, world, policy: str, who: str) -> None:
    login_as(world["users"][who])
    seen = set()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        shown = [text for text in markers(world, who) if text in html]
        seen.update(shown)
        if policy == "denyall":
            assert shown == [], (path, shown)
    if policy == "default":
        assert seen == set(markers(world, who))


def test_admin_pages_and_lists_are_closed_or_empty(client, login_as, world,
                                                    policy: str) -> None:
    root = world["users"]["root"]
    login_as(root)
    for path in ADMIN_ONLY:
        headers = world["headers"]["root"] if path.startswith("/api/") else {}
        status = client.get(path, headers=headers).status_code
        assert status == (403 if policy == "denyall" else 200), (path, status)
    # The lists behind those pages are scoped themselves, not only their routes.
    audit = query_audit(root, AuditFilter())
    users = auth_admin.list_users(root)
    if policy == "denyall":
        assert audit.total == 0 and audit.items == [] and users == []
        assert tokens.list_tokens(root) == [] and statistics.list_keys(root) == []
        assert overview.overview_counts(root) == {
            "portfolios": 0, "assets": 0, "open_positions": 0, "orders": 0, "users": None}
    else:
        assert audit.total > 0 and len(users) == 2 and len(tokens.list_tokens(root)) == 1
        assert "loop.tick_seconds" in statistics.list_keys(root)
        assert overview.overview_counts(root)["portfolios"] == 2


def test_single_objects_and_series_follow_the_plugin(client, world, policy: str) -> None:
    alice = world["headers"]["alice"]
    mine = world["objects"]["alice"]
    paths = [f"/api/v1/portfolios/{mine['portfolio'].id}", f"/api/v1/assets/{mine['asset'].id}",
             f"/api/v1/orders/{mine['order'].id}",
             f"/api/v1/statistics?key=portfolio.{mine['portfolio'].id}.equity"]
    for path in paths:
        status = client.get(path, headers=alice).status_code
        assert status == (404 if policy == "denyall" else 200), (path, status)
