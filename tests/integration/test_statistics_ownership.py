"""Statistics belong to the portfolio or asset named by their ids, not by their keys.

The writer stores ``portfolio_id`` / ``asset_id`` with every sample (from the keys of
:mod:`lts.models.statistic_keys`); reading and listing series join on those ids, so a
key's text decides nothing. Migration 0010 adds the columns and backfills them from
the keys written before it, on SQLite and PostgreSQL, and comes back down cleanly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from lts.errors import Forbidden, NotFound
from lts.models import Statistic
from lts.models import statistic_keys as keys
from lts.models.types import UTCDateTime
from lts.services import portfolios as portfolio_service
from lts.services import statistics
from lts.trading import statistics as trading_statistics
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(db):
    alice, bob = gen_user("alice"), gen_user("bob")
    root = gen_user("root", role="admin")
    portfolio = gen_portfolio(alice)
    asset = gen_asset(portfolio)
    trading_statistics.record(db.session, [
        (trading_statistics.equity_key(portfolio.id), 10_000.0),
        (trading_statistics.realized_key(portfolio.id), 5.0),
        (trading_statistics.unrealized_key(asset.id), 1.5),
        (trading_statistics.tick_seconds_key(), 0.25)], NOW)
    db.session.commit()
    return {"alice": alice, "bob": bob, "root": root, "portfolio": portfolio, "asset": asset}


def test_the_writer_stores_the_owner_of_every_sample(db, people):
    portfolio, asset = people["portfolio"], people["asset"]
    rows = {row.key: (row.portfolio_id, row.asset_id)
            for row in db.session.scalars(select(Statistic))}
    assert rows == {
        keys.portfolio_key(portfolio.id, keys.EQUITY): (portfolio.id, None),
        keys.portfolio_key(portfolio.id, keys.REALIZED_PNL): (portfolio.id, None),
        keys.asset_key(asset.id, keys.UNREALIZED_PNL): (None, asset.id),
        keys.TICK_SECONDS: (None, None)}


def test_only_the_owner_and_administrators_read_a_series(db, people):
    portfolio, asset = people["portfolio"], people["asset"]
    for key in (trading_statistics.equity_key(portfolio.id),
                trading_statistics.unrealized_key(asset.id)):
        assert len(statistics.get_series(people["alice"], key).points) == 1
        assert len(statistics.get_series(people["root"], key).points) == 1
        with pytest.raises(NotFound):
            statistics.get_series(people["bob"], key)
    with pytest.raises(Forbidden):
        statistics.get_series(people["alice"], keys.TICK_SECONDS)
    assert statistics.list_keys(people["bob"]) == []
    assert set(statistics.list_keys(people["alice"])) == {
        f"portfolio.{portfolio.id}.equity", f"portfolio.{portfolio.id}.realized_pnl",
        f"asset.{asset.id}.unrealized_pnl"}
    assert len(statistics.list_keys(people["root"])) == 4


def test_the_ids_decide_not_the_key_text(db, people):
    """A key naming Alice's portfolio but stored for Bob's is Bob's, and vice versa."""
    bobs = gen_portfolio(people["bob"])
    forged = f"portfolio.{people['portfolio'].id}.forged"
    db.session.add(Statistic(key=forged, value=1.0, timestamp=NOW, portfolio_id=bobs.id))
    unowned = f"portfolio.{people['portfolio'].id}.unowned"
    db.session.add(Statistic(key=unowned, value=2.0, timestamp=NOW))
    db.session.commit()
    with pytest.raises(NotFound):
        statistics.get_series(people["alice"], forged)
    assert statistics.get_series(people["bob"], forged).points[0][1] == 1.0
    assert forged in statistics.list_keys(people["bob"])
    assert forged not in statistics.list_keys(people["alice"])
    with pytest.raises(Forbidden):
        statistics.get_series(people["alice"], unowned)
    assert unowned not in statistics.list_keys(people["alice"])
    assert statistics.get_series(people["root"], unowned).points[0][1] == 2.0


def test_a_fresh_portfolio_has_an_empty_series_only_for_its_owner(db, people):
    fresh = gen_portfolio(people["alice"])
    assert statistics.portfolio_series(people["alice"], fresh.id, keys.EQUITY).points == []
    with pytest.raises(NotFound):
        statistics.portfolio_series(people["bob"], fresh.id, keys.EQUITY)
    with pytest.raises(NotFound):  # a name without rows tells a user nothing
        statistics.get_series(people["alice"], keys.portfolio_key(fresh.id, keys.EQUITY))


