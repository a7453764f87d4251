"""``flask lts portfolio create`` and ``flask lts asset add``: the services, from a shell."""

from __future__ import annotations

from sqlalchemy import select

from lts.cli import lts
from lts.models import Asset, AuditLog, Portfolio
from tests.factories import gen_user


def test_a_portfolio_and_an_asset_with_plugin_configs(runner, db):
    gen_user("alice")
    created = runner.invoke(lts, ["portfolio", "create", "--user", "alice", "--name", "FX",
                                  "--capital", "25000", "--plugin", "fixed_weights",
                                  "--config", '{"weights": {"EUR/USD": 1.0}}'])
    assert created.exit_code == 0, created.output
    portfolio = db.session.scalars(select(Portfolio)).one()
    assert created.output.startswith(f"Portfolio {portfolio.id} 'FX' of alice: fixed_weights")
    assert portfolio.portfolio_config == {"weights": {"EUR/USD": 1.0}}
    added = runner.invoke(lts, ["asset", "add", str(portfolio.id), "EUR/USD", "--user", "alice",
                                "--pipeline", "csv", "--pipeline-config",
                                '{"resample_minutes": 15}', "--strategy", "sma_cross",
                                "--broker-config", '{"leverage": 2}'])
    assert added.exit_code == 0, added.output
    asset = db.session.scalars(select(Asset)).one()
    assert (asset.symbol, asset.pipeline_plugin, asset.strategy_plugin) == (
        "EUR/USD", "csv", "sma_cross")
    assert asset.pipeline_config["resample_minutes"] == 15
    assert asset.broker_config["leverage"] == 2
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"portfolio.create", "asset.create"} <= actions


def test_bad_input_names_the_field(runner, db):
    gen_user("alice")
    unknown_user = runner.invoke(lts, ["portfolio", "create", "--user", "nobody", "--name",
                                       "x", "--capital", "1"])
    assert unknown_user.exit_code == 2 and "--user" in unknown_user.output
    bad_json = runner.invoke(lts, ["portfolio", "create", "--user", "alice", "--name", "x",
                                   "--capital", "1", "--config", "{oops"])
    assert bad_json.exit_code == 2 and "--config" in bad_json.output
    bad_config = runner.invoke(lts, ["portfolio", "create", "--user", "alice", "--name", "x",
                                     "--capital", "100", "--config", '{"nonsense": 1}'])
    assert bad_config.exit_code == 1 and "portfolio_config" in bad_config.output
    no_plugin = runner.invoke(lts, ["asset", "add", "999", "EUR/USD", "--user", "alice"])
    assert no_plugin.exit_code == 1
    assert db.session.scalars(select(Portfolio)).all() == []
