"""Concurrency on a real server (issue 10, SPEC 2a): no 5xx, every order answered once.

Real ``flask lts run`` processes (gunicorn, 2 workers x 4 threads, the trading loop
ticking), on SQLite and, when ``LTS_TEST_DATABASE_URL`` is set, on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS
from tests.system.concurrency_mix import (
    Account,
    broker_lost_orders,
    exactly_once_problems,
    placed_ids,
    run_in_background,
    run_mix,
    seed,
    server_errors,
    start_server,
    status_table,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-concurrency")]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_sixteen_clients_mixing_writes_get_no_5xx_and_each_order_is_answered_once(
        database_url: str, tmp_path: Path) -> None:
    seeded = seed(database_url, tmp_path / "seed")
    server = start_server(database_url, tmp_path, global_latency="0.05")
    try:
        answers = run_mix(server.base_url, seeded.accounts, clients=16, requests_each=50)
    finally:
        server.stop()
    failures = server_errors(answers)
    assert failures == [], (status_table(answers), failures[:5], server.log()[-3000:])
    assert sum(placed_ids(answers).values()) >= 100, status_table(answers)
    assert {a.status for a in answers if a.kind == "denied"} == {403}
    assert exactly_once_problems(database_url, answers) == []
def _lease_holder(database_url: str) -> str | None:
    """The holder of the tick lease, read with a plain engine."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(
                "SELECT holder FROM scheduler_leases WHERE name = 'tick'")).scalar()
    finally:
        engine.dispose()


def _wait_for_lease(database_url: str, other_than: str | None, seconds: float) -> str:
    """Poll until someone other than ``other_than`` holds the tick lease."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        holder = _lease_holder(database_url)
        if holder is not None and holder != other_than:
            return holder
        time.sleep(0.1)  # polling the database, bounded by the deadline
    raise AssertionError(f"no new lease holder within {seconds} s")


def _press_run_now(base_url: str, account: Account, answers: list[int]) -> None:
    """One press of "Run now" on the account's portfolio; its status is recorded."""
    try:
        response = requests.post(f"{base_url}/api/v1/portfolios/{account.portfolio_id}/run",
                                 headers={"Authorization": f"Bearer {account.token}"},
                                 timeout=60)
        answers.append(response.status_code)
    except requests.RequestException:
        answers.append(0)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_run_now_and_lease_takeover_never_turn_a_filled_order_into_error(
        database_url: str, tmp_path: Path) -> None:
    seeded = seed(database_url, tmp_path / "seed")
    placer, presser = seeded.accounts[0], seeded.accounts[1]
    # The leader: one worker, a short lease so the takeover happens inside the test.
    leader = start_server(database_url, tmp_path, web_workers="1", lease_seconds="2",
                          global_latency="0.02")
    follower = None
    try:
        first = _wait_for_lease(database_url, None, 30)
        follower = start_server(database_url, tmp_path, lease_seconds="2",
                                global_latency="0.02")
        presses: list[int] = []
        pressers = [run_in_background(lambda: _press_run_now(follower.base_url, presser,
                                                             presses)) for _ in range(2)]
        crash = threading.Timer(4.0, leader.kill)  # kill -9 of the leader mid-run
        crash.start()
        answers = run_mix(follower.base_url, [placer], clients=4, seconds=12, seed_value=20)
        for thread, stop in pressers:
            stop.set()
            thread.join(timeout=60)
        crash.join()
        assert _wait_for_lease(database_url, first, 30) != first
    finally:
        leader.kill()
        if follower is not None:
            follower.stop()
    assert presses and set(presses) <= {200}, (presses, follower.log()[-6000:])
    assert server_errors(answers) == [], status_table(answers)
    told_error = [a.body for a in answers if a.kind in ("order", "close")
                  and isinstance(a.body, dict) and a.body.get("status") in ("error", "unknown")]
    assert told_error == []
    assert broker_lost_orders(database_url) == []
