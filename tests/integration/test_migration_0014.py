"""Migration 0014: users written before it get UTC and 1,234.56; it also goes back down."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from lts.extensions import db
from tests.conftest import make_test_app


def test_existing_users_get_default_preferences_and_the_migration_reverses(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'old.db'}", tmp_path)
    with app.app_context():
        upgrade(revision="0012")
        db.session.execute(text(
            "INSERT INTO users (username, email, password_hash, role, is_active, created_at, "
            "failed_logins) VALUES ('old', 'old@example.com', 'x', 'user', 1, "
            "'2026-01-01 00:00:00.000000', 0)"))
        db.session.commit()
        upgrade(revision="0014")
        row = db.session.execute(text(
            "SELECT time_zone, number_format FROM users WHERE username = 'old'")).one()
        assert tuple(row) == ("UTC", "en")
        downgrade(revision="0012")
        columns = {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "time_zone" not in columns and "number_format" not in columns
        db.session.remove()
        db.engine.dispose()
