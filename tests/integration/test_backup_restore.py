"""`flask lts backup` / `flask lts restore`: round trips on SQLite and PostgreSQL.

Real databases: the SQLite file of the test, and a PostgreSQL schema when
``LTS_TEST_DATABASE_URL`` is set (pg_dump/pg_restore from PATH).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lts.cli import lts
from lts.models import Portfolio, SchedulerLease, User
from tests.conftest import BACKENDS
from tests.helpers import migration_head

pytestmark = pytest.mark.xdist_group("backup")


def _seed(db, name: str) -> None:  # type: ignore[no-untyped-def]
    from lts.plugins.aaa.users import create_user

    user = create_user(name, f"{name}@example.com", "user", "Correct-Horse-Battery-9")
    db.session.add(Portfolio(user_id=user.id, name=f"{name}'s", portfolio_plugin="equal_weight",
                             portfolio_config={}, total_capital=1000.0, portfolio_latency=5))
    db.session.commit()


def _names(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.session.remove()
    return sorted(db.session.scalars(select(User.username)))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_backup_then_restore_brings_back_the_rows_of_the_backup(database_url, runner, db,
                                                                 tmp_path: Path) -> None:
    if database_url.startswith("postgresql") and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not on PATH")
    _seed(db, "alice")
    out = tmp_path / "lts.backup"
    result = runner.invoke(lts, ["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"revision {migration_head()}" in result.output and out.stat().st_size > 0

    _seed(db, "bob")  # written after the backup: the restore must drop it
    db.session.execute(User.__table__.update().where(User.username == "alice")
                       .values(email="changed@example.com"))
    db.session.commit()
    assert _names(db) == ["alice", "bob"]
    db.session.remove()

    result = runner.invoke(lts, ["restore", str(out)])
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output
    assert _names(db) == ["alice"]
    assert db.session.scalar(select(User.email)) == "alice@example.com"
    assert db.session.scalar(select(func.count(Portfolio.id))) == 1


def test_backup_never_overwrites_and_names_the_option(runner, tmp_path: Path) -> None:
    out = tmp_path / "exists.db"
    out.write_text("keep me")
    result = runner.invoke(lts, ["backup", "--out", str(out)])
    assert result.exit_code == 1
    assert "--out" in result.output and "never overwrites" in result.output
    assert out.read_text() == "keep me"
    missing = runner.invoke(lts, ["backup", "--out", str(tmp_path / "no" / "x.db")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_restore_is_refused_while_a_loop_holds_the_lease_unless_forced(runner, db,
                                                                        tmp_path: Path) -> None:
    _seed(db, "alice")
    out = tmp_path / "lts.backup"
    assert runner.invoke(lts, ["backup", "--out", str(out)]).exit_code == 0
    _seed(db, "bob")
    db.session.add(SchedulerLease(name="tick", holder="host:1234:abcd",
                                  expires_at=datetime.now(UTC) + timedelta(minutes=5)))
    db.session.commit()
    db.session.remove()

    refused = runner.invoke(lts, ["restore", str(out)])
    assert refused.exit_code == 1
    assert "host:1234:abcd holds the scheduler lease" in refused.output
    assert "--force" in refused.output
    assert _names(db) == ["alice", "bob"]  # nothing restored
    db.session.remove()

    forced = runner.invoke(lts, ["restore", "--force", str(out)])
    assert forced.exit_code == 0, forced.output
    assert _names(db) == ["alice"]


def test_restore_refuses_files_that_are_not_lts_backups(runner, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    result = runner.invoke(lts, ["restore", str(text)])
    assert result.exit_code == 1 and "FILE" in result.output
    assert "is not a SQLite database" in result.output

    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = runner.invoke(lts, ["restore", str(other)])
    assert result.exit_code == 1 and "no alembic_version table" in result.output
    missing = runner.invoke(lts, ["restore", str(tmp_path / "gone.db")])
    assert missing.exit_code == 1 and "is not a file" in missing.output


@pytest.mark.postgres
def test_postgres_backup_without_pg_dump_says_what_to_install(postgres_url, tmp_path: Path,
                                                              monkeypatch) -> None:
    from lts.errors import ValidationFailed
    from lts.services.backup import backup
    from tests.conftest import make_test_app

    app = make_test_app(postgres_url, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ValidationFailed) as caught:
        backup(app, tmp_path / "x.dump")
    assert "pg_dump on PATH" in caught.value.fields["--out"][0]
