"""``flask lts worker``: a Celery worker running the loop's portfolio steps (issue 16).

A thin click wrapper over :func:`lts.workers.worker.start_worker`; errors name the
option or setting at fault.
"""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext


def register_worker_commands(group: click.Group) -> None:
    """Add ``worker`` to the ``flask lts`` group."""
    group.add_command(worker_command)


@click.command("worker")
@click.option("--pool", default="solo", show_default=True,
              type=click.Choice(["solo", "prefork", "threads"]),
              help="solo: one step at a time in this process (start more commands to scale);"
                   " prefork: --concurrency child processes.")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(min=1),
              help="Steps run at once (prefork children or threads).")
@click.option("--hostname", default=None, help="Celery node name (default celery@host).")
@click.option("--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@with_appcontext
def worker_command(pool: str, concurrency: int, hostname: str | None, loglevel: str) -> None:
    """Run portfolio steps sent by the loop's leader (needs LTS_CELERY_BROKER_URL)."""
    from lts.workers.worker import WorkerOptions, start_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        code = start_worker(app, WorkerOptions(pool=pool, concurrency=concurrency,
                                               hostname=hostname, loglevel=loglevel))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)
