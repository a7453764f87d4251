"""`flask lts tick` and `flask lts plugins` on the built-in plugins and the demo data."""

from __future__ import annotations

from sqlalchemy import select

from lts.cli import lts
from lts.models import Order, Position
from lts.services.demo import seed_demo


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
    assert "0 portfolio(s)" in again.output


def test_plugins_command_lists_kinds_origins_and_fields(runner):
    result = runner.invoke(lts, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["core", "default", "builtin"] for line in lines)
    paper = next(line for line in lines if line.split()[:2] == ["broker", "paper"])
    assert "leverage" in paper and "lot_step" in paper
    assert any(line.startswith("pipeline") and "synthetic" in line for line in lines)
