"""The example third-party package, installed from its own pyproject.toml, trades in a tick.

The package is installed the way an installer lays it out, without touching the test
environment and without network: its modules are copied into a temp folder beside a
``<name>-<version>.dist-info`` whose ``METADATA`` and ``entry_points.txt`` are generated
from the package's own ``pyproject.toml``, and the folder is put on ``sys.path``.
Discovery then finds the ``lts.strategy`` entry point through ``importlib.metadata``
exactly as in a real installation. (``pip install --target`` would do the same, but the
venv's setuptools lacks ``bdist_wheel`` offline.)
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from lts.models import Order
from lts.plugins.registry import get_registry
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "plugin_package"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def install_from_pyproject(package: Path, target: Path) -> str:
    """Lay ``package`` out in ``target`` as an installed distribution; return its name."""
    project = tomllib.loads((package / "pyproject.toml").read_text("utf-8"))["project"]
    name, version = project["name"], project["version"]
    source = package / "src"
    for module in source.iterdir():
        if module.is_dir() and (module / "__init__.py").exists():
            shutil.copytree(module, target / module.name)
    dist_info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", "utf-8")
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
        lines.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(lines), "utf-8")
    return name


@pytest.fixture
def installed_package(tmp_path, monkeypatch) -> Iterator[str]:
    target = tmp_path / "site"
    target.mkdir()
    name = install_from_pyproject(PACKAGE, target)
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    yield name
    for module in [m for m in sys.modules if m == "lts_momentum"
                   or m.startswith("lts_momentum.")]:
        del sys.modules[module]


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
        engine = Engine(app, clock=ManualClock(NOW))
        try:
            report = engine.tick()
        finally:
            engine.close()
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
