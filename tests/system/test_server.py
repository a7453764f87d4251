"""`make run`'s server is a real gunicorn process: it starts, answers, and stops cleanly."""

from __future__ import annotations

import re

from tests.system.conftest import stop_process_group, wait_for_http


def test_make_run_serves_healthz_over_http_and_stops_cleanly(make_run_server):
    server = make_run_server()
    response = wait_for_http(f"{server.base_url}/healthz", server.process)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["migration"]["up_to_date"] is True
    assert body["version"]

    log = server.log()
    assert re.search(r"log in as demo / \S{12,}", log), log
    assert f"{server.base_url}/" in log

    stop_process_group(server.process)
    assert "Shutting down: Master" in server.log()
    assert server.database_path.exists()
