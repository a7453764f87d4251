"""JSON log lines, request ids, and the deployment settings (issue 16)."""

from __future__ import annotations

import json
import logging

import pytest

from lts.config import ConfigError, ConfigSources, merge_config
from lts.database import engine_options, resolve_database_url
from lts.logging_setup import (
    ContextFilter,
    JsonFormatter,
    RequestIds,
    current_context,
    gunicorn_logconfig,
    log_context,
    request_id_from,
)
from lts.server import gunicorn_options


def _record(message: str = "hello %s", args: object = ("world",), name: str = "lts.x",
            exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_json_line_names_time_level_logger_message_and_the_ids_in_effect():
    with log_context(request_id="req-1"), log_context(tick="2026-01-05T09:30:00+00:00",
                                                      portfolio_id=7):
        line = JsonFormatter().format(_record())
    body = json.loads(line)
    assert body["message"] == "hello world"
    assert (body["level"], body["logger"]) == ("WARNING", "lts.x")
    assert body["time"].endswith("+00:00")
    assert (body["request_id"], body["tick"], body["portfolio_id"]) == (
        "req-1", "2026-01-05T09:30:00+00:00", 7)
    assert "\n" not in line


def test_ids_end_with_their_block_and_exceptions_stay_on_one_line():
    with log_context(portfolio_id=3):
        pass
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        line = JsonFormatter().format(_record(exc_info=sys.exc_info()))
    body = json.loads(line)
    assert "portfolio_id" not in body and "request_id" not in body
    assert "ValueError: bad" in body["exception"] and "\n" not in line


def test_gunicorn_access_lines_become_fields():
    atoms = {"h": "10.0.0.1", "m": "GET", "U": "/readyz", "q": "", "s": "200", "B": "42",
             "M": "3", "a": "probe", "{x-request-id}o": "abc"}
    record = _record("%(h)s", (atoms,), name="gunicorn.access")
    body = json.loads(JsonFormatter().format(record))
    assert (body["method"], body["path"], body["status"], body["duration_ms"]) == (
        "GET", "/readyz", 200, 3)
    assert body["request_id"] == "abc" and "query" not in body


def test_the_text_filter_appends_the_ids():
    record = _record()
    with log_context(request_id="r9"):
        assert ContextFilter().filter(record)
    assert record.context_suffix == " request_id=r9"


@pytest.mark.parametrize("header", [None, "", "has space", 'quote"', "x" * 129, "a\nb"])
def test_an_insane_incoming_request_id_is_replaced(header):
    made = request_id_from(header)
    assert made != header and len(made) == 32


def test_a_sane_incoming_request_id_is_kept():
    assert request_id_from("7f1c-ab.12:trace/1") == "7f1c-ab.12:trace/1"


def test_gunicorn_options_carry_the_deployment_settings():
    settings = merge_config(ConfigSources(environ={
        "LTS_WEB_TIMEOUT": "90", "LTS_WEB_GRACEFUL_TIMEOUT": "45",
        "LTS_FORWARDED_ALLOW_IPS": "10.0.0.5", "LTS_LIMIT_REQUEST_LINE": "2048",
        "LTS_LOG_FORMAT": "json"}))
    options = gunicorn_options(settings)
    assert (options["timeout"], options["graceful_timeout"]) == (90, 45)
    assert options["forwarded_allow_ips"] == "10.0.0.5"
    assert options["limit_request_line"] == 2048
    assert "{x-request-id}o" in options["access_log_format"]
    assert options["logconfig_dict"]["formatters"]["lts"] == {
        "()": "lts.logging_setup.JsonFormatter"}
    assert gunicorn_logconfig("text")["formatters"]["lts"]["format"].startswith("[%(asctime)s]")


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("LTS_LOG_FORMAT", "xml", "must be one of text, json"),
    ("LTS_REDIS_URL", "http://cache:6379", "expected redis://"),
    ("LTS_FORWARDED_ALLOW_IPS", "proxy.example.com", "is not an IP address"),
    ("LTS_DB_POOL_SIZE", "0", "must be >= 1"),
    ("LTS_LIMIT_REQUEST_LINE", "100000", "must be <= 8190"),
])
def test_bad_deployment_settings_name_the_variable(name, value, needle):
    with pytest.raises(ConfigError) as caught:
        merge_config(ConfigSources(environ={name: value}))
    assert name in str(caught.value) and needle in str(caught.value)


def test_postgres_urls_get_psycopg_3_and_the_pool_settings(tmp_path):
    url = resolve_database_url("postgresql://u:pw@db.internal/lts", tmp_path)
    assert url == "postgresql+psycopg://u:pw@db.internal/lts"
    options = engine_options(url, {"db_pool_size": 8, "db_max_overflow": 2,
                                   "db_pool_timeout": 5.0, "db_pool_recycle": 600,
                                   "db_pool_pre_ping": False})
    assert options == {"pool_pre_ping": False, "pool_size": 8, "max_overflow": 2,
                       "pool_timeout": 5.0, "pool_recycle": 600}
    assert "pool_size" not in engine_options(f"sqlite:///{tmp_path / 'x.db'}", {})


def _call(middleware: RequestIds, environ: dict) -> list[tuple[str, str]]:
    """Run one WSGI request through ``middleware``; return the headers it started with."""
    started: list[list[tuple[str, str]]] = []
    body = middleware(environ, lambda status, headers, exc_info=None: started.append(headers))
    assert b"".join(body) == b"ok"
    return started[0]


def test_the_request_id_is_on_the_log_context_inside_and_gone_after():
    seen = []

    def app(environ, start_response):
        seen.append((current_context().get("request_id"), environ["lts.request_id"]))
        start_response("200 OK", [("Content-Type", "text/plain"), ("x-request-id", "inner")])
        return [b"ok"]

    headers = _call(RequestIds(app), {"HTTP_X_REQUEST_ID": "trace-7"})
    assert seen == [("trace-7", "trace-7")]
    # the inner layer's header is replaced, never doubled
    assert [v for k, v in headers if k.lower() == "x-request-id"] == ["trace-7"]
    assert "request_id" not in current_context()


def test_a_request_without_a_sane_id_gets_a_new_one_each_time():
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    middleware = RequestIds(app)
    first = dict(_call(middleware, {"HTTP_X_REQUEST_ID": "a b"}))["X-Request-ID"]
    second = dict(_call(middleware, {}))["X-Request-ID"]
    assert len(first) == 32 and len(second) == 32 and first != second
