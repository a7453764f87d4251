"""Shared fixtures: a real migrated SQLite file per test, PostgreSQL when configured.

The schema is migrated once per test session into a template file; each test gets a
byte copy of it, so every test runs against a real database built by the real
migrations, in milliseconds, and no test sees another's rows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from lts import create_app

POSTGRES_URL_VARIABLE = "LTS_TEST_DATABASE_URL"


def make_test_app(database_url: str, tmp_path: Path, **overrides: object) -> Flask:
    """Build an app for tests: its own database, instance folder and fixed secret key."""
    settings: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "loop_enabled": False,
        "session_cookie_secure": False,
        "TESTING": True,
    }
    settings.update(overrides)
    return create_app(settings, instance_path=tmp_path / "instance")


def migrate_to_head(app: Flask) -> None:
    """Run the real Alembic migrations up to head."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` honour ``xdist_group`` marks again.

    xdist 3.8 groups tests by appending ``@<group>`` to each marked item's node id in
    the worker, through ``item._nodeid``; pytest 9.2 keeps the id in ``item._id`` (a
    ``NodeId``), so the suffix was silently lost and every group's tests were spread over
    both workers: module-scoped setups ran once per worker and the tests pinned together
    (system concurrency) ran side by side. This hook (workers only: xdist sets
    ``loadgroup`` there) appends the suffix where xdist could not.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                 for mark in item.iter_markers("xdist_group")}
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per test session (per xdist worker)."""
    folder = tmp_path_factory.mktemp("template-db")
    path = folder / "template.db"
    app = make_test_app(f"sqlite:///{path}", folder)
    migrate_to_head(app)
    with app.app_context():
        from lts.extensions import db

        db.engine.dispose()
    return path


@pytest.fixture
def database_path(template_database: Path, tmp_path: Path) -> Path:
    """This test's own copy of the migrated database file."""
    path = tmp_path / "lts.db"
    shutil.copyfile(template_database, path)
    return path


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Settings a test module can override for its ``app`` (override this fixture)."""
    return {}


# Parametrize a test over both databases with
# ``@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)``: its ``app`` (and
# any second app it builds on ``database_url``) then runs on SQLite and on PostgreSQL
# (the latter skipped unless LTS_TEST_DATABASE_URL is set).
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This test's migrated database: its SQLite copy, or a fresh PostgreSQL schema."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return f"sqlite:///{request.getfixturevalue('database_path')}"
    assert backend == "postgresql", backend
    url: str = request.getfixturevalue("postgres_url")
    migrator = make_test_app(url, tmp_path / "migrate")
    migrate_to_head(migrator)
    with migrator.app_context():
        from lts.extensions import db

        db.engine.dispose()
    return url


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, object]
        ) -> Iterator[Flask]:
    """An LTS app on a fresh migrated database (SQLite unless ``database_url`` says)."""
    application = make_test_app(database_url, tmp_path, **app_overrides)
    yield application
    with application.app_context():
        from lts.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Flask's CLI runner bound to ``app``."""
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask):  # type: ignore[no-untyped-def]
    """The Flask-SQLAlchemy object, inside an app context."""
    from lts.extensions import db as database

    with app.app_context():
        yield database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards.

    Skips when ``LTS_TEST_DATABASE_URL`` is unset; CI sets it when PostgreSQL answers.
    """
    from lts.testing.postgres import fresh_schema

    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    with fresh_schema(base) as url:
        yield url


# --- authentication fixtures (AAA issue) --------------------------------------------


@pytest.fixture
def login_as(client):  # type: ignore[no-untyped-def]
    """Log a user in through the real login form (CSRF included); returns the client.

    ``login_as(user)`` uses the ``client`` fixture; pass ``client=`` to log in another.
    """
    from tests.factories import DEFAULT_PASSWORD
    from tests.helpers import csrf_token

    def _login(user, password: str = DEFAULT_PASSWORD, *, client=client,  # type: ignore[no-untyped-def]
               remember: bool = False, expect_ok: bool = True):
        data = {"csrf_token": csrf_token(client), "username": user.username,
                "password": password}
        if remember:
            data["remember"] = "y"
        response = client.post("/login", data=data)
        if expect_ok:
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def api_token(app: Flask):  # type: ignore[no-untyped-def]
    """Issue a bearer token for a user straight through the aaa plugin: ``api_token(user)``."""

    def _issue(user, name: str = "test token", ttl_hours: int | None = None) -> str:  # type: ignore[no-untyped-def]
        return app.extensions["lts.aaa"].issue_token(user, name, ttl_hours).raw

    return _issue


@pytest.fixture
def auth_headers(api_token):  # type: ignore[no-untyped-def]
    """``auth_headers(user)``: an ``Authorization: Bearer ...`` header for the API."""

    def _headers(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {"Authorization": f"Bearer {api_token(user)}"}

    return _headers


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    """A plain user named alice, stored in this test's database."""
    from tests.factories import gen_user

    return gen_user("alice")


