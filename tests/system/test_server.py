"""`make run`'s server is a real gunicorn process: it starts, answers, and stops cleanly."""

from __future__ import annotations

import re
import time

from tests.system.conftest import stop_process_group, wait_for_http


def test_make_run_serves_healthz_over_http_and_stops_cleanly(make_run_server):
    server = make_run_server()
    response = wait_for_http(f"{server.base_url}/healthz", server.process)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["version"]
    assert response.headers["X-Request-ID"]
    ready = wait_for_http(f"{server.base_url}/readyz", server.process)
    deadline = time.monotonic() + 30
    while ready.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the loop takes the lease at its first tick, bounded
        ready = wait_for_http(f"{server.base_url}/readyz", server.process)
    body = ready.json()
    assert ready.status_code == 200, body
    assert body["migration"]["up_to_date"] is True
    assert body["checks"]["scheduler"]["leader"]

    log = server.log()
    assert re.search(r"log in as demo / \S{12,}", log), log
    assert f"{server.base_url}/" in log

    stop_process_group(server.process)
    assert "Shutting down: Master" in server.log()
    assert server.database_path.exists()
