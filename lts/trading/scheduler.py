"""The APScheduler BackgroundScheduler that calls :class:`LoopRunner` every interval.

One tick job (stable id, coalesced, one instance at a time, explicit misfire grace)
and one heartbeat job renewing the lease a few times per lease lifetime, so the leader
keeps it between ticks. The interval is ``global_latency`` minutes, re-read from the
Config table at every tick; a change reschedules the job.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from lts.trading.runner import LoopRunner

log = logging.getLogger(__name__)

TICK_JOB_ID = "lts-tick"
HEARTBEAT_JOB_ID = "lts-lease-heartbeat"


def misfire_grace_seconds(interval_minutes: float) -> int:
    """A late tick still runs within half an interval; later ones are dropped."""
    return max(1, int(interval_minutes * 30))


class LoopScheduler:
    """Owns the BackgroundScheduler of one process."""

    def __init__(self, runner: LoopRunner) -> None:
        self.runner = runner
        self.scheduler: BackgroundScheduler | None = None
        self.interval_minutes = runner.interval_minutes

    def start(self) -> None:
        """Start the jobs; the first tick runs at once."""
        lease_seconds = float(self.runner.app.config["LTS"]["lease_seconds"])
        scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": misfire_grace_seconds(self.interval_minutes),
        })
        scheduler.add_job(self._tick, IntervalTrigger(minutes=self.interval_minutes),
                          id=TICK_JOB_ID, name="LTS tick", replace_existing=True,
                          next_run_time=datetime.now(UTC))
        scheduler.add_job(self.runner.heartbeat,
                          IntervalTrigger(seconds=max(lease_seconds / 3, 1.0)),
                          id=HEARTBEAT_JOB_ID, name="LTS lease heartbeat",
                          replace_existing=True, misfire_grace_time=max(1, int(lease_seconds)))
        scheduler.start()
        self.scheduler = scheduler
        log.info("trading loop started (every %g min, holder %s)", self.interval_minutes,
                 self.runner.holder)

    def _tick(self) -> None:
        """The tick job: run, then follow a changed ``global_latency``."""
        self.runner.run_once()
        wanted = self.runner.interval_minutes
        if self.scheduler is not None and wanted != self.interval_minutes:
            log.info("global_latency changed: %g -> %g min", self.interval_minutes, wanted)
            self.interval_minutes = wanted
            self.scheduler.reschedule_job(TICK_JOB_ID, trigger=IntervalTrigger(minutes=wanted))
            self.scheduler.modify_job(TICK_JOB_ID,
                                      misfire_grace_time=misfire_grace_seconds(wanted))

    def next_tick_at(self) -> datetime | None:
        """When the tick job runs next (None when stopped)."""
        if self.scheduler is None:
            return None
        job = self.scheduler.get_job(TICK_JOB_ID)
        return job.next_run_time if job is not None else None

    def stop(self) -> None:
        """Stop the scheduler, waiting for a running tick, then release the lease.

        A running tick is asked first to stop after the portfolio it is stepping
        (graceful shutdown, SIGTERM): the wait is one portfolio's steps, not a whole tick.
        """
        self.runner.request_stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.runner.shutdown()
