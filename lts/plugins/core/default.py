"""The built-in core plugin: every tick runs every due portfolio."""

from __future__ import annotations

from datetime import datetime

from lts.plugins.base import CorePlugin, TickReport


class DefaultCore(CorePlugin):
    """Runs every due portfolio at every tick: the loop with no policy of its own.

    LTS ticks every ``global_latency`` minutes in the process holding the database
    lease (see :class:`lts.plugins.base.LoopHost`); this plugin only says "run them all".
    """

    name = "default"
    interface_version = "1.0"
    description = "Runs every due portfolio at every tick."

    def tick(self, now: datetime) -> TickReport:
        """Run every due portfolio in the host's scope."""
        return self.host.run(now)
