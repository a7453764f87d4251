"""Cancels and risk-state changes under real concurrency: gunicorn, 2 workers x 4 threads.

A real `make run` server, on SQLite and on PostgreSQL, with the loop ticking every 3 s. Sixteen
clients at once cancel resting orders (each order by two clients), flip the portfolio's
risk state and read orders. Nothing may answer 5xx; every order ends cancelled exactly
once, with its request and its outcome audited.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import bindparam, create_engine, text

from tests.system.conftest import stop_process_group, wait_for_http

ORDERS = 12


def _login(server) -> dict[str, str]:
    """A bearer token for the demo admin (its password is printed by `make run`)."""
    base, log = server.base_url, server.log()
    password = re.search(r"log in as demo / (\S+)", log).group(1)  # type: ignore[union-attr]
    # Logging in may still answer 500 on a busy SQLite (issue 10 item 7, fixed on its
    # own branch); it is not what this test is about, so a 5xx login is tried again.
    for _attempt in range(10):
        answer = requests.post(f"{base}/api/v1/auth/login", timeout=30,
                               json={"username": "demo", "password": password})
        if answer.status_code < 500:
            break
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _resting_orders(base: str, headers: dict[str, str]) -> tuple[int, list[int]]:
    """A portfolio with one asset and ORDERS limit buys resting far below the price."""
    session = requests.Session()
    session.headers.update(headers)
    portfolio = session.post(f"{base}/api/v1/portfolios", timeout=30, json={
        "name": "Cancels", "total_capital": 100_000.0, "portfolio_latency": 1}).json()
    asset = session.post(f"{base}/api/v1/portfolios/{portfolio['id']}/assets", timeout=30,
                         json={"symbol": "EUR_USD", "pipeline_plugin": "synthetic",
                               "strategy_plugin": "prediction_threshold",
                               "strategy_config": {"threshold": 1000.0},
                               "broker_plugin": "paper"}).json()
    # Run it once so the allocator gives the asset its capital (the strategy holds).
    ran = session.post(f"{base}/api/v1/portfolios/{portfolio['id']}/run", timeout=60)
    assert ran.status_code == 200, ran.text
    ids = []
    for _ in range(ORDERS):
        body = session.post(f"{base}/api/v1/assets/{asset['id']}/orders", timeout=30, json={
            "side": "buy", "quantity": 1, "order_type": "limit", "price": 0.01}).json()
        assert (body.get("order") or {}).get("status") == "submitted", body
        ids.append(body["order"]["id"])
    return portfolio["id"], ids


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Server settings for SQLite (the server's default file) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


def test_concurrent_cancels_and_risk_changes_never_5xx_and_cancel_once(make_run_server,
                                                                       backend_settings):
    # Paused while the scene is set up (logging in is not what this test is about);
    # the loop then ticks every 3 s through the whole mix.
    server = make_run_server(web_workers="2", web_threads="4", global_latency="0.05",
                             loop_paused="true", **backend_settings)
    wait_for_http(f"{server.base_url}/healthz", server.process)
    base = server.base_url
    headers = _login(server)
    portfolio_id, order_ids = _resting_orders(base, headers)
    resumed = requests.post(f"{base}/api/v1/loop/resume", headers=headers, timeout=60)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(16)

    def client(n: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        start.wait()
        answers = []
        for i in range(6):
            kind = (n + i) % 4
            if kind in (0, 1):  # every order is cancelled by two clients
                order_id = order_ids[(n * 3 + i) % ORDERS]
                answers.append(session.delete(f"{base}/api/v1/orders/{order_id}",
                                              timeout=60).status_code)
            elif kind == 2:
                state = ("reducing", "active")[i % 2]
                answers.append(session.put(
                    f"{base}/api/v1/portfolios/{portfolio_id}/risk-state", timeout=60,
                    json={"state": state, "reason": f"client {n}"}).status_code)
            else:
                answers.append(session.get(f"{base}/api/v1/orders?per_page=50",
                                           timeout=60).status_code)
        with lock:
            statuses.update(answers)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whatever was left after the mix (an order no client happened to pick) goes now.
    leftover = [requests.delete(f"{base}/api/v1/orders/{order_id}", headers=headers,
                                timeout=60).status_code for order_id in order_ids]
    failures = [line for line in server.log().splitlines() if "unhandled error" in line]
    assert not [s for s in statuses if s >= 500], (statuses, failures[:10])
    assert set(statuses) <= {200, 409}, statuses
    assert set(leftover) <= {200, 409}, leftover
    stop_process_group(server.process)
    _check_books(backend_settings.get("database_url")
                 or f"sqlite:///{server.database_path}", order_ids)


def _check_books(url: str, order_ids: list[int]) -> None:
    """Every order cancelled once, at the broker too, its request and outcome audited."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            ids = {"ids": order_ids}
            statuses = connection.execute(text(
                "SELECT DISTINCT status FROM orders WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)), ids).scalars().all()
            assert statuses == ["cancelled"], statuses
            for order_id in order_ids:
                rows = connection.execute(text(
                    "SELECT action, details FROM audit_logs WHERE resource = :resource"),
                    {"resource": f"order:{order_id}"}).all()
                audit = Counter(action for action, details in rows
                                if action != "order.status"
                                or _json(details).get("to") == "cancelled")
                assert audit["order.status"] == 1, (order_id, audit)
                assert audit["order.cancel"] >= 1 and audit["order.cancel_requested"] >= 1
            paper = connection.execute(text(
                "SELECT DISTINCT p.status FROM paper_orders p JOIN orders o "
                "ON o.client_order_id = p.client_order_id WHERE o.id IN :ids").bindparams(
                bindparam("ids", expanding=True)), ids).scalars().all()
            assert paper == ["cancelled"], paper
    finally:
        engine.dispose()


def _json(value: object) -> dict:
    """A JSON column as read by plain SQL: text on SQLite, a dict on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})
