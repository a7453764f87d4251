"""`flask lts tick` and `flask lts plugins` on the built-in plugins and the demo data.

`flask lts tick` is honest: every plugin failure (an asset's, an allocator that raised
or allocated more than there is) is printed and exits 1, a tick that ran nothing says
none was due and when the next is, and ``--now`` runs on a copy of the data.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lts.cli import lts
from lts.models import Order, Portfolio, Position
from lts.plugins.base import PortfolioPlugin
from lts.plugins.registry import get_registry
from lts.services.demo import seed_demo
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user


class RaisingAllocator(PortfolioPlugin):
    """An allocator with a bug."""

    name = "raising"
    interface_version = "1.0"

    def allocate(self, portfolio, assets, snapshots):
        """Fail."""
        raise RuntimeError("allocator exploded")


class GreedyAllocator(PortfolioPlugin):
    """Gives every asset the whole capital: more than there is."""

    name = "greedy"
    interface_version = "1.0"

    def allocate(self, portfolio, assets, snapshots):
        """Everything, to everyone."""
        return {asset.id: portfolio.total_capital for asset in assets}


def portfolio_with(app, allocator: type[PortfolioPlugin], assets: int = 2) -> int:
    """A due portfolio of ``assets`` holding assets, split by ``allocator``."""
    get_registry(app).register("portfolio", allocator, "test")
    portfolio = gen_portfolio(gen_user(), portfolio_plugin=allocator.name)
    for n in range(assets):
        gen_asset(portfolio, f"SYM{n}", strategy_config={"threshold": 1e9})
    return portfolio.id


def test_tick_command_trades_the_demo_portfolio_on_paper(app, db, runner):
    seed = seed_demo()
    result = runner.invoke(lts, ["tick"])
    assert result.exit_code == 0, result.output
    assert "1 portfolio(s), 2 asset(s), 0 error(s)" in result.output
    for asset in seed.portfolio.assets:
        assert f"asset {asset.id}:" in result.output
    orders = db.session.scalars(select(Order)).all()
    assert all(o.status in ("filled", "submitted", "rejected") for o in orders)
    positions = db.session.scalars(select(Position)).all()
    assert len(positions) == sum(o.status == "filled" for o in orders)
    again = runner.invoke(lts, ["tick"])  # not due again within the latency
    assert again.exit_code == 0, again.output
    assert "0 portfolio(s)" in again.output
    last = db.session.scalar(select(Portfolio.last_execution))
    slack = app.config["LTS"]["global_latency"] / 2  # a tick may fire a little early
    due = (last + timedelta(minutes=seed.portfolio.portfolio_latency - slack)).isoformat()
    assert (f"no portfolio was due: 1 wait(s); the next is portfolio {seed.portfolio.id} "
            f"({seed.portfolio.name}) at {due[:19]}") in again.output


def test_tick_command_reports_an_allocator_that_raised_and_exits_1(app, db, runner):
    pid = portfolio_with(app, RaisingAllocator)
    result = runner.invoke(lts, ["tick"])
    assert result.exit_code == 1, result.output
    assert "1 portfolio(s), 2 asset(s), 1 error(s)" in result.output
    assert re.search(rf"portfolio {pid}: allocation FAILED \(plugin 'raising'\): "
                     r"RuntimeError: allocator exploded", result.output), result.output


def test_tick_command_reports_an_over_allocation_and_exits_1(app, db, runner):
    pid = portfolio_with(app, GreedyAllocator)
    result = runner.invoke(lts, ["tick"])
    assert result.exit_code == 1, result.output
    assert (f"portfolio {pid}: OVER-ALLOCATED (plugin 'greedy'): allocated 20000.00, more "
            f"than the allocatable 10000.00: scaled down") in result.output


def test_an_allocation_within_the_capital_is_no_failure(app, db, runner):
    portfolio_with(app, GreedyAllocator, assets=1)  # all of it to the only asset: fine
    result = runner.invoke(lts, ["tick"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output and "ALLOCAT" not in result.output


def test_tick_now_runs_at_that_time_on_a_copy(app, db, runner):
    seed = seed_demo()
    result = runner.invoke(lts, ["tick", "--now", "2026-03-02T09:30:00"])
    assert result.exit_code == 0, result.output
    assert "Debug tick on a copy of" in result.output
    assert "Tick at 2026-03-02T09:30:00+00:00: 1 portfolio(s), 2 asset(s)" in result.output
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert db.session.get(Portfolio, seed.portfolio.id).last_execution is None
    assert runner.invoke(lts, ["tick"]).exit_code == 0  # still due: the copy ran, not it


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", "--now 'yesterday' is not an ISO 8601 time"),
    ("2026-13-01T00:00", "--now '2026-13-01T00:00' is not an ISO 8601 time"),
])
def test_tick_now_refuses_a_bad_time_naming_the_option(runner, value, message):
    result = runner.invoke(lts, ["tick", "--now", value])
    assert result.exit_code != 0
    assert message in result.output


def test_tick_now_refuses_a_broker_that_may_be_real(app, db, runner):
    portfolio = gen_portfolio(gen_user())
    asset = gen_asset(portfolio, "EUR_USD", broker_plugin="live_fx")
    result = runner.invoke(lts, ["tick", "--now", "2026-03-02T09:30:00Z"])
    assert result.exit_code != 0
    assert (f"a debug tick would send real orders: asset {asset.id} (EUR_USD) of portfolio "
            f"{portfolio.id} uses broker 'live_fx'") in result.output


def test_tick_now_refuses_postgresql_saying_what_to_do(tmp_path):
    app = make_test_app("postgresql+psycopg://nobody@127.0.0.1:9/none", tmp_path)
    result = app.test_cli_runner().invoke(lts, ["tick", "--now", "2026-03-02T09:30:00Z"])
    assert result.exit_code != 0
    assert "runs on a copy of the SQLite database file; this database is postgresql" in \
        result.output
    assert "pg_dump" in result.output


def test_tick_help_says_what_now_does(runner):
    result = runner.invoke(lts, ["tick", "--help"])
    assert "COPY of the SQLite database" in result.output
    assert "Refused on PostgreSQL" in result.output


def test_plugins_command_lists_kinds_origins_and_fields(runner):
    result = runner.invoke(lts, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["core", "default", "builtin"] for line in lines)
    paper = next(line for line in lines if line.split()[:2] == ["broker", "paper"])
    assert "leverage" in paper and "lot_step" in paper
    assert any(line.startswith("pipeline") and "synthetic" in line for line in lines)
