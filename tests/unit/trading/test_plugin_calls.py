"""The plugin call guard: results, exceptions with a traceback summary, timeouts."""

from __future__ import annotations

import threading
import time

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


def test_call_many_answers_in_order_and_a_raising_call_fails_alone(caller):
    def explode():
        raise ValueError("bad bar")

    results = caller.call_many([
        ("pipeline", "a", "snapshot", lambda x: x * 2, (21,)),
        ("pipeline", "b", "snapshot", explode, ()),
        ("strategy", "c", "decide", lambda: "third", ())], timeout=5)
    assert results[0].get() == 42 and results[2].get() == "third"
    error = results[1].error
    assert (error.kind, error.name, error.method, error.timed_out) == (
        "pipeline", "b", "snapshot", False)
    assert error.summary.startswith("ValueError: bad bar") and isinstance(
        error.__cause__, ValueError)
    with pytest.raises(PluginCallError):
        results[1].get()
    assert caller.calls == 3


def test_call_many_times_out_each_call_on_its_own_clock_and_goes_on(caller):
    release = threading.Event()
    ran: list[str] = []
    try:
        results = caller.call_many([
            ("broker", "ok", "mark", lambda: ran.append("first") or 1, ()),
            ("broker", "slow", "mark", release.wait, (30,)),
            ("broker", "after", "mark", lambda: ran.append("third") or 3, ())],
            timeout=0.2)
        assert results[0].get() == 1 and results[2].get() == 3
        assert results[1].error.timed_out and results[1].error.name == "slow"
        assert "timed out after 0.2 s (plugin_timeout_seconds)" in results[1].error.summary
        assert ran == ["first", "third"]
        # The hung worker was abandoned: later calls get a fresh one.
        assert caller.call("broker", "b", "lookup", lambda: "ok", timeout=5) == "ok"
    finally:
        release.set()


def test_call_many_gives_each_call_the_whole_timeout(caller):
    """Three calls of 0.1 s under a 0.25 s timeout: together longer, none over it."""
    results = caller.call_many([("s", "n", "decide", time.sleep, (0.1,))] * 3, timeout=0.25)
    assert [r.error for r in results] == [None, None, None]


def test_an_abandoned_batch_runs_no_further_call_in_its_old_worker(caller):
    release = threading.Event()
    hung_in: list[threading.Thread] = []
    ran: list[int] = []

    def hang():
        hung_in.append(threading.current_thread())
        release.wait(30)

    results = caller.call_many([
        ("broker", "slow", "mark", hang, ()),
        ("broker", "next", "mark", ran.append, (1,))], timeout=0.1)
    assert results[0].error.timed_out and results[1].error is None
    release.set()  # the hung call returns in the abandoned worker, which must stop there
    hung_in[0].join(5)
    assert not hung_in[0].is_alive()
    assert ran == [1]  # run once, by the fresh worker


def test_call_many_does_not_swallow_system_exit(caller):
    def die():
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        caller.call_many([("broker", "b", "submit", die, ())], timeout=5)
