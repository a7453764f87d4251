"""A change of total_capital is a deposit or withdrawal: audited, a new drawdown peak (SPEC 2a)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import AuditLog, Portfolio, Statistic
from lts.services import portfolios
from lts.trading import statistics
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.conftest import BACKENDS
from tests.equity_fakes import at, equity_source, script
from tests.factories import gen_asset, gen_portfolio, gen_user

pytestmark = pytest.mark.usefixtures("fresh_book")


def setup_portfolio():
    user = gen_user()
    portfolio = gen_portfolio(user, portfolio_plugin="equal_weight", portfolio_latency=1,
                              total_capital=10_000.0, max_drawdown_pct=20.0)
    gen_asset(portfolio, "AAA", pipeline_plugin="script", pipeline_config=script({0: 100.0}),
              strategy_plugin="fixed", strategy_config={"action": "hold"},
              broker_plugin="book")
    return user, portfolio


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_capital_lowered_10000_to_5000_is_audited_and_does_not_trip_the_drawdown(
        app, db, database_url):
    user, portfolio = setup_portfolio()
    engine = Engine(app, plugins=equity_source(app), clock=ManualClock(at(10)))
    try:
        engine.tick()  # equity 10,000 recorded: the old peak
        portfolios.update_portfolio(user, portfolio.id, {"total_capital": 5_000.0},
                                    now=at(10) + timedelta(seconds=30))
        # Measured from the old peak this would be a 50 % drawdown: the kill switch
        # (20 %) would halt the portfolio.
        assert statistics.peak_equity(db.session, portfolio.id, 5_000.0) == 10_000.0
        db.session.commit()
        engine.tick(at(11))
    finally:
        engine.close()
    db.session.expire_all()
    stored = db.session.get(Portfolio, portfolio.id)
    assert stored.risk_state == "active"
    assert stored.capital_changed_at == at(10) + timedelta(seconds=30)
    change = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "portfolio.capital_changed")).one()
    assert (change.user_id, change.resource) == (user.id, f"portfolio:{portfolio.id}")
    assert change.details == {"before": 10_000.0, "after": 5_000.0, "change": -5_000.0}
    assert db.session.scalars(select(AuditLog.action).where(
        AuditLog.action == "portfolio.kill_switch")).all() == []
    assert db.session.scalar(select(Statistic.value).where(
        Statistic.key == f"portfolio.{portfolio.id}.capital_change")) == -5_000.0


def test_a_real_loss_after_the_change_still_trips_from_the_new_peak(app, db):
    """Peak restarts at the new capital: a 20 % fall from it halts as before."""
    user, portfolio = setup_portfolio()
    portfolios.update_portfolio(user, portfolio.id, {"total_capital": 5_000.0}, now=at(9))
    db.session.commit()
    asset = portfolio.assets[0]
    asset.pipeline_config = script({0: 100.0, 11: 79.0})
    asset.strategy_config = {"action": "open", "side": "buy"}
    db.session.commit()
    engine = Engine(app, plugins=equity_source(app), clock=ManualClock(at(10)))
    try:
        engine.tick()  # buys 50 at 100 (commission 1)
        engine.tick(at(11))  # 79: equity 5,000 - 1,050 - 1 = 3,949: 21 % below 5,000
    finally:
        engine.close()
    db.session.expire_all()
    assert db.session.get(Portfolio, portfolio.id).risk_state == "halted"
    trip = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "portfolio.kill_switch")).one()
    assert trip.details["trigger"] == "max_drawdown_pct"
    assert trip.details["peak"] == 5_000.0


def test_an_unchanged_capital_is_not_a_capital_change(db):
    user, portfolio = setup_portfolio()
    portfolios.update_portfolio(user, portfolio.id, {"total_capital": 10_000.0,
                                                     "name": "renamed"})
    assert db.session.get(Portfolio, portfolio.id).capital_changed_at is None
    assert db.session.scalar(select(AuditLog.id).where(
        AuditLog.action == "portfolio.capital_changed")) is None


def test_the_equity_chart_shows_a_withdrawal_as_such(app, db, client, login_as):
    user, portfolio = setup_portfolio()
    engine = Engine(app, plugins=equity_source(app), clock=ManualClock(at(10)))
    try:
        engine.tick()
        portfolios.update_portfolio(user, portfolio.id, {"total_capital": 5_000.0},
                                    now=at(10) + timedelta(seconds=30))
        db.session.commit()
        engine.tick(at(11))
    finally:
        engine.close()
    login_as(user)
    html = client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True)
    assert 'id="capital-changes"' in html
    assert "Withdrawal of 5,000.00 USD on 2026-01-05 00:10 UTC" in html
    assert 'data-events="[{&#34;t&#34;: &#34;2026-01-05T00:10:30+00:00&#34;' in html
