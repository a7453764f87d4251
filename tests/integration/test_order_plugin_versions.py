"""Each order records the plugins it was made with: name, distribution version, interface.

Strategy orders of a tick, manual orders, closes, risk refusals and protective exits
all carry ``plugin_versions``; the API shows it and the asset page lists it under the
order's source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lts.models import Order, Position, User
from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.registry import get_registry, lts_version
from lts.trading.manual import close_position, submit_manual_order
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import tick_once

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class BuyOnce(StrategyPlugin):
    """Buys when flat, holds otherwise (shipped by a pretend distribution at 2.3.4)."""

    name = "buy_once_versions"
    interface_version = "1.2"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open long when flat."""
        if position is None:
            return Decision(action="open", side="buy", quantity=5.0, reason="flat: buy")
        return Decision.hold("holding")


def expected(strategy: str, strategy_version: str, strategy_interface: str) -> dict:
    lts = lts_version()
    return {
        "pipeline": {"name": "synthetic", "version": lts, "interface_version": "1.0"},
        "strategy": {"name": strategy, "version": strategy_version,
                     "interface_version": strategy_interface},
        "broker": {"name": "paper", "version": lts, "interface_version": "1.0"},
        "portfolio": {"name": "equal_weight", "version": lts, "interface_version": "1.0"},
    }


@pytest.fixture
def asset(app, db):
    get_registry(app).register("strategy", BuyOnce, origin="entry point pretend-dist",
                               version="2.3.4")
    portfolio = gen_portfolio(gen_user("alice"), portfolio_latency=1)
    return gen_asset(portfolio, "EUR_USD", strategy_plugin="buy_once_versions",
                     allocated_capital=10_000.0)


def test_a_tick_records_the_plugin_versions_of_its_orders(app, db, asset):
    report = tick_once(app, NOW)
    assert report.errors == ()
    order = db.session.scalars(select(Order)).one()
    assert order.source == "strategy"
    assert order.plugin_versions == expected("buy_once_versions", "2.3.4", "1.2")


def test_manual_orders_closes_and_refusals_record_them(app, db, asset):
    opened = submit_manual_order(asset.id, "buy", 10, now=NOW)
    assert opened.status == "filled"
    position = db.session.scalars(select(Position)).one()
    closed = close_position(position.id, now=NOW + timedelta(minutes=1))
    assert closed.status == "filled"
    refused = submit_manual_order(asset.id, "buy", 10_000_000, now=NOW + timedelta(minutes=2))
    assert refused.rejected_by is not None and refused.order_id is not None
    want = expected("buy_once_versions", "2.3.4", "1.2")
    rows = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [row.status for row in rows] == ["filled", "filled", "rejected"]
    assert [row.plugin_versions for row in rows] == [want, want, want]


def test_a_protective_exit_records_them(app, db, asset):
    submit_manual_order(asset.id, "buy", 10, now=NOW)
    position = db.session.scalars(select(Position)).one()
    position.stop_loss = position.entry_price * 0.999
    position.take_profit = position.entry_price * 1.001
    db.session.commit()
    tick_once(app, NOW + timedelta(hours=6))
    position = db.session.scalars(select(Position).where(Position.id == position.id)).one()
    exit_order = db.session.get(Order, position.close_order_id)
    assert exit_order.source == "risk"
    assert exit_order.plugin_versions == expected("buy_once_versions", "2.3.4", "1.2")


def test_an_upgrade_shows_on_later_orders_only(app, db, asset):
    submit_manual_order(asset.id, "buy", 10, now=NOW)
    registry = get_registry(app)
    registry._plugins["strategy"].pop("buy_once_versions")  # "pip install -U", then reload

    class BuyOnceV3(BuyOnce):
        """The same plugin, version 3 of its distribution."""

        interface_version = "1.3"

    registry.register("strategy", BuyOnceV3, origin="entry point pretend-dist",
                      version="3.0.0")
    submit_manual_order(asset.id, "sell", 10, now=NOW + timedelta(minutes=1))
    first, second = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert first.plugin_versions["strategy"]["version"] == "2.3.4"
    assert second.plugin_versions["strategy"] == {
        "name": "buy_once_versions", "version": "3.0.0", "interface_version": "1.3"}


def test_the_api_and_the_asset_page_show_them(app, db, client, asset, auth_headers, login_as):
    alice = db.session.get(User, asset.portfolio.user_id)
    submit_manual_order(asset.id, "buy", 10, now=NOW)
    listed = client.get("/api/v1/orders", headers=auth_headers(alice)).get_json()
    assert listed["items"][0]["plugin_versions"] == expected("buy_once_versions", "2.3.4",
                                                             "1.2")
    login_as(alice)
    page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "strategy: buy_once_versions 2.3.4" in page
    assert "(interface 1.2)" in page
