"""Rate limits on Redis (issue 16): two gunicorn workers share one login budget.

Skipped unless ``LTS_TEST_REDIS_URL`` is set. Requests carry their own ``X-Request-ID``;
the JSON access log says which worker (process) answered each, so the test knows both
workers served and that together they allowed exactly the configured rate.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.system.ops_support import redis_url_or_skip, start

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-ops")]

RATE = 3
ATTEMPTS = 40


def _attempt(base_url: str, request_id: str) -> int:
    """One failed API login on a fresh connection; its status."""
    with requests.Session() as session:
        return session.post(f"{base_url}/api/v1/auth/login", timeout=60,
                            headers={"X-Request-ID": request_id},
                            json={"username": "nobody", "password": "wrong-password-1"}
                            ).status_code


def _workers_by_request(log: str) -> dict[str, int]:
    """request id -> pid of the worker that answered it, from the JSON access lines."""
    found = {}
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("logger") == "gunicorn.access" and "request_id" in record:
            found[record["request_id"]] = record["process"]
    return found


def test_two_workers_on_redis_allow_the_rate_once_between_them(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    from tests.conftest import make_test_app, migrate_to_head

    database_url = f"sqlite:///{tmp_path / 'lts.db'}"
    migrate_to_head(make_test_app(database_url, tmp_path / "migrate"))
    prefix = f"lts-test-{uuid.uuid4().hex[:8]}"
    server = start(database_url, tmp_path, web_workers="2", web_threads="4",
                   loop_enabled="false", log_format="json", log_level="INFO",
                   redis_url=redis_url, redis_key_prefix=prefix,
                   login_rate_limit=f"{RATE} per minute", ready_path="/readyz")
    try:
        ids = [f"limit-{index}" for index in range(ATTEMPTS)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda rid: _attempt(server.base_url, rid), ids))
        ready = requests.get(f"{server.base_url}/readyz", timeout=30).json()
    finally:
        server.stop()
    workers = _workers_by_request(server.log())
    assert len({workers[rid] for rid in ids}) == 2, "both workers must have answered"
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == RATE, statuses  # one budget for both workers
    assert ready["checks"]["redis"] == {"ok": True}
