"""Configuration merge precedence and every error case of SPEC section 4."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from lts.config import (
    MASK,
    ConfigError,
    ConfigSources,
    defaults,
    merge_config,
    save_config,
)


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def remote_server():
    """A local HTTP server answering the body set on it (for --remote-config)."""
    state: dict[str, object] = {"status": 200, "body": "{}"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = str(state["body"]).encode()
            self.send_response(int(state["status"]))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/config.json"
    yield state
    server.shutdown()
    server.server_close()


def test_defaults_apply_when_no_source_given():
    merged = merge_config(ConfigSources())
    assert merged == defaults()
    assert merged["global_latency"] == 1.0
    assert merged["default_portfolio_latency"] == 60
    assert merged["registration_open"] is False


def test_each_layer_overrides_the_one_below(tmp_path, remote_server):
    file_path = write_json(tmp_path / "c.json", {"port": 1001, "host": "file", "log_level": "DEBUG",
                                                 "web_threads": 7, "smtp_from": "file@x"})
    environ = {"LTS_PORT": "1002", "LTS_HOST": "env", "LTS_WEB_THREADS": "8"}
    remote_server["body"] = json.dumps({"port": 1004})
    merged = merge_config(ConfigSources(config_file=file_path, environ=environ,
                                        cli_sets=("port=1003", "host=cli"),
                                        remote_url=str(remote_server["url"])))
    assert merged["port"] == 1004            # remote beats --set
    assert merged["host"] == "cli"           # --set beats environment
    assert merged["web_threads"] == 8        # environment beats file
    assert merged["log_level"] == "DEBUG"    # file beats defaults
    assert merged["smtp_from"] == "file@x"


def test_overrides_beat_every_source():
    merged = merge_config(ConfigSources(cli_sets=("port=1",)), {"port": 2})
    assert merged["port"] == 2


def test_environment_strings_are_coerced_to_the_setting_type():
    merged = merge_config(ConfigSources(environ={
        "LTS_LOOP_ENABLED": "false", "LTS_GLOBAL_LATENCY": "0.5", "LTS_MAX_ORDER_NOTIONAL": "null",
        "PATH": "/bin", "LTS_TEST_DATABASE_URL": "ignored: test harness variable"}))
    assert merged["loop_enabled"] is False
    assert merged["global_latency"] == 0.5
    assert merged["max_order_notional"] is None


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*nope\.json: file not found"):
        merge_config(ConfigSources(config_file=str(tmp_path / "nope.json")))


def test_invalid_json_names_file_and_position(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"port": 80,,}')
    with pytest.raises(ConfigError, match=r"bad\.json: invalid JSON at line 1 column"):
        merge_config(ConfigSources(config_file=str(path)))


def test_non_object_json_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        merge_config(ConfigSources(config_file=write_json(tmp_path / "l.json", [1])))


@pytest.mark.parametrize("layer", ["file", "env", "cli"])
def test_unknown_key_is_refused_in_every_layer(tmp_path, layer):
    sources = {
        "file": ConfigSources(config_file=write_json(tmp_path / "u.json", {"prot": 1})),
        "env": ConfigSources(environ={"LTS_PROT": "1"}),
        "cli": ConfigSources(cli_sets=("prot=1",)),
    }[layer]
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        merge_config(sources)


@pytest.mark.parametrize(("data", "message"), [
    ({"port": "80"}, "key 'port': expected an integer, got str"),
    ({"port": True}, "key 'port': expected an integer, got bool"),
    ({"loop_enabled": 1}, "key 'loop_enabled': expected true/false, got int"),
    ({"host": 5}, "key 'host': expected a string, got int"),
    ({"port": 70000}, "key 'port': must be <= 65535"),
    ({"global_latency": 0}, "key 'global_latency': must be >= 0.001"),
    ({"log_level": "LOUD"}, "key 'log_level': must be one of"),
    ({"host": None}, "key 'host': must not be null"),
])
def test_wrong_type_or_range_in_file_names_the_key(tmp_path, data, message):
    path = write_json(tmp_path / "t.json", data)
    with pytest.raises(ConfigError, match=message):
        merge_config(ConfigSources(config_file=path))


def test_wrong_type_in_environment_names_the_variable():
    with pytest.raises(ConfigError, match="environment LTS_PORT: key 'port': expected an integer"):
        merge_config(ConfigSources(environ={"LTS_PORT": "eighty"}))


def test_malformed_set_pair_is_refused():
    with pytest.raises(ConfigError, match="--set port: expected key=value"):
        merge_config(ConfigSources(cli_sets=("port",)))


def test_unreachable_remote_names_the_url():
    with pytest.raises(ConfigError, match=r"remote config http://127\.0\.0\.1:9/x: unreachable"):
        merge_config(ConfigSources(remote_url="http://127.0.0.1:9/x"))


def test_remote_http_error_and_bad_body_are_refused(remote_server):
    remote_server["status"] = 500
    with pytest.raises(ConfigError, match="HTTP 500"):
        merge_config(ConfigSources(remote_url=str(remote_server["url"])))
    remote_server["status"] = 200
    remote_server["body"] = "not json"
    with pytest.raises(ConfigError, match="invalid JSON"):
        merge_config(ConfigSources(remote_url=str(remote_server["url"])))


def test_save_config_masks_secrets(tmp_path):
    merged = merge_config(ConfigSources(), {
        "secret_key": "s3cr3t", "smtp_password": "mailpw",
        "database_url": "postgresql+psycopg://lts:dbpw@db.example/lts"})
    path = tmp_path / "saved.json"
    save_config(path, merged)
    saved = json.loads(path.read_text())
    text = path.read_text()
    assert saved["secret_key"] == MASK
    assert saved["smtp_password"] == MASK
    assert saved["database_url"] == f"postgresql+psycopg://lts:{MASK}@db.example/lts"
    assert "s3cr3t" not in text and "mailpw" not in text and "dbpw" not in text
    assert saved["port"] == 8000
