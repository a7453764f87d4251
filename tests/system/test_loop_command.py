"""`flask lts loop` runs the loop as its own process and gives the lease up on SIGTERM."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest

from tests.system.conftest import (
    PROJECT_ROOT,
    free_port,
    server_environment,
    stop_process_group,
)

pytestmark = pytest.mark.slow
FLASK = str(PROJECT_ROOT / ".venv" / "bin" / "flask")


def count(path, sql):
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql).fetchone()[0]
    finally:
        connection.close()


def test_loop_command_ticks_then_stops_cleanly(tmp_path):
    env = server_environment(tmp_path, free_port(), global_latency="0.02")
    database = tmp_path / "lts.db"
    for command in (["init-db"], ["demo"]):
        subprocess.run([FLASK, "lts", *command], cwd=tmp_path, env=env, check=True,
                       capture_output=True, timeout=120)
    log_path = tmp_path / "loop.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([FLASK, "lts", "loop"], cwd=tmp_path, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        ticks = 0
        while time.monotonic() < deadline and process.poll() is None:
            ticks = count(database, "SELECT count(*) FROM statistics "
                                    "WHERE key = 'loop.tick_seconds'")
            if ticks >= 2:
                break
            time.sleep(0.1)  # polling the database, bounded by the deadline
        assert ticks >= 2, log_path.read_text()
        assert count(database, "SELECT count(*) FROM scheduler_leases") == 1
    finally:
        code = stop_process_group(process)
    assert code == 0, log_path.read_text()
    assert "Trading loop stopped." in log_path.read_text()
    assert count(database, "SELECT count(*) FROM scheduler_leases") == 0
    assert os.path.exists(database)
