"""Helpers to run LTS as real processes: free ports, readiness polling, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, deadline_seconds: float = 60.0
                  ) -> requests.Response:
    """Poll ``url`` until it answers, the process dies, or the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            return requests.get(url, timeout=2)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Timeout: gunicorn's socket accepts before a worker has booted; on a busy
            # machine the first answer can take longer than one attempt's 2 s.
            last_error = exc
            time.sleep(0.1)  # polling interval with a deadline, not a wait on luck
    raise AssertionError(f"{url} did not answer within {deadline_seconds}s: {last_error}")


def stop_process_group(process: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM the whole process group and wait; SIGKILL only if it will not stop."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return process.wait()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError("server did not stop within the timeout") from None


@dataclass
class ServerProcess:
    """A running LTS server and where it logs."""

    process: subprocess.Popen
    base_url: str
    log_path: Path
    database_path: Path

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")


def server_environment(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """Environment for a server on its own port, database and secret key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}
    env.update({
        "LTS_PORT": str(port),
        "LTS_DATABASE_URL": f"sqlite:///{tmp_path / 'lts.db'}",
        "LTS_SECRET_KEY": "system-test-secret-key",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({f"LTS_{k.upper()}": v for k, v in settings.items()})
    return env


@pytest.fixture
def make_run_server(tmp_path: Path) -> Iterator[callable]:
    """Start `make run` (init-db, demo, run) on a free port; stop it after the test."""
    started: list[ServerProcess] = []

    def start(**settings: str) -> ServerProcess:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                ["make", "--no-print-directory", "run"], cwd=PROJECT_ROOT,
                env=server_environment(tmp_path, port, **settings),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path,
                               tmp_path / "lts.db")
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            stop_process_group(server.process)
