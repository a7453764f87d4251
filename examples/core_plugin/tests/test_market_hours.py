"""The market-hours policy: which ticks run, which skip, and what the settings accept.

The host here is the smallest :class:`lts.plugins.base.LoopHost`: it records what the
plugin asked for. LTS's own suite runs the plugin through its entry point on a real
database (``tests/integration/test_core_plugin_example.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lts_market_hours.core import MarketHoursCore

from lts.plugins.base import PluginError, PortfolioDue, TickReport

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)


class RecordingHost:
    """Runs nothing; remembers every run asked for."""

    def __init__(self) -> None:
        self.runs: list[datetime] = []

    def portfolios(self, now):
        """One portfolio, due."""
        return (PortfolioDue(id=1, name="p", due=True, next_due_at=now),)

    def run(self, now, portfolio_ids=None):
        """Record the run; report portfolio 1 as run."""
        self.runs.append(now)
        return TickReport(started_at=now, finished_at=now, portfolios_run=(1,))


def started(**settings) -> tuple[MarketHoursCore, RecordingHost]:
    """A core with these settings, started on a recording host."""
    core, host = MarketHoursCore({}, settings), RecordingHost()
    core.start(host)
    return core, host


def test_runs_inside_the_hours_and_skips_outside():
    """Monday 10:00 runs; Saturday skips and names the next open."""
    core, host = started()
    assert core.tick(MONDAY_10).portfolios_run == (1,)
    skipped = core.tick(SATURDAY_10)
    assert host.runs == [MONDAY_10]
    assert skipped.portfolios_run == () and "market closed" in skipped.skipped_reason
    assert "wait for the open at 2026-03-09T09:00+00:00" in skipped.skipped_reason


def test_the_close_is_exclusive_and_the_zone_counts():
    """Hours are local to the zone; the close itself is already closed."""
    core, _ = started(market_hours_timezone="America/New_York", market_hours_open="09:30",
                      market_hours_close="16:00")
    assert not core.is_open(datetime(2026, 3, 2, 14, 29, tzinfo=UTC))  # 09:29 EST
    assert core.is_open(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    assert not core.is_open(datetime(2026, 3, 2, 21, 0, tzinfo=UTC))  # 16:00 EST


@pytest.mark.parametrize(("settings", "named"), [
    ({"market_hours_open": "9h"}, "market_hours_open"),
    ({"market_hours_open": "18:00"}, "market_hours_close"),
    ({"market_hours_days": "mon,funday"}, "market_hours_days"),
    ({"market_hours_timezone": "Mars/Olympus"}, "market_hours_timezone"),
])
def test_bad_settings_are_refused_naming_the_setting(settings, named):
    """Each bad value stops the plugin with a message naming its setting."""
    with pytest.raises(PluginError, match=named):
        MarketHoursCore({}, settings)
