"""The real server (`make run`: gunicorn, two workers) trades the demo portfolio."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.system.conftest import stop_process_group, wait_for_http

pytestmark = pytest.mark.slow


def query(path, sql):
    """Read the server's database without writing to it."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def make_demo_trade_now(path):
    """Threshold 0 and "never ran": the next tick opens a position whatever the prices.

    The synthetic prices follow the wall clock, so with the default threshold whether
    the demo trades within the deadline would depend on the minute the test runs.
    """
    connection = sqlite3.connect(path, timeout=10)
    try:
        with connection:
            connection.execute("UPDATE assets SET strategy_config = ?",
                               ('{"threshold": 0.0, "allow_short": true}',))
            connection.execute("UPDATE portfolios SET last_execution = NULL")
    finally:
        connection.close()


def test_make_run_loop_places_paper_orders_with_one_leader(make_run_server):
    # A tick every 1.2 s; two gunicorn workers both start a scheduler, one holds the lease.
    server = make_run_server(global_latency="0.02", web_workers="2")
    assert wait_for_http(f"{server.base_url}/healthz", server.process).status_code == 200
    make_demo_trade_now(server.database_path)
    deadline = time.monotonic() + 90
    orders = []
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log()}")
        orders = query(server.database_path,
                       "SELECT client_order_id, status FROM orders")
        ticks = query(server.database_path,
                      "SELECT count(*) FROM statistics WHERE key = 'loop.tick_seconds'")[0][0]
        if orders and ticks >= 2:
            break
        time.sleep(0.2)  # polling the database, bounded by the deadline
    assert orders, f"no order within 90 s:\n{server.log()[-3000:]}"
    assert all(cid.startswith("lts-") for cid, _ in orders)
    assert {status for _, status in orders} <= {"filled", "submitted", "rejected", "cancelled"}
    (holders,) = query(server.database_path, "SELECT count(*) FROM scheduler_leases")[0]
    assert holders == 1
    log = server.log()
    assert log.count("trading loop started") == 2  # one scheduler per worker
    assert "tick: 1 portfolio(s)" in log
    stop_process_group(server.process)
    assert query(server.database_path, "SELECT count(*) FROM scheduler_leases")[0][0] == 0
