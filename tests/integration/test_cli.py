"""`flask lts` commands through Flask's CLI runner, against a real database file."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from lts.cli import lts
from lts.models import Asset, Portfolio, User
from lts.plugins.aaa.passwords import verify_password


def test_show_schema_lists_the_ten_tables(runner):
    result = runner.invoke(lts, ["show-schema"])
    assert result.exit_code == 0, result.output
    for table in ("users", "sessions", "audit_logs", "config", "statistics", "portfolios",
                  "assets", "orders", "positions", "scheduler_leases"):
        assert f"\n{table}\n" in f"\n{result.output}"
    assert "client_order_id" in result.output


def test_demo_is_idempotent_and_prints_a_working_password(app, runner, db):
    first = runner.invoke(lts, ["demo"])
    second = runner.invoke(lts, ["demo"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert db.session.scalar(select(func.count(User.id))) == 1
    assert db.session.scalar(select(func.count(Portfolio.id))) == 1
    assert db.session.scalar(select(func.count(Asset.id))) == 2
    password = second.output.strip().rsplit(" / ", 1)[1]
    user = db.session.scalar(select(User).where(User.username == "demo"))
    db.session.refresh(user)
    assert user.role == "admin"
    assert verify_password(user.password_hash, password)
    assert "http://127.0.0.1:8000/" in second.output


def test_create_user_reads_password_from_stdin(runner, db):
    result = runner.invoke(lts, ["create-user", "carol", "--email", "carol@example.com",
                                 "--role", "admin", "--password-stdin"],
                           input="a-long-and-unusual-passphrase\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "carol"))
    assert user.role == "admin"
    assert user.password_hash.startswith("$argon2id$")


def test_create_user_refuses_weak_password_with_the_reason(runner, db):
    result = runner.invoke(lts, ["create-user", "dave", "--email", "dave@example.com",
                                 "--password-stdin"], input="short\n")
    assert result.exit_code != 0
    assert "password must be at least 12 characters long" in result.output
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_create_user_refuses_duplicate_username(runner, db):
    args = ["create-user", "erin", "--email", "erin@example.com", "--password-stdin"]
    assert runner.invoke(lts, args, input="first-long-passphrase\n").exit_code == 0
    result = runner.invoke(lts, ["create-user", "ERIN", "--email", "e2@example.com",
                                 "--password-stdin"], input="second-long-passphrase\n")
    assert result.exit_code != 0
    assert "username is already taken" in result.output


def test_bad_set_option_exits_non_zero_naming_the_key(runner):
    result = runner.invoke(lts, ["--set", "port=eighty", "init-db"])
    assert result.exit_code != 0
    assert "--set port: key 'port': expected an integer" in result.output


def test_save_config_writes_merged_masked_settings(runner, tmp_path):
    path = tmp_path / "saved.json"
    result = runner.invoke(lts, ["--set", "port=9001", "--set", "secret_key=hunter2hunter2",
                                 "--save-config", str(path)])
    assert result.exit_code == 0, result.output
    saved = json.loads(path.read_text())
    assert saved["port"] == 9001
    assert saved["secret_key"] == "********"


def test_load_config_file_errors_name_the_file(runner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    result = runner.invoke(lts, ["--load-config", str(path), "init-db"])
    assert result.exit_code != 0
    assert f"config file {path}: invalid JSON" in result.output
