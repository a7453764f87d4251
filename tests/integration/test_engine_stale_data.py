"""The stale-data guard (SPEC 2a): no opening order on old prices; closes and checks go on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import AssetDecision, Order, Position
from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.registry import get_registry
from lts.trading.manual import submit_manual_order
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.integration.test_engine_paper_gaps import (
    FREE_PAPER,
    OPEN,
    run_ticks,
    write_bars,
)


class AlwaysIn(StrategyPlugin):
    """Opens a long when flat, closes a held one: both order kinds on every tick."""

    name = "always_in_for_stale_test"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open when flat, close when holding."""
        if position is None:
            return Decision(action="open", side="buy", quantity=1, reason="flat: buy")
        return Decision(action="close", reason="holding: sell")


@pytest.fixture
def app_overrides(tmp_path):
    folder = tmp_path / "market"
    folder.mkdir()
    return {"data_dir": str(folder)}


@pytest.fixture
def data_dir(app_overrides):
    from pathlib import Path

    return Path(app_overrides["data_dir"])


def stale_asset(app, **fields):  # type: ignore[no-untyped-def]
    get_registry(app).register("strategy", AlwaysIn, origin="test")
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
    return gen_asset(portfolio, "GAP", pipeline_plugin="csv", pipeline_config={"lookback": 5},
                     strategy_plugin="always_in_for_stale_test", broker_config=FREE_PAPER,
                     allocated_capital=10_000.0, **fields)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_snapshot_older_than_three_bars_opens_nothing_and_says_since_when(
        app, db, data_dir):
    write_bars(data_dir, {}, until="09:30")  # the data stops: newest bar 09:30, ends 09:31
    asset = stale_asset(app)
    (report,) = run_ticks(app, OPEN + timedelta(minutes=34, seconds=1))
    (outcome,) = report.outcomes
    assert outcome.ok and outcome.order_ids == ()
    (warning,) = outcome.warnings
    assert warning.startswith("stale data since 2026-03-02T09:31:00+00:00")
    assert "more than max_data_age 3 min" in warning
    db.session.rollback()
    assert db.session.scalars(select(Order)).all() == []
    decision = db.session.get(AssetDecision, asset.id)
    assert decision.action == "open" and "stale data since" in decision.reason


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_fresh_enough_data_trades_and_the_asset_sets_its_own_limit(app, db, data_dir):
    write_bars(data_dir, {}, until="09:30")
    stale_asset(app, max_data_age_minutes=60)
    (report,) = run_ticks(app, OPEN + timedelta(minutes=34, seconds=1))
    assert report.outcomes[0].warnings == () and len(report.outcomes[0].order_ids) == 1


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_stale_data_still_closes_and_still_checks_stops(app, db, data_dir):
    write_bars(data_dir, {"09:20": (100.0, 100.0, 90.0, 99.0)}, until="09:30")
    asset = stale_asset(app)
    placed = submit_manual_order(asset.id, "buy", 1, stop_loss=95.0, now=OPEN)
    assert placed.status == "filled"
    run_ticks(app, OPEN + timedelta(hours=2))
    db.session.rollback()
    position = db.session.scalars(select(Position)).one()
    assert (position.status, position.exit_price) == ("closed", pytest.approx(95.0))
    assert position.closed_at == OPEN + timedelta(minutes=20)

    # A second position, no stop: the strategy's close goes through on stale data.
    second = submit_manual_order(asset.id, "buy", 1, now=OPEN + timedelta(minutes=10))
    assert second.status == "filled"
    (report,) = run_ticks(app, OPEN + timedelta(hours=3))
    assert len(report.outcomes[0].order_ids) == 1
    db.session.rollback()
    assert {p.status for p in db.session.scalars(select(Position))} == {"closed"}


@pytest.mark.parametrize("value", [0, -5, "soon", True, 10**9])
def test_max_data_age_is_validated_naming_the_field(client, db, auth_headers, value):
    alice = gen_user("alice")
    portfolio = gen_portfolio(alice)
    response = client.post(f"/api/v1/portfolios/{portfolio.id}/assets",
                           headers=auth_headers(alice),
                           json={"symbol": "EUR_USD", "max_data_age_minutes": value})
    assert response.status_code == 422, response.get_json()
    assert "max_data_age_minutes" in response.get_json()["error"]["fields"]


def test_max_data_age_is_stored_shown_and_cleared(client, db, auth_headers):
    alice = gen_user("alice")
    portfolio = gen_portfolio(alice)
    headers = auth_headers(alice)
    created = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=headers,
                          json={"symbol": "EUR_USD", "max_data_age_minutes": 90})
    assert created.status_code == 201 and created.get_json()["max_data_age_minutes"] == 90
    url = f"/api/v1/assets/{created.get_json()['id']}"
    cleared = client.patch(url, headers=headers, json={"max_data_age_minutes": None})
    assert cleared.status_code == 200, cleared.get_json()
    assert cleared.get_json()["max_data_age_minutes"] is None
