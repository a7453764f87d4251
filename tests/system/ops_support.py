"""Helpers of the ops system tests: test plugins as a distribution, servers with them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.system.concurrency_mix import PROJECT_ROOT, SECRET, Server, launch

REDIS_URL_VARIABLE = "LTS_TEST_REDIS_URL"


def redis_url_or_skip() -> str:
    """The test Redis, or a skip saying which variable to set."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    if not url:
        pytest.skip(f"{REDIS_URL_VARIABLE} is not set (e.g. redis://127.0.0.1:6379/0)")
    return url


def install_test_plugins(site: Path) -> Path:
    """Make ``tests.system.ops_plugins`` an installed distribution visible from ``site``."""
    info = site / "lts_ops_test_plugins-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lts-ops-test-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[lts.pipeline]\nrecording_synthetic = tests.system.ops_plugins:RecordingPipeline\n"
        "[lts.broker]\ncrash_paper = tests.system.ops_plugins:CrashBroker\n")
    return site


def start(database_url: str, workdir: Path, *, env: dict[str, str] | None = None,
          **launch_options: Any) -> Server:
    """Start ``flask lts run`` (or gunicorn) with the test plugins; wait for ``ready_path``."""
    site = install_test_plugins(workdir / "site")
    plugins = {"PYTHONPATH": os.pathsep.join([str(site), str(PROJECT_ROOT)])}
    return launch(database_url, workdir, env={**plugins, **(env or {})}, wait_seconds=90.0,
                  **launch_options)


# ------------------------------------------------------------------------------- seed


def seed_portfolios(database_url: str, instance: Path, *, portfolios: int, assets: int,
                    broker: str = "paper") -> list[Any]:
    """One trader with ``portfolios`` recording portfolios of ``assets`` assets each.

    Every portfolio is due every latency unit (portfolio_latency 1) and its strategy
    trades on every step (threshold 0). Returns the concurrency mix's Accounts, one per
    portfolio, all of the same trader.
    """
    from lts import create_app
    from lts.extensions import db
    from lts.models import Asset, Portfolio
    from lts.plugins.aaa.users import create_user
    from tests.system.concurrency_mix import PASSWORD, Account

    app = create_app({"database_url": database_url, "secret_key": SECRET,
                      "loop_enabled": False, "log_level": "WARNING"}, instance_path=instance)
    accounts = []
    with app.app_context():
        user = create_user("trader", "trader@example.com", "user", PASSWORD)
        token = str(app.extensions["lts.aaa"].issue_token(user, "ops", 24).raw)
        for index in range(portfolios):
            portfolio = Portfolio(user_id=user.id, name=f"portfolio {index}",
                                  portfolio_plugin="equal_weight", portfolio_config={},
                                  total_capital=1e9, portfolio_latency=1)
            db.session.add(portfolio)
            db.session.flush()
            rows = [Asset(portfolio_id=portfolio.id, symbol=f"S{index}{n}", name="",
                          pipeline_plugin="recording_synthetic", pipeline_config={},
                          strategy_plugin="prediction_threshold",
                          strategy_config={"threshold": 0.0, "allow_short": True},
                          broker_plugin=broker, broker_config={}) for n in range(assets)]
            db.session.add_all(rows)
            db.session.commit()
            accounts.append(Account(user.username, token, portfolio.id,
                                    tuple(a.id for a in rows)))
        db.session.remove()
        db.engine.dispose()
    return accounts


# ---------------------------------------------------------------------- browser client


def login_browser(base_url: str, username: str, password: str) -> requests.Session:
    """A requests session logged in through the real login form (CSRF included)."""
    from tests.helpers import _CSRF_INPUT

    session = requests.Session()
    page = session.get(f"{base_url}/login", timeout=60)
    match = _CSRF_INPUT.search(page.text)
    assert match, page.text[:500]
    token = match.group(1) or match.group(2)
    answer = session.post(f"{base_url}/login", timeout=60, allow_redirects=False,
                          data={"csrf_token": token, "username": username,
                                "password": password})
    assert answer.status_code in (302, 303), answer.text[:500]
    return session


# (path, HX-Target) of the dashboard's htmx partials a browser polls.
PARTIALS = (("/", "overview-figures"), ("/", "overview-loop"), ("/", "overview-orders"),
            ("/", "overview-positions"), ("/orders", "orders-table"),
            ("/positions", "positions-table"))


def run_partials(base_url: str, session: requests.Session, deadline: float, seed: int
                 ) -> list[Any]:
    """Poll dashboard partials as htmx does until ``deadline`` (monotonic)."""
    import random

    from tests.system.concurrency_mix import Answer

    rng = random.Random(seed)
    answers = []
    while time.monotonic() < deadline:
        path, target = rng.choice(PARTIALS)
        started = time.perf_counter()
        try:
            response = session.get(f"{base_url}{path}", timeout=60,
                                   headers={"HX-Request": "true", "HX-Target": target})
            answers.append(Answer("partial", response.status_code,
                                  time.perf_counter() - started, response.text[:200]))
        except requests.RequestException as exc:
            answers.append(Answer("partial", 0, time.perf_counter() - started,
                                  error=repr(exc)[:300]))
    session.close()
    return answers


def rows(database_url: str, sql: str) -> list[Any]:
    """The rows of ``sql`` on a fresh connection (the server's own writes, committed)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)).all())
    finally:
        engine.dispose()


def wait_for(predicate: Any, seconds: float, what: str) -> Any:
    """``predicate()``'s first truthy answer, polled until ``seconds`` pass (then fail)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)  # polling files and rows, bounded by the deadline
    raise AssertionError(f"{what} within {seconds} s")
