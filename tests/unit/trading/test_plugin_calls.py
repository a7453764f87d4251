"""The plugin call guard: results, exceptions with a traceback summary, timeouts."""

from __future__ import annotations

import threading

import pytest

from lts.trading.errors import PluginCallError
from lts.trading.plugin_calls import PluginCaller


@pytest.fixture
def caller():
    caller = PluginCaller()
    yield caller
    caller.close()


def test_returns_the_result_and_counts_time(caller):
    assert caller.call("strategy", "s", "decide", lambda a, b: a + b, 2, 3, timeout=5) == 5
    assert caller.calls == 1 and caller.plugin_seconds >= 0


def test_exception_becomes_plugin_call_error_naming_plugin_and_frame(caller):
    def explode():
        raise ValueError("bad bar")

    with pytest.raises(PluginCallError) as info:
        caller.call("pipeline", "csv", "snapshot", explode, timeout=5)
    error = info.value
    assert (error.kind, error.name, error.method, error.timed_out) == (
        "pipeline", "csv", "snapshot", False)
    assert error.summary.startswith("ValueError: bad bar (at test_plugin_calls.py:")
    assert "explode" in error.summary


def test_hung_call_times_out_and_a_fresh_worker_serves_the_next(caller):
    release = threading.Event()
    with pytest.raises(PluginCallError) as info:
        caller.call("broker", "slow", "submit", release.wait, 30, timeout=0.05)
    assert info.value.timed_out and "timed out after 0.05 s (plugin_timeout_seconds)" in \
        info.value.summary
    try:
        assert caller.call("broker", "slow", "lookup", lambda: "ok", timeout=5) == "ok"
    finally:
        release.set()


def test_system_exit_is_not_swallowed(caller):
    def die():
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        caller.call("broker", "b", "submit", die, timeout=5)
