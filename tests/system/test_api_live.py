"""``/api/v1`` over a real gunicorn: what only the server, not the test client, answers.

One server for the module (``flask lts run``, its demo user): gunicorn's own refusals
come back in the API's JSON error shape.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.system.concurrency_mix import Server, launch

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("api_live")]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gunicorn server (1 worker x 4 threads) on a fresh SQLite file."""
    workdir = tmp_path_factory.mktemp("api-live")
    server = launch(f"sqlite:///{workdir}/lts.db", workdir, web_workers="1",
                    web_threads="4", wait_seconds=90.0)
    yield server
    server.stop()


def _raw(server: Server, request_line: bytes) -> bytes:
    """Send one raw HTTP/1.1 request and read the whole answer (the server closes)."""
    parts = urlsplit(server.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_gunicorns_414_is_the_json_error_shape(live_server):
    answer = _raw(live_server, b"GET /api/v1/orders?q=" + b"x" * 9000 + b" HTTP/1.1")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414"), answer[:300]
    assert b"Content-Type: application/json" in head
    error = json.loads(body)["error"]
    assert error["code"] == "uri_too_long" and error["message"] and error["fields"] == {}
