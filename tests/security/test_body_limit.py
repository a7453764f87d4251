"""Finding 8: the 1 MB body limit holds for chunked (streamed) bodies too.

A chunked body has no Content-Length; werkzeug used to stop reading at the limit and
parse what it had, so a padded 1.2 MB JSON body created a portfolio (201). Tested with
the Flask client (a stream the server de-chunked) and with a real gunicorn.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from sqlalchemy import func, select

from lts.models import Portfolio
from tests.factories import gen_user
from tests.system.conftest import make_run_server, wait_for_http  # noqa: F401  (fixture)

LIMIT = 1024 * 1024


def padded_body(size: int) -> bytes:
    """A valid JSON object creating a portfolio, padded with spaces to ``size`` bytes."""
    body = json.dumps({"name": "padded", "total_capital": 1}).encode()
    return body + b" " * (size - len(body))


def _streamed_post(client, path: str, body: bytes, headers: dict[str, str]):
    """POST ``body`` as a server hands on a de-chunked stream: no Content-Length."""
    return client.post(path, input_stream=io.BytesIO(body),
                       headers={"Transfer-Encoding": "chunked", **headers},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_streamed_body_over_the_limit_is_a_413(client, db, auth_headers) -> None:
    headers = {**auth_headers(gen_user("chunky")), "Content-Type": "application/json"}
    response = _streamed_post(client, "/api/v1/portfolios", padded_body(LIMIT + 200), headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert db.session.scalar(select(func.count(Portfolio.id))) == 0


def test_a_streamed_body_within_the_limit_still_works(client, db, auth_headers) -> None:
    headers = {**auth_headers(gen_user("chunky")), "Content-Type": "application/json"}
    response = _streamed_post(client, "/api/v1/portfolios", padded_body(LIMIT), headers)
    assert response.status_code == 201
    assert response.get_json()["name"] == "padded"


def test_a_streamed_form_over_the_limit_is_a_413_page(client, db, login_as) -> None:
    login_as(gen_user("chunkyform"))
    body = b"name=x&description=" + b"y" * (LIMIT + 10)
    response = _streamed_post(client, "/portfolios", body,
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert db.session.scalar(select(func.count(Portfolio.id))) == 0


@pytest.mark.slow
def test_gunicorn_refuses_a_chunked_body_over_the_limit(make_run_server) -> None:  # noqa: F811
    server = make_run_server(loop_enabled="false")  # no tick competing for SQLite
    wait_for_http(f"{server.base_url}/healthz", server.process)
    match = re.search(r"log in as (\S+) / (\S+)", server.log())
    assert match, server.log()
    login = requests.post(f"{server.base_url}/api/v1/auth/login", timeout=30,
                          json={"username": match.group(1), "password": match.group(2)})
    assert login.status_code == 201, server.log()[-3000:]
    headers = {"Authorization": f"Bearer {login.json()['token']}",
               "Content-Type": "application/json"}

    def chunks(body: bytes):  # a generator body: requests sends it chunked
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    too_big = requests.post(f"{server.base_url}/api/v1/portfolios", headers=headers,
                            data=chunks(padded_body(LIMIT + 200_000)), timeout=60)
    assert too_big.status_code == 413, too_big.text
    fits = requests.post(f"{server.base_url}/api/v1/portfolios", headers=headers,
                         data=chunks(padded_body(LIMIT - 1000)), timeout=60)
    assert fits.status_code == 201, fits.text
    listed = requests.get(f"{server.base_url}/api/v1/portfolios", headers=headers, timeout=30)
    assert [p["name"] for p in listed.json()["items"]].count("padded") == 1
