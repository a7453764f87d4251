"""Run plugin calls in a worker thread with a timeout, measuring the time they take.

A plugin that hangs cannot be killed in Python; its worker thread (a daemon) is
abandoned and a fresh one takes over, so the tick goes on. :meth:`PluginCaller.call_many`
hands the worker a whole batch (a portfolio's snapshots, marks or decisions) in one
hand-off, each call still under its own timeout: two thread switches per batch instead
of two per call, which on a loaded machine cost milliseconds each (issue 16).

Each worker pushes its own app context, so a plugin that uses the database (the paper
broker's own book) gets its own session and its own transactions, never the engine's.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from lts.trading.errors import PluginCallError

T = TypeVar("T")
_STOP = object()


def traceback_summary(exc: BaseException, limit: int = 3) -> str:
    """Summarise the exception and the last ``limit`` frames, short enough for an audit row."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                        for f in reversed(frames))
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} (at {where})" if where else text


def _set_thread_affinity(thread_id: int, cpus: set[int]) -> None:
    """Pin a thread (0: the calling one) to ``cpus`` where the OS allows it."""
    setter = getattr(os, "sched_setaffinity", None)
    if setter is not None:
        with contextlib.suppress(OSError):
            setter(thread_id, cpus)


class _Job:
    """One call waiting for a worker, and its outcome."""

    __slots__ = ("args", "done", "error", "func", "result")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _Batch:
    """Calls run one after another by one worker; each under its own timeout.

    ``current`` is (index, start) of the call running (or about to run); the caller
    watches it. Once ``abandoned`` (under ``lock``), the worker starts no further call.
    """

    __slots__ = ("abandoned", "calls", "current", "done", "errors", "lock", "results",
                 "seconds")

    def __init__(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        self.calls = calls
        self.results: list[Any] = [None] * len(calls)
        self.errors: list[BaseException | None] = [None] * len(calls)
        self.seconds = 0.0
        self.lock = threading.Lock()
        self.current = (0, time.perf_counter())  # queued: the wait counts for call 0
        self.abandoned = False
        self.done = threading.Event()


class CallResult:
    """One call of a batch: its value, or the PluginCallError it ended with."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: PluginCallError | None = None) -> None:
        self.value = value
        self.error = error

    def get(self) -> Any:
        """The value; raise the call's PluginCallError when it failed."""
        if self.error is not None:
            raise self.error
        return self.value


class _Worker(threading.Thread):
    """A daemon thread running jobs inside its own app context."""

    def __init__(self, app: Flask | None, affinity: set[int] | None = None) -> None:
        super().__init__(name="lts-plugin-call", daemon=True)
        self.app = app
        self.affinity = affinity
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def run(self) -> None:
        """Run jobs until told to stop."""
        if self.affinity is not None:
            _set_thread_affinity(0, self.affinity)
        context = self.app.app_context() if self.app is not None else None
        if context is not None:
            context.push()
        try:
            while True:
                job = self.jobs.get()
                if job is _STOP:
                    return
                if isinstance(job, _Batch):
                    self._run_batch(job)
                    continue
                try:
                    job.result = job.func(*job.args)
                except BaseException as exc:
                    job.error = exc
                finally:
                    self._cleanup()
                    job.done.set()
        finally:
            if context is not None:
                context.pop()

    def _run_batch(self, batch: _Batch) -> None:
        """Run the batch's calls in order until done or abandoned (one timed out)."""
        try:
            for index, (func, args) in enumerate(batch.calls):
                with batch.lock:
                    if batch.abandoned:
                        return
                    started = time.perf_counter()
                    batch.current = (index, started)
                try:
                    batch.results[index] = func(*args)
                except BaseException as exc:
                    batch.errors[index] = exc
                finally:
                    self._cleanup()
                    batch.seconds += time.perf_counter() - started
        finally:
            batch.done.set()

    def _cleanup(self) -> None:
        """End whatever database transaction a plugin left open in this thread."""
        if self.app is None:
            return
        from lts.extensions import db

        db.session.remove()


class PluginCaller:
    """Calls plugin methods with a timeout and keeps the time spent inside plugins."""

    def __init__(self, app: Flask | None = None) -> None:
        self.app = app
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self.plugin_seconds = 0.0
        self.calls = 0
        self._affinity: set[int] | None = None

    def _current_worker(self) -> _Worker:
        """Return the live worker, started on first use."""
        if self._worker is None:
            self._worker = _Worker(self.app, self._affinity)
            self._worker.start()
        return self._worker

    def set_affinity(self, cpus: set[int]) -> None:
        """Run the worker thread (this one and any replacement) on ``cpus``."""
        with self._lock:
            self._affinity = set(cpus)
            worker = self._worker
            if worker is not None and worker.native_id is not None:
                _set_thread_affinity(worker.native_id, self._affinity)

    def call(self, kind: str, name: str, method: str, func: Callable[..., T],
             *args: Any, timeout: float) -> T:
        """Run ``func(*args)``; raise PluginCallError when it raises or exceeds ``timeout``."""
        job = _Job(func, args)
        with self._lock:  # one engine thread calls at a time; the lock guards reuse
            worker = self._current_worker()
            started = time.perf_counter()
            worker.jobs.put(job)
            finished = job.done.wait(timeout)
            self.plugin_seconds += time.perf_counter() - started
            self.calls += 1
            if not finished:
                # The hung call keeps its thread; later calls get a fresh one.
                worker.jobs.put(_STOP)
                self._worker = None
                raise PluginCallError(kind, name, method,
                                      f"timed out after {timeout:g} s (plugin_timeout_seconds)",
                                      timed_out=True)
        if job.error is not None:
            if isinstance(job.error, KeyboardInterrupt | SystemExit):
                raise job.error
            raise PluginCallError(kind, name, method, traceback_summary(job.error)) \
                from job.error
        return job.result  # type: ignore[no-any-return]

    def call_many(self, calls: list[tuple[str, str, str, Callable[..., Any], tuple[Any, ...]]],
                  *, timeout: float) -> list[CallResult]:
        """Run ``(kind, name, method, func, args)`` calls in order, each as :meth:`call` would.

        One hand-off to the worker for the whole list. Each call gets ``timeout`` seconds
        from its own start: a call that exceeds it is answered with a timed-out
        PluginCallError, its worker is abandoned, and the calls after it go on in a
        fresh worker; a call that raises fails alone. Results come back in order.
        """
        results: list[CallResult] = []
        while len(results) < len(calls):
            todo = calls[len(results):]
            batch = _Batch([(func, args) for _, _, _, func, args in todo])
            with self._lock:
                worker = self._current_worker()
                worker.jobs.put(batch)
                hung = self._await(batch, timeout)
                if hung is not None:
                    worker.jobs.put(_STOP)
                    self._worker = None
                self.plugin_seconds += batch.seconds
                self.calls += len(todo) if hung is None else hung + 1
            ran = len(todo) if hung is None else hung
            for index in range(ran):
                kind, name, method = todo[index][:3]
                error = batch.errors[index]
                if error is None:
                    results.append(CallResult(batch.results[index]))
                    continue
                if isinstance(error, KeyboardInterrupt | SystemExit):
                    raise error
                failure = PluginCallError(kind, name, method, traceback_summary(error))
                failure.__cause__ = error
                results.append(CallResult(error=failure))
            if hung is not None:
                kind, name, method = todo[hung][:3]
                results.append(CallResult(error=PluginCallError(
                    kind, name, method,
                    f"timed out after {timeout:g} s (plugin_timeout_seconds)",
                    timed_out=True)))
        return results

    @staticmethod
    def _await(batch: _Batch, timeout: float) -> int | None:
        """Wait for ``batch``; the index of a call that overran ``timeout`` (then abandoned)."""
        while True:
            index, started = batch.current
            if batch.done.wait(max(0.0, started + timeout - time.perf_counter())):
                return None
            with batch.lock:
                if batch.current == (index, started) and not batch.done.is_set():
                    batch.abandoned = True
                    return index
            # The call finished meanwhile and the next one started: watch that one.

    def close(self) -> None:
        """Stop the worker thread (a hung one is left to die with the process)."""
        with self._lock:
            if self._worker is not None:
                self._worker.jobs.put(_STOP)
                self._worker = None
