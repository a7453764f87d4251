"""Starting and stopping the loop of one app, and running one tick by hand."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Collection
from datetime import datetime

from flask import Flask

from lts.plugins.base import CorePlugin, TickReport
from lts.trading.clock import system_clock

log = logging.getLogger(__name__)
EXTENSION_KEY = "lts_core"


def start_loop(app: Flask) -> CorePlugin:
    """Create the configured core plugin and start it (once per app).

    Called after any fork (gunicorn builds the app inside each worker), with the
    database engine disposed first, so no pooled connection crosses a fork.
    """
    existing = app.extensions.get(EXTENSION_KEY)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from lts.extensions import db
    from lts.plugins.registry import get_registry

    with app.app_context():
        db.engine.dispose()
    settings = app.config["LTS"]
    _ensure_log_handler()
    core = get_registry(app).create("core", settings["core_plugin"], {}, settings)
    assert isinstance(core, CorePlugin)
    core.start(app)
    app.extensions[EXTENSION_KEY] = core
    atexit.register(stop_loop, app)
    return core


def _ensure_log_handler() -> None:
    """Show the loop's INFO lines (ticks, leadership) on stderr in server processes.

    gunicorn configures only its own loggers; without a handler, ``lts`` INFO records
    would be dropped and `make run` would not show the loop trading.
    """
    logger = logging.getLogger("lts")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] "
                                           "%(name)s: %(message)s"))
    logger.addHandler(handler)


def stop_loop(app: Flask) -> None:
    """Stop the app's loop if it runs."""
    core = app.extensions.pop(EXTENSION_KEY, None)
    if core is not None:
        try:
            core.stop()
        except Exception:
            log.exception("stopping the loop failed")


def run_tick(app: Flask, now: datetime | None = None, *,
             portfolio_ids: Collection[int] | None = None) -> TickReport:
    """Run one tick now in this thread, outside the scheduler (`flask lts tick`).

    ``portfolio_ids``: only those portfolios (see :meth:`Engine.tick`), and only their
    orders are reconciled: a user's "run now" never settles anyone else's order, and
    none whose placing call may still be in flight (the tick's own reconciliation).
    """
    from flask import has_app_context

    from lts.extensions import db
    from lts.trading.engine import Engine
    from lts.trading.orders import ensure_no_transaction

    if has_app_context():
        # The caller's session (a request's) must hold no transaction during the tick:
        # in a writing request on SQLite even a read holds the write lock, and the
        # tick's own session would wait on it until the busy timeout.
        ensure_no_transaction(db.session())
    engine = Engine(app)
    try:
        with app.app_context():
            return engine.tick(now or system_clock(), portfolio_ids=portfolio_ids)
    finally:
        engine.close()