@pytest.fixture
def as_alice(alice, auth_headers):  # type: ignore[no-untyped-def]
    """API headers carrying a fresh bearer token of ``alice``."""
    return auth_headers(alice)


@pytest.fixture
def as_root(db, auth_headers):  # type: ignore[no-untyped-def]
    """API headers of an admin named root (stored in this test's database)."""
    from tests.factories import gen_user

    return auth_headers(gen_user("root", role="admin"))


@pytest.fixture
def htmx_client(app: Flask):  # type: ignore[no-untyped-def]
    """A test client whose every request says ``HX-Request: true``, like htmx does."""
    client = app.test_client()
    client.environ_base["HTTP_HX_REQUEST"] = "true"
    return client


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    """A fake clock; a module passes it to its app by overriding ``app_overrides``."""
    from tests.helpers import FakeClock

    return FakeClock()


@pytest.fixture
def fresh_book():  # type: ignore[no-untyped-def]
    """Empty the fake broker's in-memory book before and after a trading test.

    The hanging fake strategy blocks during the test and is released after it, so a
    thread it hung never outlives the test.
    """
    from tests.trading_fakes import HangingStrategy, reset_book

    reset_book()
    HangingStrategy.RELEASE.clear()
    yield
    HangingStrategy.RELEASE.set()
    reset_book()


@pytest.fixture
def walk_clock():  # type: ignore[no-untyped-def]
    """The fake plugins' clock: 10 minutes after their ``EPOCH``, moved by the test.

    Not ``clock`` (that one starts at the real time): the ``walk`` pipeline builds every
    bar since ``EPOCH``, so at today's date a snapshot takes long enough to hit a short
    ``plugin_timeout_seconds``.
    """
    from lts.trading.clock import ManualClock
    from tests.trading_fakes import EPOCH

    return ManualClock(EPOCH + timedelta(minutes=10))


@pytest.fixture
def engine(app: Flask, db, walk_clock):  # type: ignore[no-untyped-def]
    """An engine over ``tests.trading_fakes``' plugins at ``walk_clock`` (closed after).

    Modules trading other plugins (equity fakes, OANDA fake) override it.
    """
    from lts.trading.engine import Engine
    from tests.trading_fakes import fake_source

    engine = Engine(app, plugins=fake_source(), clock=walk_clock)
    yield engine
    engine.close()


# --- OANDA v20 fake (issue 13) -------------------------------------------------------


@pytest.fixture
def fake_v20():  # type: ignore[no-untyped-def]
    """A fake OANDA v20 server on a free loopback port; ``fake.url`` is its address.

    Shared v20 sessions are dropped afterwards, so no test reuses another's connection.
    """
    from lts.plugins.broker.oanda import OandaBroker
    from lts.plugins.oanda_client import forget_clients
    from tests.fakes.oanda_v20 import FakeV20, serve

    fake = FakeV20()
    OandaBroker._links.clear()  # position -> trade links of an earlier test's account
    with serve(fake) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake
    forget_clients()
    OandaBroker._links.clear()


# --- example packages, installed the way an installer lays them out ------------------


@pytest.fixture
def install_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``install_example(package)``: install an example package for this test only.

    The package (``tests.helpers.PLUGIN_PACKAGE``, ``CORE_PLUGIN_PACKAGE`` or a copy of
    one) is laid out in a fresh folder by :func:`tests.helpers.install_from_pyproject`
    and put on ``sys.path``; returns the distribution name. Its modules are dropped from
    ``sys.modules`` afterwards, so the next test imports them afresh.
    """
    import importlib

    from tests.helpers import forget_modules_under, install_from_pyproject

    sites: list[Path] = []

    def _install(package: Path) -> str:
        site = tmp_path / f"site-{len(sites)}"
        site.mkdir()
        sites.append(site)
        name = install_from_pyproject(package, site)
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        return name

    yield _install
    for site in sites:
        forget_modules_under(site)
