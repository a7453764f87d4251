"""Steps for operator_database.feature, run through the real CLI on a real database file."""

from __future__ import annotations

import shlex

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import func, select

from lts.cli import lts
from lts.extensions import db
from lts.models import Asset, Portfolio, User
from tests.conftest import make_test_app

scenarios("features/operator_database.feature")


@pytest.fixture
def context() -> dict:
    return {}


@given("an empty database file", target_fixture="operator_app")
def empty_database(tmp_path):
    return make_test_app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)


@given("a migrated database", target_fixture="operator_app")
def migrated_database(app):
    return app


@when(parsers.parse('the operator runs "{command}"'))
def operator_runs(operator_app, context, command):
    args = shlex.split(command)
    assert args[:2] == ["flask", "lts"]
    result = operator_app.test_cli_runner().invoke(lts, args[2:])
    context.setdefault("results", []).append(result)


@then("the command succeeds")
def command_succeeds(context):
    for result in context["results"]:
        assert result.exit_code == 0, result.output


@then(parsers.parse("show-schema lists the tables {tables}"))
def show_schema_lists(operator_app, tables):
    output = operator_app.test_cli_runner().invoke(lts, ["show-schema"]).output
    listed = {line for line in output.splitlines() if line and not line.startswith(" ")}
    assert {t.strip() for t in tables.split(",")} <= listed


@then(parsers.parse("the database holds {users:d} user, {portfolios:d} portfolio and "
                    "{assets:d} assets"))
def database_holds(operator_app, users, portfolios, assets):
    with operator_app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == users
        assert db.session.scalar(select(func.count(Portfolio.id))) == portfolios
        assert db.session.scalar(select(func.count(Asset.id))) == assets


@then("the demo password is stored only as an argon2id hash")
def password_is_hashed(operator_app, context):
    password = context["results"][-1].output.strip().rsplit(" / ", 1)[1]
    with operator_app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.username == "demo"))
    assert stored.startswith("$argon2id$")
    assert password not in stored