def test_deleting_a_portfolio_deletes_its_series(db, people):
    alice = people["alice"]
    spare = gen_portfolio(alice)
    spare_asset = gen_asset(spare)
    trading_statistics.record(db.session, [
        (trading_statistics.equity_key(spare.id), 1.0),
        (trading_statistics.unrealized_key(spare_asset.id), 2.0)], NOW)
    db.session.commit()
    spare_id, asset_id = spare.id, spare_asset.id
    portfolio_service.delete_portfolio(alice, spare_id)
    db.session.commit()
    left = db.session.scalars(select(Statistic.key).where(Statistic.key.in_([
        f"portfolio.{spare_id}.equity", f"asset.{asset_id}.unrealized_pnl"]))).all()
    assert left == []
    assert len(statistics.list_keys(people["root"])) == 4  # the others are kept


# ------------------------------------------------------------------ migration 0010


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables yet: a new SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return str(request.getfixturevalue("postgres_url"))


_JSON_COLUMNS = ("strategy_config", "broker_config", "pipeline_config")
_PLAIN_COLUMNS = ("portfolio_id", "symbol", "name", "strategy_plugin", "broker_plugin",
                  "pipeline_plugin", "allocated_capital", "is_active", "created_at",
                  "updated_at")


def test_migration_0010_backfills_owner_ids_and_downgrades(empty_database: str,
                                                           tmp_path: Path) -> None:
    from flask_migrate import downgrade, upgrade

    from lts.extensions import db

    app = make_test_app(empty_database, tmp_path)
    table = sa.table("statistics", sa.column("id", sa.Integer), sa.column("key", sa.String),
                     sa.column("value", sa.Float), sa.column("timestamp", UTCDateTime()))
    with app.app_context():
        upgrade(revision="0009")
        # Every row is written with the columns revision 0009 has (the ORM models also
        # hold later revisions' columns: 0014's user preferences, 0015's currency).
        users = sa.table("users", *(sa.column(n) for n in (
            "username", "email", "password_hash", "role", "is_active", "created_at",
            "failed_logins")))
        alice_id = db.session.execute(sa.insert(users).values(
            username="alice", email="alice@example.com", password_hash="x", role="user",
            is_active=True, created_at=NOW, failed_logins=0).returning(sa.column("id"))
        ).scalar_one()
        portfolios = sa.table("portfolios", sa.column("portfolio_config", sa.JSON),
                              *(sa.column(n) for n in (
                                  "user_id", "name", "description", "is_active",
                                  "portfolio_plugin", "total_capital", "portfolio_latency",
                                  "created_at", "updated_at", "risk_state")))
        portfolio_id = db.session.execute(sa.insert(portfolios).values(
            user_id=alice_id, name="p", description="", is_active=True,
            portfolio_plugin="equal_weight", portfolio_config={}, total_capital=1000.0,
            portfolio_latency=60, created_at=NOW, updated_at=NOW, risk_state="active",
        ).returning(sa.column("id"))).scalar_one()
        assets = sa.table("assets", *(sa.column(n, sa.JSON) for n in _JSON_COLUMNS),
                          *(sa.column(n) for n in _PLAIN_COLUMNS))
        asset_id = db.session.execute(sa.insert(assets).values(
            portfolio_id=portfolio_id, symbol="EUR/USD", name="", allocated_capital=0.0,
            is_active=True, created_at=NOW, updated_at=NOW, strategy_plugin="sma_cross",
            broker_plugin="paper", pipeline_plugin="synthetic",
            **{n: {} for n in _JSON_COLUMNS}).returning(sa.column("id"))).scalar_one()
        gone = portfolio_id + 1000
        samples = [f"portfolio.{portfolio_id}.equity", f"portfolio.{portfolio_id}.equity",
                   f"asset.{asset_id}.unrealized_pnl", f"portfolio.{gone}.equity",
                   f"asset.{asset_id + 1000}.unrealized_pnl", "loop.tick_seconds",
                   "portfolio.x.equity"]
        db.session.execute(sa.insert(table), [
            {"key": key, "value": float(i), "timestamp": NOW + timedelta(minutes=i)}
            for i, key in enumerate(samples)])
        db.session.commit()
        db.session.remove()

        upgrade(revision="0010")
        owners = db.session.execute(sa.text(
            "SELECT key, portfolio_id, asset_id FROM statistics ORDER BY id")).all()
        assert [tuple(row) for row in owners] == [
            (samples[0], portfolio_id, None), (samples[1], portfolio_id, None),
            (samples[2], None, asset_id), (samples[3], None, None), (samples[4], None, None),
            (samples[5], None, None), (samples[6], None, None)]
        indexes = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("statistics")}
        assert {"ix_statistics_portfolio_id", "ix_statistics_asset_id"} <= indexes
        db.session.remove()

        downgrade(revision="0009")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("statistics")}
        assert columns == {"id", "key", "value", "timestamp"}
        assert db.session.scalar(sa.text("SELECT count(*) FROM statistics")) == len(samples)
        db.session.remove()
        upgrade()  # and up again to head
        db.session.remove()
        db.engine.dispose()
