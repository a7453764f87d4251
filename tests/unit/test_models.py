"""Model invariants the database itself enforces: uniqueness, enums, foreign keys, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from lts.models import Asset, Order, Portfolio, User
from tests.factories import gen_asset, gen_portfolio, gen_user


def insert_user(db, **fields):
    values = {"username": "alice", "email": "alice@example.com", "password_hash": "x",
              "role": "user"}
    values.update(fields)
    db.session.add(User(**values))
    db.session.commit()


def test_duplicate_username_is_rejected(db):
    insert_user(db)
    with pytest.raises(IntegrityError, match="UNIQUE"):
        insert_user(db, email="other@example.com")
    db.session.rollback()


def test_duplicate_email_is_rejected(db):
    insert_user(db)
    with pytest.raises(IntegrityError, match="UNIQUE"):
        insert_user(db, username="alice2")
    db.session.rollback()


def test_unknown_role_is_rejected_by_check_constraint(db):
    with pytest.raises(IntegrityError, match="ck_users_role"):
        insert_user(db, role="superuser")
    db.session.rollback()


@pytest.mark.parametrize(("column", "value", "constraint"), [
    ("side", "hold", "ck_orders_side"),
    ("status", "done", "ck_orders_status"),
    ("order_type", "iceberg", "ck_orders_order_type"),
    ("quantity", 0, "ck_orders_quantity_positive"),
])
def test_bad_order_enum_or_quantity_is_rejected(db, column, value, constraint):
    user = gen_user()
    asset = gen_asset(gen_portfolio(user))
    values = {"asset_id": asset.id, "side": "buy", "quantity": 1.0, "order_type": "market",
              "status": "pending", "client_order_id": "lts-1-0-0"}
    values[column] = value
    db.session.add(Order(**values))
    with pytest.raises(IntegrityError, match=constraint):
        db.session.commit()
    db.session.rollback()


def test_orphan_foreign_key_is_rejected(db):
    db.session.add(Asset(portfolio_id=999, symbol="EUR_USD"))
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        db.session.commit()
    db.session.rollback()


def test_sqlite_connection_pragmas_are_set(db):
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_user_with_portfolios_cannot_be_deleted(db):
    user = gen_user()
    gen_portfolio(user)
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        db.session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
        db.session.commit()
    db.session.rollback()


def test_deleting_a_portfolio_without_orders_deletes_its_assets(db):
    portfolio = gen_portfolio(gen_user())
    gen_asset(portfolio, "AAA")
    db.session.execute(text("DELETE FROM portfolios WHERE id = :id"), {"id": portfolio.id})
    db.session.commit()
    assert db.session.execute(text("SELECT count(*) FROM assets")).scalar() == 0


def test_timestamps_come_back_timezone_aware_utc(db):
    user = gen_user()
    plus_two = timezone(timedelta(hours=2))
    portfolio = gen_portfolio(user, last_execution=datetime(2026, 1, 1, 14, 0, tzinfo=plus_two))
    db.session.expire_all()
    stored = db.session.get(Portfolio, portfolio.id)
    assert stored.last_execution == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert stored.last_execution.tzinfo is not None
    assert stored.created_at.tzinfo is not None


def test_naive_datetime_is_refused(db):
    user = gen_user()
    with pytest.raises(StatementError, match="naive datetime"):
        gen_portfolio(user, last_execution=datetime(2026, 1, 1, 12, 0))
    db.session.rollback()
