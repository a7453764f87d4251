"""The example third-party package, installed from its own pyproject.toml, trades in a tick.

The package is installed the way an installer lays it out, without touching the test
environment and without network (:func:`tests.helpers.install_from_pyproject`), and the
folder is put on ``sys.path``. Discovery then finds the ``lts.strategy`` entry point
through ``importlib.metadata`` exactly as in a real installation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lts.models import Order
from lts.plugins.registry import get_registry
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import PLUGIN_PACKAGE as PACKAGE
from tests.helpers import tick_once

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def installed_package(install_example) -> str:
    return install_example(PACKAGE)


def test_installed_entry_point_strategy_is_used_in_a_tick(installed_package, database_path,
                                                          tmp_path):
    app = make_test_app(f"sqlite:///{database_path}", tmp_path)
    registry = get_registry(app)
    info = registry.info("strategy", "momentum")
    assert info.origin == f"entry point {installed_package}" == "entry point lts-momentum"
    assert info.cls.__module__ == "lts_momentum.strategy"
    with app.app_context():
        from lts.extensions import db

        portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
        asset = gen_asset(portfolio, "EUR_USD", strategy_plugin="momentum",
                          strategy_config={"lookback": 5, "threshold": 0.0})
        report = tick_once(app, NOW)
        (outcome,) = report.outcomes
        assert outcome.ok, outcome.error
        assert "momentum" in outcome.decision.reason and "over 5 bars" in \
            outcome.decision.reason
        assert outcome.decision.action == "open"  # any move passes a zero threshold
        order = db.session.scalars(select(Order)).one()
        assert (order.asset_id, order.status, order.source) == (asset.id, "filled",
                                                                 "strategy")
        db.session.remove()
        db.engine.dispose()
