"""Upgrading a PostgreSQL database that holds data, first revision to head (issue 16).

The documented upgrade command runs as a real process: ``flask --app lts:create_app db
upgrade 0001``, rows are written with the 0001 schema, then ``db upgrade`` to head;
every row is still there, unchanged, and the columns later revisions added have their
defaults. Skipped unless ``LTS_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import migration_head
from tests.system.concurrency_mix import PROJECT_ROOT, SECRET

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("system-ops")]

NOW = "2026-01-05 09:30:00+00"
ROWS = {
    "users": "INSERT INTO users (id, username, email, password_hash, role, is_active, "
             "created_at, failed_logins) VALUES (1, 'alice', 'alice@example.com', 'x', "
             f"'user', true, '{NOW}', 0)",
    "portfolios": "INSERT INTO portfolios (id, user_id, name, description, is_active, "
                  "portfolio_plugin, portfolio_config, total_capital, portfolio_latency, "
                  "created_at, updated_at, risk_state) VALUES (1, 1, 'main', 'kept', true, "
                  f"'equal_weight', '{{}}', 12345.5, 5, '{NOW}', '{NOW}', 'active')",
    "assets": "INSERT INTO assets (id, portfolio_id, symbol, name, strategy_plugin, "
              "strategy_config, broker_plugin, broker_config, pipeline_plugin, "
              "pipeline_config, allocated_capital, is_active, created_at, updated_at) "
              "VALUES (1, 1, 'EURUSD', 'Euro', 'sma_cross', '{\"fast\": 5}', 'paper', '{}', "
              f"'synthetic', '{{}}', 1000.0, true, '{NOW}', '{NOW}')",
    "orders": "INSERT INTO orders (id, asset_id, order_type, side, quantity, status, "
              "created_at, updated_at, client_order_id, fill_price, filled_quantity, "
              "commission, source) VALUES (1, 1, 'market', 'buy', 10, 'filled', "
              f"'{NOW}', '{NOW}', 'lts-1-1-1', 1.1, 10, 0.5, 'strategy')",
    "positions": "INSERT INTO positions (id, asset_id, order_id, side, quantity, "
                 "entry_price, unrealized_pnl, realized_pnl, status, opened_at, "
                 "updated_at, commission) VALUES (1, 1, 1, 'long', 10, 1.1, 0.25, 0, "
                 f"'open', '{NOW}', '{NOW}', 0.5)",
    "statistics": "INSERT INTO statistics (id, key, value, timestamp) VALUES "
                  f"(1, 'portfolio.1.equity', 12345.5, '{NOW}')",
}
CHECKS = {
    "users": "SELECT username, email, role FROM users",
    "portfolios": "SELECT name, description, total_capital, portfolio_latency FROM portfolios",
    "assets": "SELECT symbol, strategy_plugin, strategy_config::text, allocated_capital "
              "FROM assets",
    "orders": "SELECT client_order_id, status, quantity, fill_price, commission FROM orders",
    "positions": "SELECT side, quantity, entry_price, status FROM positions",
    "statistics": "SELECT key, value FROM statistics",
}


def _flask_db(database_url: str, *args: str) -> str:
    """Run ``flask --app lts:create_app db ARGS`` as its own process; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}
    env.update({"LTS_DATABASE_URL": database_url, "LTS_SECRET_KEY": SECRET})
    flask = str(Path(sys.executable).with_name("flask"))
    done = subprocess.run([flask, "--app", "lts:create_app", "db", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _read(database_url: str) -> dict[str, list[tuple]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {table: [tuple(r) for r in connection.execute(text(sql)).all()]
                    for table, sql in CHECKS.items()}
    finally:
        engine.dispose()


def test_upgrading_from_the_first_revision_keeps_every_row(postgres_url: str) -> None:
    _flask_db(postgres_url, "upgrade", "0001")
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            for sql in ROWS.values():
                connection.execute(text(sql))
    finally:
        engine.dispose()
    before = _read(postgres_url)
    assert all(len(rows) == 1 for rows in before.values()), before

    output = _flask_db(postgres_url, "upgrade")
    assert f"-> {migration_head()}" in output

    assert _read(postgres_url) == before
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")
                                          ).scalar()
            # Columns later revisions added: backfilled (0010) or given their defaults.
            owner = connection.execute(text(
                "SELECT portfolio_id FROM statistics WHERE id = 1")).scalar()
            changed = connection.execute(text(
                "SELECT capital_changed_at FROM portfolios WHERE id = 1")).scalar()
    finally:
        engine.dispose()
    assert revision == migration_head()
    assert owner == 1
    assert changed is None or changed.year == 2026
