"""Password reset against `make run`'s real gunicorn server (issue 11, findings 1 and 3).

A forged Host is refused; the mailed link points at the server's own address (``make
run`` derives ``public_url`` from the port); a slow mail server does not slow the
answer for a known account.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
import requests

from tests.security.smtp_server import SlowSMTPServer
from tests.system.conftest import wait_for_http

pytestmark = pytest.mark.slow

DELAY = 0.5
ROUNDS = 3


def test_reset_over_http_refuses_forged_hosts_and_mails_the_public_link(make_run_server):
    with SlowSMTPServer(delay=DELAY) as smtp:
        server = make_run_server(smtp_host="127.0.0.1", smtp_port=str(smtp.port),
                                 smtp_from="lts@example.org", smtp_starttls="false",
                                 reset_rate_limit="100 per minute",
                                 login_rate_limit="100 per minute", loop_enabled="false")
        wait_for_http(f"{server.base_url}/healthz", server.process)
        url = f"{server.base_url}/api/v1/auth/password-reset"

        forged = requests.post(url, json={"identifier": "demo"}, timeout=10,
                               headers={"Host": "evil.example.com"})
        assert forged.status_code == 400
        assert forged.json()["error"]["code"] == "untrusted_host"

        def timed(identifier: str) -> float:
            start = time.perf_counter()
            response = requests.post(url, json={"identifier": identifier}, timeout=10)
            assert response.status_code == 202
            return time.perf_counter() - start

        known, unknown = [], []
        for _ in range(ROUNDS):
            known.append(timed("demo"))
            unknown.append(timed("nobody-here"))
        assert abs(statistics.median(known) - statistics.median(unknown)) < DELAY / 2, (
            known, unknown)

        mails = smtp.wait_for(ROUNDS, timeout=ROUNDS * DELAY + 30)
        link = re.search(r"\S+/reset/\S+", mails[0].get_payload(decode=True).decode()).group(0)
        assert link.startswith(f"{server.base_url}/reset/"), link
        assert requests.get(link, timeout=10).status_code == 200
