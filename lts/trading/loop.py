"""The trading loop's entry points: start and stop it, run one tick, and the host.

Every tick goes through the configured core plugin's ``tick(now)`` (the loop's policy,
:class:`lts.plugins.base.CorePlugin`), handed an :class:`EngineHost`: the scheduled loop
(:class:`lts.trading.runner.LoopRunner`, after lease and pause switch), `flask lts tick`
and "Run now" (:func:`run_tick`) alike. This module owns the mechanics; the plugin never
sees the engine.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING

from flask import Flask

from lts.plugins.base import CorePlugin, PortfolioDue, TickReport
from lts.trading.clock import system_clock
from lts.trading.engine import Engine

if TYPE_CHECKING:  # the runner imports this module: no cycle at run time
    from lts.trading.scheduler import LoopScheduler

log = logging.getLogger(__name__)
EXTENSION_KEY = "lts_core"


class EngineHost:
    """The :class:`lts.plugins.base.LoopHost` LTS hands a core plugin.

    ``engine`` is called for the engine at each use (the loop builds it lazily, after
    any fork). ``scope`` limits what the plugin sees and runs to those portfolios (a
    user's "Run now"): a core plugin cannot reach beyond it, whatever ids it passes.
    """

    def __init__(self, engine: Callable[[], Engine],
                 scope: Collection[int] | None = None) -> None:
        self._engine = engine
        self.scope = frozenset(scope) if scope is not None else None

    def portfolios(self, now: datetime) -> tuple[PortfolioDue, ...]:
        """Every active portfolio in scope, with whether a tick at ``now`` runs it."""
        return self._engine().portfolios(now, self.scope)

    def run(self, now: datetime, portfolio_ids: Collection[int] | None = None
            ) -> TickReport:
        """Run the due portfolios in scope; ``portfolio_ids`` narrows them further.

        Only an unscoped run of every portfolio counts as a loop tick (its time goes to
        the statistics); any narrower run is like "Run now".
        """
        ids = self.scope
        if portfolio_ids is not None:
            wanted = frozenset(int(pid) for pid in portfolio_ids)
            ids = wanted if ids is None else ids & wanted
        return self._engine().tick(now, portfolio_ids=ids)


def create_core(app: Flask) -> CorePlugin:
    """The configured core plugin (``core_plugin``), not yet started."""
    from lts.plugins.registry import get_registry

    settings = app.config["LTS"]
    core = get_registry(app).create("core", settings["core_plugin"], {}, settings)
    if not isinstance(core, CorePlugin):  # the registry checks the kind; be sure
        raise TypeError(f"core plugin {settings['core_plugin']!r} is not a CorePlugin")
    return core


def start_loop(app: Flask) -> LoopScheduler:
    """Start the background loop of ``app`` (once per app) under its core plugin.

    Called after any fork (gunicorn builds the app inside each worker), with the
    database engine disposed first, so no pooled connection crosses a fork.
    """
    existing = app.extensions.get(EXTENSION_KEY)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from lts.extensions import db
    from lts.trading.runner import LoopRunner
    from lts.trading.scheduler import LoopScheduler

    with app.app_context():
        db.engine.dispose()
    _ensure_log_handler()
    scheduler = LoopScheduler(LoopRunner(app, core=create_core(app)))
    scheduler.start()
    app.extensions[EXTENSION_KEY] = scheduler
    atexit.register(stop_loop, app)
    return scheduler


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
    """Stop the app's loop if it runs: no tick runs once this returns."""
    scheduler = app.extensions.pop(EXTENSION_KEY, None)
    if scheduler is not None:
        try:
            scheduler.stop()
        except Exception:
            log.exception("stopping the loop failed")


def run_tick(app: Flask, now: datetime | None = None, *,
             portfolio_ids: Collection[int] | None = None) -> TickReport:
    """Run one tick now in this thread through the core plugin (`flask lts tick`, "Run now").

    Outside the scheduler: no lease and no pause switch (an operator asked for it).
    ``portfolio_ids`` scopes the host to those portfolios, and only their orders are
    reconciled: a user's "run now" never settles anyone else's order, and none whose
    placing call may still be in flight (the tick's own reconciliation).
    """
    from flask import has_app_context

    from lts.extensions import db
    from lts.trading.orders import ensure_no_transaction

    if has_app_context():
        # The caller's session (a request's) must hold no transaction during the tick:
        # in a writing request on SQLite even a read holds the write lock, and the
        # tick's own session would wait on it until the busy timeout.
        ensure_no_transaction(db.session())
    core = create_core(app)
    engine = Engine(app)
    try:
        with app.app_context():
            core.start(EngineHost(lambda: engine, portfolio_ids))
            try:
                return core.tick(now or system_clock())
            finally:
                core.stop()
    finally:
        engine.close()
