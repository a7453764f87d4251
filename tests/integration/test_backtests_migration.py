"""Migration 0013 creates the backtest_runs table and takes it away again."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from lts.extensions import db
from tests.conftest import make_test_app


def test_0013_upgrades_and_downgrades_the_backtest_runs_table(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    with app.app_context():
        upgrade()
        assert "backtest_runs" in inspect(db.engine).get_table_names()
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("backtest_runs")}
        assert {"ix_backtest_runs_user_id_created_at", "ix_backtest_runs_status"} <= indexes
        downgrade(revision="0012")
        assert "backtest_runs" not in inspect(db.engine).get_table_names()
        upgrade()
        assert "backtest_runs" in inspect(db.engine).get_table_names()
        db.engine.dispose()
