"""Start a Celery worker for an LTS app (the body of ``flask lts worker``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from lts.extensions import db
from lts.trading.fanout import celery_app, enabled
from lts.workers.steps import register_step_task, renew_worker_claim

POOLS = ("solo", "prefork", "threads")


@dataclass(frozen=True)
class WorkerOptions:
    """How one ``flask lts worker`` runs: pool, concurrency, name and log level.

    ``solo`` (the default) runs one step at a time in the command's own process: start
    more commands to run more steps at once (a killed one loses only its step, which
    the broker hands to another). ``prefork`` runs ``concurrency`` child processes.
    """

    pool: str = "solo"
    concurrency: int = 1
    hostname: str | None = None
    loglevel: str = "INFO"


def start_worker(app: Flask, options: WorkerOptions) -> int:
    """Run a worker consuming the app's step queue until it is stopped; its exit code.

    SIGTERM is Celery's warm shutdown: the step in progress finishes and is
    acknowledged, then the worker exits; ``kill -9`` loses nothing either, since steps
    are acknowledged only after they return (the broker redelivers it).
    """
    if not enabled(app):
        raise ValueError("celery_broker_url: not set; set LTS_CELERY_BROKER_URL "
                         "(e.g. amqp://guest:guest@127.0.0.1:5672// or "
                         "redis://127.0.0.1:6379/1) to run workers")
    if options.pool not in POOLS:
        raise ValueError(f"pool: must be one of {', '.join(POOLS)}, got {options.pool!r}")
    if options.concurrency < 1:
        raise ValueError(f"concurrency: must be >= 1, got {options.concurrency}")
    celery = celery_app(app)
    register_step_task(celery, app)
    renew_worker_claim(app)  # known alive before its first step
    with app.app_context():
        # No pooled connection may cross the fork of prefork children (shared sockets).
        db.engine.dispose()
    worker = celery.Worker(pool=options.pool, concurrency=options.concurrency,
                           hostname=options.hostname, loglevel=options.loglevel,
                           queues=[app.config["LTS"]["celery_queue"]],
                           without_heartbeat=False, without_gossip=True,
                           without_mingle=True)
    worker.start()
    return int(worker.exitcode or 0)
