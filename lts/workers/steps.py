"""A Celery worker's side of the fan-out: run one claimed portfolio's step exactly once.

The leader (:mod:`lts.trading.fanout`) claims portfolios and sends their steps by task
name; here a worker process registers the task's body (:func:`register_step_task`) and
runs the engine's own step (:meth:`lts.trading.engine.Engine.step_portfolio`) under the
tick's claim. The rules that make a redelivered step safe (stale, already done, orders a
dead run left open reconciled first) are in :func:`run_step`; why they hold is in the
fan-out module's docstring. Split from the leader's side so the loop's engine never
imports the worker (one direction: workers -> engine -> fan-out).
"""

from __future__ import annotations

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
from lts.plugins.base import AssetOutcome, PortfolioFailure
from lts.trading import statistics
from lts.trading.clock import system_clock
from lts.trading.engine import Engine
from lts.trading.fanout import ALREADY_DONE, RAN, STALE, TASK_NAME
from lts.trading.lease import process_holder_id, renew_claim
from lts.trading.order_state import OPEN_STATUSES

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

_CLAIMED = select(Portfolio.id).where(Portfolio.id == bindparam("pid"),
                                      Portfolio.last_execution == bindparam("now"))
_FINISHED = select(Statistic.id).where(Statistic.key == bindparam("key"),
                                       Statistic.timestamp == bindparam("now")).limit(1)
_LEFT_OPEN = (select(Order.id).join(Asset, Asset.id == Order.asset_id)
              .where(Asset.portfolio_id == bindparam("pid"),
                     Order.status.in_(OPEN_STATUSES), Order.created_at == bindparam("now"))
              .limit(1))

_ENGINES: dict[int, Engine] = {}
_HEARTBEATS: set[int] = set()
_WORKER_LOCK = threading.Lock()


def worker_name() -> str:
    """Host and process of this worker, for the tick report."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _engine(app: Flask) -> Engine:
    """The engine of this process (built after any fork); starts its claim heartbeat."""
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


def register_step_task(celery: Celery, app: Flask) -> None:
    """Register the step task's body on ``celery`` (a worker's app), once."""
    if TASK_NAME in celery.tasks:
        return

    # shared=False: a shared task would be registered once for every Celery app of the
    # process, bound to the first Flask app; each app keeps its own (tests, benchmarks).
    @celery.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
                 shared=False)
    def step_portfolio(task: Any, portfolio_id: int, tick: str) -> dict[str, Any]:
        """One claimed portfolio's step for the tick at ``tick`` (ISO time)."""
        info = task.request.delivery_info or {}
        return run_step(app, int(portfolio_id), datetime.fromisoformat(tick),
                        redelivered=bool(info.get("redelivered")))
