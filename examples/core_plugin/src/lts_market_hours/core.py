"""``market_hours``: the trading loop runs only while the market is open.

A core plugin is the loop's policy. LTS keeps the mechanics (one process elected by a
database lease, the pause switch, the scheduler, exactly-once runs of each portfolio)
and calls :meth:`MarketHoursCore.tick` for every tick: the scheduled ones, `flask lts
tick` and "Run now". Inside the hours it runs every due portfolio like the built-in
``default`` core; outside them it runs nothing and says when the market opens.

Skipping a tick loses no protection: when the market is closed no new bar arrives, and
the paper broker checks every bar since its previous check at the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lts.plugins.base import CorePlugin, PluginError, PluginSetting, TickReport

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MarketHoursCore(CorePlugin):
    """Runs due portfolios on trading days between the open and the close, else skips."""

    name = "market_hours"
    interface_version = "1.0"  # the LTS plugin interface this class was written for
    description = "Runs due portfolios only during market hours (days, open, close, zone)."
    # Global settings: `--set market_hours_open=08:00`, LTS_MARKET_HOURS_OPEN, the file.
    settings = (
        PluginSetting("market_hours_open", str, "09:00", "Market open, HH:MM local time."),
        PluginSetting("market_hours_close", str, "17:30",
                      "Market close, HH:MM local time (no tick from then on)."),
        PluginSetting("market_hours_days", str, "mon,tue,wed,thu,fri",
                      "Trading days, comma-separated: mon,tue,wed,thu,fri,sat,sun."),
        PluginSetting("market_hours_timezone", str, "UTC",
                      "IANA time zone of the open and close, e.g. Europe/London."),
    )

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, app_config)
        self.opens = _clock_time(self.app_config["market_hours_open"], "market_hours_open")
        self.closes = _clock_time(self.app_config["market_hours_close"],
                                  "market_hours_close")
        if self.opens >= self.closes:
            raise PluginError(f"market_hours_open ({self.opens:%H:%M}) must be before "
                              f"market_hours_close ({self.closes:%H:%M})")
        self.days = _days(self.app_config["market_hours_days"])
        zone = self.app_config["market_hours_timezone"]
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PluginError(f"market_hours_timezone: unknown time zone {zone!r}") from None

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` falls on a trading day, at or after the open, before the close."""
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def next_open(self, now: datetime) -> datetime:
        """The first open after ``now`` (in the market's time zone)."""
        today = now.astimezone(self.zone).date()
        for offset in range(8):
            day = today + timedelta(days=offset)
            opening = _at(day, self.opens, self.zone)
            if day.weekday() in self.days and opening > now:
                return opening
        raise AssertionError("no trading day within a week")  # days is never empty

    def tick(self, now: datetime) -> TickReport:
        """Run every due portfolio while open; otherwise skip, saying when it opens."""
        if self.is_open(now):
            return self.host.run(now)
        waiting = self.host.portfolios(now)
        due = sum(p.due for p in waiting)
        return TickReport.skipped(
            now, f"market closed ({self.app_config['market_hours_days']} "
                 f"{self.opens:%H:%M}-{self.closes:%H:%M} {self.zone.key}); "
                 f"{due} due portfolio(s) wait for the open at "
                 f"{self.next_open(now).isoformat(timespec='minutes')}", waiting)


def _clock_time(text: str, setting: str) -> time:
    """``HH:MM`` as a time; PluginError naming the setting otherwise."""
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise PluginError(f"{setting}: {text!r} is not a time such as 09:30") from None


def _days(text: str) -> frozenset[int]:
    """Weekday numbers (Monday 0) of ``mon,tue,...``; PluginError naming the setting."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DAY_NAMES]
    if unknown or not names:
        raise PluginError(f"market_hours_days: {text!r} must list days among "
                          f"{','.join(DAY_NAMES)}")
    return frozenset(DAY_NAMES.index(name) for name in names)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``clock`` in ``zone``, as an aware datetime."""
    return datetime.combine(day, clock, tzinfo=zone)
