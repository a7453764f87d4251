"""A fake prediction service speaking the real asynchronous protocol, on a loopback port.

``POST /api/v1/predict`` creates a job (201 with its ``id``); ``GET
/api/v1/predictions/<id>`` answers ``pending`` for the job's first ``pending_polls``
polls, then ``completed`` with ``result.prediction``. What a symbol gets is set in
:attr:`FakePredictionService.behaviour` (default ``ok``):

- ``ok``: completed with ``horizon`` steps around :attr:`FakePredictionService.level`;
- ``failed``: the job ends ``failed`` with an error message;
- ``stuck``: the job stays ``pending`` for ever (a deadline must end the wait);
- ``malformed``: completed, but ``result.prediction`` holds text;
- ``not_json``: the poll answers 200 with a body that is not JSON;
- ``drop``: the poll's connection is closed without any answer;
- ``slow``: the poll answers after :attr:`FakePredictionService.delay` seconds;
- ``flaky``: the first poll answers 503, the next ones as ``ok``.

The predicted level is given per symbol (:attr:`level`, default 100) and moves by
``step`` per horizon step, so tests control the direction. A set ``api_key`` is
required in the ``X-API-Key`` header (401 otherwise). Every request is recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server


@dataclass
class Job:
    """One prediction job."""

    id: str
    symbol: str
    horizon: int
    behaviour: str
    polls: int = 0


@dataclass
class FakePredictionService:
    """The service's state; tests change it between calls."""

    pending_polls: int = 0
    api_key: str | None = None
    delay: float = 1.0
    behaviour: dict[str, str] = field(default_factory=dict)
    level: dict[str, float] = field(default_factory=dict)
    step: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def created(self) -> int:
        """How many jobs were created."""
        return sum(1 for r in self.requests if r["method"] == "POST")

    def app(self) -> Flask:
        """The Flask app serving this state."""
        app = Flask("fake_prediction_service")

        @app.before_request
        def record_and_authorise() -> Any:
            with self._lock:
                self.requests.append({"method": request.method, "path": request.path,
                                      "headers": dict(request.headers),
                                      "json": request.get_json(silent=True)})
            if self.api_key is not None and request.headers.get("X-API-Key") != self.api_key:
                return jsonify(error="invalid API key"), 401
            return None

        @app.post("/api/v1/predict")
        def predict() -> Any:
            body = request.get_json(silent=True) or {}
            missing = [k for k in ("symbol", "interval", "prediction_horizon", "models")
                       if k not in body]
            if missing:
                return jsonify(error=f"missing {', '.join(missing)}"), 400
            with self._lock:
                job = Job(id=f"job-{next(self._ids)}", symbol=str(body["symbol"]),
                          horizon=int(body["prediction_horizon"]),
                          behaviour=self.behaviour.get(str(body["symbol"]), "ok"))
                self.jobs[job.id] = job
            return jsonify(id=job.id, status="pending"), 201

        @app.get("/api/v1/predictions/<job_id>")
        def poll(job_id: str) -> Any:
            with self._lock:
                job = self.jobs.get(job_id)
                if job is None:
                    return jsonify(error="no such job"), 404
                job.polls += 1
                polls = job.polls
            kind = job.behaviour
            if kind == "drop":
                _drop_connection()
                return "", 500
            if kind == "slow":
                time.sleep(self.delay)
            if kind == "flaky" and polls == 1:
                return jsonify(error="busy"), 503
            if kind == "stuck" or polls <= self.pending_polls:
                return jsonify(id=job.id, status="pending")
            if kind == "failed":
                return jsonify(id=job.id, status="failed", error="model diverged")
            if kind == "not_json":
                return "<html>oops</html>", 200
            if kind == "malformed":
                return jsonify(id=job.id, status="completed",
                               result={"prediction": ["up", "down"]})
            level = self.level.get(job.symbol, 100.0)
            step = self.step.get(job.symbol, 0.5)
            prediction = [{"close": level + step * (k + 1),
                           "lower": level + step * (k + 1) - 1.0,
                           "upper": level + step * (k + 1) + 1.0}
                          for k in range(job.horizon)]
            return jsonify(id=job.id, status="completed", result={"prediction": prediction})

        return app


def _drop_connection() -> None:
    """Close the client's socket without a byte of answer (a crashed service)."""
    connection = request.environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()


@contextmanager
def running_prediction_service() -> Iterator[FakePredictionService]:
    """A running fake service on a free loopback port; its ``url`` is set.

    Test modules wrap it in a fixture (``with running_prediction_service() as s: yield s``).
    """
    service = FakePredictionService()
    server = make_server("127.0.0.1", 0, service.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-predictions",
                              daemon=True)
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield service
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
