"""The built-in core plugin: an APScheduler loop in this process calling the engine."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask

from lts.plugins.base import CorePlugin, TickReport

log = logging.getLogger(__name__)


class DefaultCore(CorePlugin):
    """Ticks every ``global_latency`` minutes; a database lease picks one process."""

    name = "default"
    interface_version = "1.0"
    description = "APScheduler loop in the app process; a database lease elects one leader."

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, app_config)
        self.app: Flask | None = None
        self._scheduler: Any = None

    def start(self, app: Any) -> None:
        """Start the background scheduler for ``app`` (idempotent)."""
        from lts.trading.runner import LoopRunner
        from lts.trading.scheduler import LoopScheduler

        if self._scheduler is not None:
            return
        self.app = app
        self._scheduler = LoopScheduler(LoopRunner(app))
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler and release the lease; returns once no tick runs."""
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None

    @property
    def scheduler(self) -> Any:
        """The running LoopScheduler, or None."""
        return self._scheduler

    def tick(self, now: datetime) -> TickReport:
        """Run one tick now, in this thread (used by `flask lts tick`)."""
        from lts.trading.engine import Engine

        if self.app is None:
            raise RuntimeError("start(app) first, or use lts.trading.loop.run_tick")
        engine = Engine(self.app)
        try:
            with self.app.app_context():
                return engine.tick(now)
        finally:
            engine.close()
