"""Real gunicorn (2 workers x 4 threads): concurrent duplicates with one Idempotency-Key.

Threads released together by a barrier send the same request with the same key to the
two worker processes; whichever runs first places the order, the others wait for it.
Whatever the interleaving, there must be one order and one answer, byte for byte.
"""

from __future__ import annotations

import re
import threading

import pytest
import requests

from tests.conftest import BACKENDS
from tests.system.conftest import stop_process_group, wait_for_http

pytestmark = pytest.mark.slow

CLIENTS = 8


@pytest.fixture
def server_database(request: pytest.FixtureRequest, tmp_path) -> dict[str, str]:
    """Server settings naming its database: SQLite by default, or a PostgreSQL schema."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


def demo_session(server) -> tuple[dict[str, str], int]:
    """A bearer header for the demo user and the id of one of its assets."""
    match = re.search(r"log in as demo / (\S+)", server.log())
    assert match, server.log()
    login = requests.post(f"{server.base_url}/api/v1/auth/login", timeout=30,
                          json={"username": "demo", "password": match.group(1)})
    assert login.status_code == 201, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    portfolio = requests.get(f"{server.base_url}/api/v1/portfolios", headers=headers,
                             timeout=30).json()["items"][0]
    assets = requests.get(f"{server.base_url}/api/v1/portfolios/{portfolio['id']}/assets",
                          headers=headers, timeout=30).json()["items"]
    for asset in assets:  # a threshold no forecast reaches: the strategy only holds
        held = requests.patch(f"{server.base_url}/api/v1/assets/{asset['id']}",
                              headers=headers, timeout=30,
                              json={"strategy_config": {"threshold": 1e9}})
        assert held.status_code == 200, held.text
    # Run it once so the allocator gives the assets their capital.
    ran = requests.post(f"{server.base_url}/api/v1/portfolios/{portfolio['id']}/run",
                        headers=headers, timeout=60)
    assert ran.status_code == 200, ran.text
    assets = requests.get(f"{server.base_url}/api/v1/portfolios/{portfolio['id']}/assets",
                          headers=headers, timeout=30).json()["items"]
    return headers, assets[0]["id"]


def send_together(url: str, headers: dict[str, str], body: dict, n: int
                  ) -> list[tuple[int, bytes]]:
    """POST ``body`` from ``n`` threads at once; every (status, body) answered."""
    barrier = threading.Barrier(n)
    answers: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with requests.Session() as session:
                barrier.wait()
                response = session.post(url, headers=headers, json=body, timeout=60)
                answers.append((response.status_code, response.content))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert errors == [] and len(answers) == n
    return answers


@pytest.mark.parametrize("server_database", BACKENDS, indirect=True)
def test_concurrent_duplicates_on_gunicorn_place_one_order_with_one_answer(
        make_run_server, server_database):
    server = make_run_server(web_workers="2", web_threads="4", loop_enabled="false",
                             **server_database)
    assert wait_for_http(f"{server.base_url}/healthz", server.process).status_code == 200
    headers, asset_id = demo_session(server)
    url = f"{server.base_url}/api/v1/assets/{asset_id}/orders"
    for round_ in range(3):
        keyed = {**headers, "Idempotency-Key": f"system-{round_}"}
        answers = send_together(url, keyed, {"side": "buy", "quantity": 1}, CLIENTS)
        assert len(set(answers)) == 1, answers  # one answer, byte for byte
        status, body = answers[0]
        assert status == 201, (body, server.log()[-4000:])
    every = requests.get(f"{server.base_url}/api/v1/orders", headers=headers,
                         timeout=30).json()["items"]
    # One order per key, whatever the interleaving (and none from the holding strategy).
    assert sorted((o["source"], o["status"]) for o in every) == [("manual", "filled")] * 3
    assert "Traceback" not in server.log()
    stop_process_group(server.process)
