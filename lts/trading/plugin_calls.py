"""Run plugin calls in a worker thread with a timeout, measuring the time they take.

A plugin that hangs cannot be killed in Python; its worker thread (a daemon) is
abandoned and a fresh one takes over, so the tick goes on. Each worker pushes its own
app context, so a plugin that uses the database (the paper broker's own book) gets its
own session and its own transactions, never the engine's.
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

    def close(self) -> None:
        """Stop the worker thread (a hung one is left to die with the process)."""
        with self._lock:
            if self._worker is not None:
                self._worker.jobs.put(_STOP)
                self._worker = None
