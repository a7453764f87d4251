"""The body of the scheduled job: lease, pause switch, start-up reconciliation, tick.

These are LTS's mechanics; the tick itself is the core plugin's ``tick(now)`` (the
loop's policy), run on an :class:`~lts.trading.loop.EngineHost` over this runner's
engine. Kept apart from APScheduler so tests drive it with an injected clock, no sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask

from lts.database import write_transaction
from lts.extensions import db
from lts.logging_setup import log_context
from lts.models.idempotency import purge_expired_keys
from lts.plugins.base import CorePlugin, TickReport
from lts.runtime_config import effective_settings
from lts.trading.clock import Clock, system_clock
from lts.trading.engine import Engine
from lts.trading.lease import (
    end_claim,
    make_holder_id,
    process_holder_id,
    purge_claims,
    release,
    renew_claim,
    try_acquire,
)
from lts.trading.loop import EngineHost, create_core
from lts.trading.orders import audit
from lts.trading.plugin_calls import traceback_summary

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = timedelta(hours=1)
CLAIMS_KEPT = timedelta(days=1)  # expired claims explain recent reconciliations, then go


class LoopRunner:
    """Runs one scheduled tick if this process holds the lease and the loop is not paused.

    ``core`` is the loop's policy (default: the configured core plugin); it is started
    here on a host over this runner's engine and stopped by :meth:`shutdown`.
    """

    def __init__(self, app: Flask, *, clock: Clock = system_clock, holder: str | None = None,
                 engine_factory: Callable[[Flask], Engine] | None = None,
                 core: CorePlugin | None = None) -> None:
        self.app = app
        self.clock = clock
        self.holder = holder or make_holder_id()
        self._engine_factory = engine_factory or (lambda a: Engine(a, clock=clock))
        self._engine: Engine | None = None
        self.leading = False
        self.interval_minutes: float = float(app.config["LTS"]["global_latency"])
        self.last_report: TickReport | None = None
        self.last_error: str | None = None
        self.last_housekeeping: datetime | None = None
        self._lock = threading.Lock()
        self.core = core or create_core(app)
        self.core.start(EngineHost(lambda: self.engine))

    @property
    def engine(self) -> Engine:
        """The engine, built on first use (after any fork)."""
        if self._engine is None:
            self._engine = self._engine_factory(self.app)
        return self._engine

    def heartbeat(self, now: datetime | None = None) -> bool:
        """Renew (or try to take) the lease; True while this process leads."""
        with self.app.app_context():
            now = now or self.clock()
            ttl = float(self.app.config["LTS"]["lease_seconds"])
            renew_claim(db.session(), process_holder_id(), now, ttl)
            leading = try_acquire(db.session(), self.holder, now, ttl)
            if not leading:
                self.leading = False
            return leading

    def run_once(self, now: datetime | None = None) -> TickReport | None:
        """One scheduled tick: None when skipped (not the leader, or paused)."""
        with self._lock, self.app.app_context():
            now = now or self.clock()
            session = db.session()
            try:
                settings = effective_settings(("loop_paused", "global_latency"), session)
                self.interval_minutes = float(settings["global_latency"])
                ttl = float(self.app.config["LTS"]["lease_seconds"])
                # This process is alive: its orders in flight are left to it (SPEC 2a).
                renew_claim(session, process_holder_id(), now, ttl)
                if not try_acquire(session, self.holder, now, ttl):
                    self.leading = False
                    return None
                if not self.leading:
                    # Newly leading (first start or takeover): settle orders left live.
                    self.engine.start_up(now)
                    purge_claims(session, now - CLAIMS_KEPT)
                    self.leading = True
                if settings["loop_paused"]:
                    return None
                with log_context(tick=now.isoformat(timespec="seconds")):
                    report = self.core.tick(now)
                orders = sum(len(o.order_ids) for o in report.outcomes)
                log.info("tick: %d portfolio(s), %d asset(s), %d order(s), %d error(s), "
                         "%d portfolio failure(s), %.3f s%s", len(report.portfolios_run),
                         len(report.outcomes), orders, len(report.errors),
                         len(report.portfolio_failures), report.duration_seconds,
                         f" (skipped: {report.skipped_reason})"
                         if report.skipped_reason else "")
                self.last_report = report
                self.last_error = None
                self._housekeeping(now)
                return report
            except Exception as exc:
                # The scheduler thread must survive anything; the next tick tries again.
                log.exception("tick failed")
                self.last_error = traceback_summary(exc)
                session.rollback()
                try:
                    with write_transaction(session):
                        audit(session, "loop.tick_failed", "loop", now, outcome="error",
                              error=self.last_error, holder=self.holder)
                except Exception:
                    log.exception("could not audit the failed tick")
                return None
            finally:
                db.session.remove()

    def _housekeeping(self, now: datetime) -> None:
        """At most hourly, on the leader only: purge ended sessions, tokens, expired keys."""
        if self.last_housekeeping is not None and now - self.last_housekeeping < HOUSEKEEPING_EVERY:
            return
        self.last_housekeeping = now
        from lts.plugins.aaa import current_aaa

        purged = current_aaa().purge_sessions()
        if purged:
            log.info("housekeeping: purged %d ended session(s)", purged)
        with write_transaction(db.session()) as session:
            keys = purge_expired_keys(session, now)
            if keys:
                audit(session, "idempotency.purged", "idempotency_keys", now, rows=keys)
                log.info("housekeeping: purged %d expired idempotency key(s)", keys)

    def request_stop(self) -> None:
        """Ask a running tick to finish the portfolio it steps and claim no other."""
        if self._engine is not None:
            self._engine.stopping.set()

    def shutdown(self) -> None:
        """Stop the core plugin and the engine's worker, and give the lease up."""
        try:
            self.core.stop()
        except Exception:
            log.exception("stopping the core plugin failed")
        if self._engine is not None:
            self._engine.close()
        with self.app.app_context():
            try:
                release(db.session(), self.holder)
                # Gone: others may settle this process's orders at once (none is in
                # flight: the server stops its workers once their requests are answered).
                end_claim(db.session(), process_holder_id(), self.clock())
            finally:
                db.session.remove()
        self.leading = False
