"""The example core plugin (examples/core_plugin), installed, changes what the loop runs.

It is installed from its own pyproject.toml (entry point ``lts.core``), chosen with the
``core_plugin`` setting and configured through the global settings it declares, exactly
as an operator would. The scheduled loop, `flask lts tick` and "Run now" then all skip
a Saturday tick; the built-in core runs the same tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lts.cli import lts
from lts.extensions import db
from lts.models import Order, Portfolio
from lts.plugins.registry import get_registry
from lts.services import loop_control
from lts.trading.clock import ManualClock
from lts.trading.runner import LoopRunner
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import CORE_PLUGIN_PACKAGE as PACKAGE

SATURDAY = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
MARKET_HOURS = {"core_plugin": "market_hours", "market_hours_open": "09:00",
                "market_hours_close": "17:30", "market_hours_timezone": "Europe/London"}


@pytest.fixture
def installed(install_example) -> str:
    return install_example(PACKAGE)


def build(database_path: Path, tmp_path: Path, **settings: object) -> Flask:
    """An app on this test's database with one admin's portfolio of one paper asset."""
    app = make_test_app(f"sqlite:///{database_path}", tmp_path, **settings)
    with app.app_context():
        user = gen_user(role="admin")
        portfolio = gen_portfolio(user, portfolio_latency=1)
        # Threshold 0, shorts allowed: the first tick opens whatever the prices.
        gen_asset(portfolio, "EUR_USD", strategy_config={"threshold": 0.0,
                                                         "allow_short": True})
        app.config["TEST_IDS"] = (user.id, portfolio.id)
        db.session.remove()
    return app


def stored(app: Flask) -> tuple[datetime | None, int]:
    """The portfolio's last_execution and the number of orders, as stored."""
    with app.app_context():
        last = db.session.scalar(select(Portfolio.last_execution))
        orders = db.session.scalar(select(func.count()).select_from(Order))
        db.session.remove()
        return last, orders


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def market_app(installed, database_path, tmp_path) -> Iterator[Flask]:
    app = build(database_path, tmp_path, **MARKET_HOURS)
    yield app
    dispose(app)


def test_the_example_core_is_found_through_its_entry_point(market_app):
    info = get_registry(market_app).info("core", "market_hours")
    assert info.origin == "entry point lts-market-hours"
    assert info.cls.__module__ == "lts_market_hours.core"
    assert {"market_hours_open", "market_hours_timezone"} <= set(
        get_registry(market_app).declared_settings())


def test_scheduled_loop_skips_a_closed_market_and_runs_at_the_open(market_app):
    runner = LoopRunner(market_app, clock=ManualClock(SATURDAY), holder="market")
    try:
        closed = runner.run_once(SATURDAY)
        assert closed is not None and closed.portfolios_run == ()
        assert "market closed" in closed.skipped_reason
        assert "1 due portfolio(s) wait for the open at 2026-03-09T09:00+00:00" in \
            closed.skipped_reason
        assert stored(market_app) == (None, 0)  # not claimed: it is still due at the open
        opened = runner.run_once(MONDAY)
        assert opened.portfolios_run == (market_app.config["TEST_IDS"][1],)
        assert opened.skipped_reason is None and not opened.failed
        assert stored(market_app)[1] == 1
    finally:
        runner.shutdown()


def test_the_built_in_core_runs_the_same_saturday_tick(database_path, tmp_path):
    app = build(database_path, tmp_path)
    runner = LoopRunner(app, clock=ManualClock(SATURDAY), holder="default")
    try:
        report = runner.run_once(SATURDAY)
        assert report.portfolios_run == (app.config["TEST_IDS"][1],)
        assert stored(app)[1] == 1  # the strategy opened a position
    finally:
        runner.shutdown()
        dispose(app)


def test_flask_lts_tick_goes_through_the_core_plugin(market_app):
    cli = market_app.test_cli_runner()
    result = cli.invoke(lts, ["tick", "--now", "2026-03-07T10:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "Debug tick on a copy of" in result.output
    assert "0 portfolio(s), 0 asset(s), 0 error(s)" in result.output
    assert "skipped: market closed (mon,tue,wed,thu,fri 09:00-17:30 Europe/London)" in \
        result.output
    opened = cli.invoke(lts, ["tick", "--now", MONDAY.isoformat()])
    assert opened.exit_code == 0, opened.output
    assert "1 portfolio(s), 1 asset(s), 0 error(s)" in opened.output
    assert "orders [" in opened.output  # it traded, on the copy
    assert stored(market_app) == (None, 0)  # the real database is untouched


def test_run_now_goes_through_the_core_plugin(market_app):
    user_id, portfolio_id = market_app.config["TEST_IDS"]
    with market_app.test_request_context():
        from lts.models import User

        admin = db.session.get(User, user_id)
        summary = loop_control.run_portfolio_now(admin, portfolio_id, now=SATURDAY)
        assert summary["portfolios_run"] == [] and "market closed" in summary["skipped_reason"]
        summary = loop_control.run_portfolio_now(admin, portfolio_id, now=MONDAY)
        assert summary["portfolios_run"] == [portfolio_id] and summary["errors"] == 0
        db.session.remove()


def test_a_bad_setting_of_the_core_stops_the_loop_naming_it(installed, database_path,
                                                            tmp_path):
    app = build(database_path, tmp_path, **{**MARKET_HOURS, "market_hours_days": "funday"})
    try:
        with pytest.raises(Exception, match="market_hours_days"):
            LoopRunner(app, holder="bad")
    finally:
        dispose(app)
