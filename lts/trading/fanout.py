"""Celery fan-out of a tick's portfolio steps (issue 16, ``pip install lts-live-trading[workers]``).

With ``celery_broker_url`` set, the loop's leader still decides and claims: it reads the
due portfolios and claims each with the compare-and-set on ``last_execution``, exactly
as without Celery. Instead of stepping the claimed portfolios itself, it sends one task
per portfolio (:data:`TASK_NAME`) and waits for the answers until a deadline; a step
without an answer is reported (``step_missing``), never fatal.

Why the unit is the portfolio and not the single asset: a portfolio's assets are
marked first, then its equity is split among them, then each strategy decides; the
split needs every mark. The portfolio's step is therefore the smallest step that can
run alone, and it is the engine's own (:meth:`lts.trading.engine.Engine.step_portfolio`).

Exactly once, with ``acks_late`` and ``task_reject_on_worker_lost`` (a step whose worker
dies is handed to another worker):

- a step runs only while its portfolio's claim is the tick's (``last_execution`` equals
  the tick time); once a later tick claimed it, the old step is ``stale`` and skipped;
- a step whose first run finished (its equity statistic at the tick time is written in
  the step's last transaction) is ``already_done`` and not run again;
- a step run again after a crash uses the tick's time, so the same deterministic client
  order ids: an order already written is found by its id and never sent twice
  (:meth:`lts.trading.orders.OrderExecutor.place`); orders the dead run left open are
  reconciled first when their placing process's claim has expired.

Each worker process renews its claim (``process_claims``) from a heartbeat thread, like
the loop's: orders it places name it, and reconciliation knows when it is gone.

Celery is imported only here, inside functions, and only when a broker is configured.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask

from lts.plugins.base import AssetOutcome, Decision, PortfolioFailure, StepTiming

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)
TASK_NAME = "lts.step_portfolio"
EXTENSION_KEY = "lts_celery"
# The step's outcome statuses (StepTiming.status).
RAN, ALREADY_DONE, STALE, MISSING = "ran", "already_done", "stale", "missing"

def enabled(app: Flask) -> bool:
    """Whether this app fans its steps out (a broker URL is configured)."""
    return bool(app.config["LTS"].get("celery_broker_url"))


def dispatcher_for(app: Flask, stopping: threading.Event | None = None
                   ) -> CeleryDispatch | None:
    """The engine's dispatcher when a broker is configured; None keeps steps in-process.

    ``stopping`` is the engine's stop switch: a stopping leader stops waiting at once.
    """
    return CeleryDispatch(app, stopping) if enabled(app) else None


def celery_app(app: Flask) -> Celery:
    """The app's Celery application (built once per Flask app): the broker and its rules.

    The leader sends steps by task name; a worker registers the task's body
    (:func:`lts.workers.steps.register_step_task`), so the loop never imports the worker.

    ``acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
    its step returned, so a worker killed mid-step loses nothing; prefetch 1, so a
    worker never holds steps it is not running (a stopped worker delays only one).
    """
    existing = app.extensions.get(EXTENSION_KEY)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    try:
        from celery import Celery
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise RuntimeError("celery_broker_url is set but Celery is not installed: "
                           "pip install 'lts-live-trading[workers]'") from None
    settings = app.config["LTS"]
    broker = settings["celery_broker_url"]
    backend = settings["celery_result_backend"] or (
        broker if broker.startswith(("redis://", "rediss://")) else "rpc://")
    timeout = float(settings["celery_visibility_timeout"])
    visibility: dict[str, float] = {"visibility_timeout": timeout}
    if broker.startswith(("redis://", "rediss://")):
        # Kombu sweeps for steps whose worker died every interval x throttle seconds
        # (100 s by default): sweep every tenth of the timeout, at most every 10 s.
        visibility.update(unacked_restore_interval=max(1.0, min(10.0, timeout / 10)),
                          unacked_restore_throttle=1)
    celery = Celery("lts", broker=broker, backend=backend, set_as_current=False)
    celery.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_default_queue=settings["celery_queue"], broker_transport_options=visibility,
        result_backend_transport_options={"visibility_timeout": timeout},
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=max(3600, int(settings["celery_step_deadline_seconds"]) * 2),
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        worker_redirect_stdouts=False, worker_send_task_events=False)

    app.extensions[EXTENSION_KEY] = celery
    return celery


def step_answer(raw: dict[str, Any]
                ) -> tuple[list[AssetOutcome], list[PortfolioFailure], StepTiming]:
    """Turn a worker's JSON answer back into the engine's outcomes, failures and timing."""
    outcomes = []
    for item in raw.get("outcomes", []):
        decision = item.get("decision")
        outcomes.append(AssetOutcome(
            asset_id=int(item["asset_id"]), ok=bool(item["ok"]),
            decision=Decision(**decision) if decision else None,
            order_ids=tuple(item.get("order_ids") or ()), error=item.get("error"),
            warnings=tuple(item.get("warnings") or ())))
    failures = [PortfolioFailure(**item) for item in raw.get("failures", [])]
    timing = StepTiming(portfolio_id=int(raw["portfolio_id"]), status=str(raw["status"]),
                        seconds=float(raw.get("seconds", 0.0)), worker=str(raw.get("worker")),
                        redelivered=bool(raw.get("redelivered")))
    return outcomes, failures, timing


# --------------------------------------------------------------------------- leader


class CeleryDispatch:
    """The leader's side: send each claimed portfolio's step, collect answers by a deadline."""

    # Longest single wait for one answer, so a stopping leader notices within it.
    POLL_SECONDS = 0.5

    def __init__(self, app: Flask, stopping: threading.Event | None = None) -> None:
        self.app = app
        self.stopping = stopping or threading.Event()

    def __call__(self, now: datetime, portfolio_ids: list[int]
                 ) -> tuple[list[AssetOutcome], list[PortfolioFailure], tuple[StepTiming, ...]]:
        """Fan the steps out; return every answer, and a failure for each missing one."""
        celery = celery_app(self.app)
        deadline_seconds = float(self.app.config["LTS"]["celery_step_deadline_seconds"])
        tick = now.isoformat()
        outcomes: list[AssetOutcome] = []
        failures: list[PortfolioFailure] = []
        timings: list[StepTiming] = []
        sent = []
        for pid in portfolio_ids:
            try:
                sent.append((pid, celery.send_task(TASK_NAME, args=(pid, tick))))
            except Exception as exc:  # broker unreachable: this step cannot run this tick
                log.error("portfolio %s: step not sent: %s", pid, exc)
                failures.append(PortfolioFailure(pid, "step_missing", "celery",
                                                 f"step not sent to the broker: {exc}"))
                timings.append(StepTiming(pid, MISSING))
        deadline = time.monotonic() + deadline_seconds
        for pid, result in sent:
            try:
                raw = self._wait(result, deadline)
            except Exception as exc:  # celery's TimeoutError, or a backend that failed
                why = ("the leader is stopping" if self.stopping.is_set()
                       else f"no answer from a worker within {deadline_seconds:g} s")
                log.warning("portfolio %s: no step result: %s", pid, why)
                failures.append(PortfolioFailure(
                    pid, "step_missing", "celery",
                    f"{why} ({type(exc).__name__}); the step still runs when a worker "
                    "takes it, under this tick's claim"))
                timings.append(StepTiming(pid, MISSING))
                continue
            if isinstance(raw, BaseException) or not isinstance(raw, dict):
                failures.append(PortfolioFailure(pid, "portfolio_failed", "celery",
                                                 f"worker step failed: {raw!r}"[:500]))
                timings.append(StepTiming(pid, "failed"))
            else:
                step_outcomes, step_failures, timing = step_answer(raw)
                outcomes.extend(step_outcomes)
                failures.extend(step_failures)
                timings.append(timing)
            # The answer is read: free it in the result backend (rpc:// has nothing kept).
            with contextlib.suppress(NotImplementedError):
                result.forget()
        return outcomes, failures, tuple(timings)

    def _wait(self, result: Any, deadline: float) -> Any:
        """The step's answer, waited for in short slices until ``deadline`` or a stop."""
        from celery.exceptions import TimeoutError as CeleryTimeout

        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.stopping.is_set():
                raise CeleryTimeout("no answer")
            try:
                return result.get(timeout=min(left, self.POLL_SECONDS), propagate=False)
            except CeleryTimeout:
                continue
