"""Loop status for the API and dashboard: leader, last and next tick, errors, paused.

Everything is read from the database, so any process (a web worker without the loop)
can answer: the lease row names the leader, Statistics holds tick times, AuditLog the
failed asset steps, and the Config table the pause switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from lts.extensions import db
from lts.models import AuditLog, Statistic
from lts.runtime_config import effective_settings, set_runtime_setting
from lts.trading import statistics
from lts.trading.lease import current_holder
from lts.trading.risk import global_risk_state

ERROR_ACTIONS = ("trading.asset_failed", "trading.portfolio_failed", "loop.tick_failed",
                 "trading.bars_missing")


@dataclass(frozen=True)
class LoopStatus:
    """What the loop is doing, as seen from the database."""

    leader: str | None
    lease_expires_at: datetime | None
    last_tick_at: datetime | None
    last_tick_seconds: float | None
    next_tick_at: datetime | None
    interval_minutes: float
    paused: bool
    kill_switch: bool
    recent_errors: tuple[dict[str, Any], ...]
    risk_state: str = "active"


def loop_status(now: datetime, error_limit: int = 10) -> LoopStatus:
    """Collect the loop status at ``now``."""
    session = db.session()
    settings = effective_settings(("global_latency", "loop_paused", "kill_switch",
                                   "risk_state"), session)
    risk_state = global_risk_state(settings)
    lease = current_holder(session, now)
    last = session.execute(
        select(Statistic.timestamp, Statistic.value)
        .where(Statistic.key == statistics.tick_seconds_key())
        .order_by(Statistic.timestamp.desc()).limit(1)).first()
    interval = float(settings["global_latency"])
    errors = session.scalars(
        select(AuditLog).where(AuditLog.action.in_(ERROR_ACTIONS))
        .order_by(AuditLog.id.desc()).limit(error_limit)).all()
    return LoopStatus(
        leader=lease[0] if lease else None,
        lease_expires_at=lease[1] if lease else None,
        last_tick_at=last.timestamp if last else None,
        last_tick_seconds=last.value if last else None,
        next_tick_at=(last.timestamp + timedelta(minutes=interval)) if last else None,
        interval_minutes=interval,
        paused=bool(settings["loop_paused"]),
        kill_switch=risk_state == "halted",
        risk_state=risk_state,
        recent_errors=tuple({"at": e.timestamp, "action": e.action, "resource": e.resource,
                             **(e.details or {})} for e in errors),
    )


def set_paused(paused: bool) -> None:
    """Pause or resume the loop (every process sees it at its next scheduled tick)."""
    set_runtime_setting("loop_paused", paused)
