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
import os
import socket
import threading
import time
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import bindparam, select

from lts.extensions import db
from lts.logging_setup import log_context
from lts.models import Asset, Order, Portfolio, Statistic
from lts.plugins.base import AssetOutcome, Decision, PortfolioFailure, StepTiming
from lts.trading import statistics
from lts.trading.clock import system_clock
from lts.trading.lease import process_holder_id, renew_claim
from lts.trading.order_state import OPEN_STATUSES

if TYPE_CHECKING:
    from celery import Celery

    from lts.trading.engine import Engine

log = logging.getLogger(__name__)
TASK_NAME = "lts.step_portfolio"
EXTENSION_KEY = "lts_celery"
# The step's outcome statuses (StepTiming.status).
RAN, ALREADY_DONE, STALE, MISSING = "ran", "already_done", "stale", "missing"

_CLAIMED = select(Portfolio.id).where(Portfolio.id == bindparam("pid"),
                                      Portfolio.last_execution == bindparam("now"))
_FINISHED = select(Statistic.id).where(Statistic.key == bindparam("key"),
                                       Statistic.timestamp == bindparam("now")).limit(1)
_LEFT_OPEN = (select(Order.id).join(Asset, Asset.id == Order.asset_id)
              .where(Asset.portfolio_id == bindparam("pid"),
                     Order.status.in_(OPEN_STATUSES), Order.created_at == bindparam("now"))
              .limit(1))


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
    """The app's Celery application (built once per Flask app), with the step task.

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

    # shared=False: a shared task would be registered once for every Celery app of the
    # process, bound to the first Flask app; each app keeps its own (tests, benchmarks).
    @celery.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
                 shared=False)
    def step_portfolio(task: Any, portfolio_id: int, tick: str) -> dict[str, Any]:
        """One claimed portfolio's step for the tick at ``tick`` (ISO time)."""
        info = task.request.delivery_info or {}
        return run_step(app, int(portfolio_id), datetime.fromisoformat(tick),
                        redelivered=bool(info.get("redelivered")))

    app.extensions[EXTENSION_KEY] = celery
    return celery


# --------------------------------------------------------------------------- worker

_ENGINES: dict[int, Engine] = {}
_HEARTBEATS: set[int] = set()
_WORKER_LOCK = threading.Lock()


def worker_name() -> str:
    """Host and process of this worker, for the tick report."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _engine(app: Flask) -> Engine:
    """The engine of this process (built after any fork); starts its claim heartbeat."""
    from lts.trading.engine import Engine

    pid = os.getpid()
    with _WORKER_LOCK:
        engine = _ENGINES.get(pid)
        if engine is None:
            engine = _ENGINES[pid] = Engine(app)
        if pid not in _HEARTBEATS:
            _HEARTBEATS.add(pid)
            threading.Thread(target=_heartbeat, args=(app,), name="lts-claim-heartbeat",
                             daemon=True).start()
    return engine


def renew_worker_claim(app: Flask) -> None:
    """Say this worker process is alive for ``lease_seconds`` (its orders are in flight)."""
    with app.app_context():
        try:
            renew_claim(db.session(), process_holder_id(), system_clock(),
                        float(app.config["LTS"]["lease_seconds"]))
        finally:
            db.session.remove()


def _heartbeat(app: Flask) -> None:
    """Renew the process claim three times per lease, until the process ends."""
    period = float(app.config["LTS"]["lease_seconds"]) / 3
    while True:
        try:
            renew_worker_claim(app)
        except Exception:  # a database hiccup must not end the heartbeat
            log.exception("renewing the worker's claim failed")
        time.sleep(period)  # the heartbeat's own cadence, in a daemon thread


def run_step(app: Flask, portfolio_id: int, now: datetime, *, redelivered: bool = False,
             engine: Engine | None = None) -> dict[str, Any]:
    """Run one portfolio's step for the tick at ``now`` if it is still this tick's to run.

    Returns the JSON answer the leader turns back into outcomes (:func:`step_answer`).
    ``engine``: the worker process's own unless given (tests pass one on fake plugins).
    """
    started = time.perf_counter()
    engine = engine or _engine(app)
    with app.app_context(), log_context(tick=now.isoformat(timespec="seconds"),
                                        portfolio_id=portfolio_id):
        session = db.session()
        try:
            if session.execute(_CLAIMED, {"pid": portfolio_id, "now": now}).first() is None:
                log.info("step of portfolio %s for %s skipped: a later tick claimed it",
                         portfolio_id, now.isoformat())
                return _answer(portfolio_id, STALE, started, redelivered)
            key = str(statistics.equity_key(portfolio_id))
            if session.execute(_FINISHED, {"key": key, "now": now}).first() is not None:
                return _answer(portfolio_id, ALREADY_DONE, started, True)
            if session.execute(_LEFT_OPEN, {"pid": portfolio_id, "now": now}).first():
                # An earlier run of this very step wrote orders (its worker died): settle
                # those whose placing process is gone before the step runs again.
                redelivered = True
                session.commit()
                engine.start_up(system_clock(), portfolio_ids=[portfolio_id])
            session.commit()
            outcomes, failures = engine.step_portfolio(now, portfolio_id)
            return _answer(portfolio_id, RAN, started, redelivered, outcomes, failures)
        finally:
            db.session.remove()


def _answer(portfolio_id: int, status: str, started: float, redelivered: bool,
            outcomes: list[AssetOutcome] | None = None,
            failures: list[PortfolioFailure] | None = None) -> dict[str, Any]:
    """The JSON-safe answer of one step."""
    return {"portfolio_id": portfolio_id, "status": status, "worker": worker_name(),
            "seconds": time.perf_counter() - started, "redelivered": redelivered,
            "outcomes": [asdict(o) for o in outcomes or []],
            "failures": [asdict(f) for f in failures or []]}


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
        task = celery.tasks[TASK_NAME]
        deadline_seconds = float(self.app.config["LTS"]["celery_step_deadline_seconds"])
        tick = now.isoformat()
        outcomes: list[AssetOutcome] = []
        failures: list[PortfolioFailure] = []
        timings: list[StepTiming] = []
        sent = []
        for pid in portfolio_ids:
            try:
                sent.append((pid, task.apply_async((pid, tick))))
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
