"""Work done after the response: mail leaves in a background thread, not in the request.

Sending a reset mail inside the request made a known account answer ~50 ms slower than
an unknown one (issue 11, finding 3): the timing said which accounts exist. Jobs queued
here run in order in one thread per app, each inside an app context (so they can write
audit rows), after the request that queued them has answered.

The thread starts on the first job and ends when the queue is empty, so idle apps
(tests, CLI commands) keep no thread around. Jobs still queued when the process exits
are lost, like mail in any in-memory queue; the audit row of the request records the
attempt either way.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from flask import Flask, current_app

from lts.extensions import db

EXTENSION_KEY = "lts.outbox"

Job = Callable[[], None]


class Outbox:
    """A FIFO of jobs run one at a time by a short-lived worker thread of one app."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._jobs: deque[Job] = deque()
        self._lock = threading.Condition()
        self._running = False

    def submit(self, job: Job) -> None:
        """Queue ``job``; it runs after the current request, in an app context."""
        with self._lock:
            self._jobs.append(job)
            if not self._running:
                self._running = True
                threading.Thread(target=self._drain, name="lts-outbox", daemon=True).start()

    def _drain(self) -> None:
        """Run jobs until the queue is empty, then let the thread end."""
        while True:
            with self._lock:
                if not self._jobs:
                    self._running = False
                    self._lock.notify_all()
                    return
                job = self._jobs.popleft()
            self._run(job)

    def _run(self, job: Job) -> None:
        """Run one job; a failing job is logged and never stops the ones after it."""
        with self._app.app_context():
            try:
                job()
            except Exception:
                self._app.logger.exception("a background job failed")
            finally:
                db.session.remove()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued job ran (shutdown, tests); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._running and not self._jobs, timeout)


def outbox(app: Flask | None = None) -> Outbox:
    """The app's outbox, created on first use."""
    target = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box = target.extensions.get(EXTENSION_KEY)
    if box is None:
        box = target.extensions.setdefault(EXTENSION_KEY, Outbox(target))
    return box
