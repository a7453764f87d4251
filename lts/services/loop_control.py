"""The trading loop seen and steered by people: status for all, control for admins.

Status is read from the database (any worker can answer). Ticking now, pausing and
resuming are admin actions, audited, and so is the global risk state (see
:mod:`lts.services.risk_controls`, which also sets a portfolio's state).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from lts.errors import Conflict, ServiceError, ValidationFailed
from lts.extensions import db
from lts.models import AuditLog, ConfigEntry, Portfolio, User
from lts.plugins.base import TickReport
from lts.services import risk_controls
from lts.services.access import is_admin, load_owned, record, require_admin
from lts.services.error_display import report_unrecorded
from lts.trading.clock import system_clock
from lts.trading.loop import run_tick
from lts.trading.report import nothing_ran_reason
from lts.trading.status import LoopStatus, loop_status, set_paused

#: What a non-admin sees as the leader: that one exists, not its host name and PID.
HIDDEN_LEADER = "a server process"


def _interval_at(moment: datetime) -> float | None:
    """The ``global_latency`` in force at ``moment``, when it changed since (else None).

    Read from the config table's row time and the audited changes: the newest
    ``config.update`` of the key at or before ``moment``, or the configured value when
    none was made through LTS by then.
    """
    row = db.session.scalar(select(ConfigEntry).where(ConfigEntry.key == "global_latency"))
    if row is None or row.updated_at is None or row.updated_at <= moment:
        return None
    details = db.session.scalar(
        select(AuditLog.details).where(AuditLog.action == "config.update",
                                       AuditLog.resource == "config:global_latency",
                                       AuditLog.outcome == "ok",
                                       AuditLog.timestamp <= moment)
        .order_by(AuditLog.timestamp.desc(), AuditLog.id.desc()).limit(1))
    value = (details or {}).get("value") if isinstance(details, dict) else None
    if value is None:
        value = current_app.config["LTS"].get("global_latency")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _next_tick_on_the_running_schedule(status: LoopStatus) -> LoopStatus:
    """Correct ``next_tick_at`` right after ``global_latency`` changed.

    The scheduler follows a new interval only after its next tick (it reschedules then,
    see :mod:`lts.trading.scheduler`), so until that tick the next one is still due
    one *old* interval after the last: last + new interval was shown, a wrong time.
    """
    if status.last_tick_at is None:
        return status
    running = _interval_at(status.last_tick_at)
    if running is None or running == status.interval_minutes:
        return status
    return dataclasses.replace(status,
                               next_tick_at=status.last_tick_at + timedelta(minutes=running))


def get_status(actor: User, now: datetime | None = None) -> LoopStatus:
    """The loop's status; the leader's host and PID and recent errors only for admins.

    The leader is ``host:pid`` of the process holding the lease: internals a user has
    no use for and an attacker maps the servers with.
    """
    status = loop_status(now or system_clock())
    status = _next_tick_on_the_running_schedule(status)
    if not is_admin(actor):
        status = dataclasses.replace(status, recent_errors=(),
                                     leader=HIDDEN_LEADER if status.leader else None)
    return status


def tick_now(actor: User, *, now: datetime | None = None, ip: str | None = None
             ) -> dict[str, Any]:
    """Run one tick in this process now (admins); returns the tick report as a dict."""
    require_admin(actor, "loop.tick", ip=ip)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The tick runs in its own session; end ours so SQLite never sees a stale reader
    # upgrading to a writer after the tick committed.
    db.session.commit()
    try:
        report = run_tick(app, now)
    except ServiceError:
        raise
    except Exception as exc:  # the engine audits its own failures; the caller gets a 4xx
        record(actor, "loop.tick_now", "loop", {"error": repr(exc)[:200]}, "error", ip=ip)
        raise ServiceError(f"the tick failed: {exc}") from exc
    summary = _report_dict(report)
    db.session.commit()
    record(actor, "loop.tick_now", "loop", {k: v for k, v in summary.items()
                                            if isinstance(v, int | float | str | bool)},
           ip=ip)
    return summary


def run_portfolio_now(actor: User, portfolio_id: int, *, now: datetime | None = None,
                      ip: str | None = None) -> dict[str, Any]:
    """Make one portfolio due and run it now (its owner or an admin).

    Only this portfolio runs: others wait for the loop, and the answer names no other
    portfolio. Conflict when it is inactive or halted (the engine would skip it).
    """
    portfolio = load_owned(Portfolio, portfolio_id, actor, "update", ip=ip)
    if not portfolio.is_active or portfolio.risk_state == "halted":
        raise Conflict(f"portfolio {portfolio.id} is inactive or halted: it cannot run")
    # last_execution only; updated_at is kept so editors' ETags stay valid.
    db.session.execute(update(Portfolio).where(Portfolio.id == portfolio.id)
                       .values(last_execution=None, updated_at=Portfolio.updated_at)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        report = run_tick(app, now, portfolio_ids=[portfolio.id])
    except Exception as exc:  # the engine audits its own failures; the caller gets a 4xx
        record(actor, "portfolio.run_now", f"portfolio:{portfolio_id}",
               {"error": repr(exc)[:200]}, "error", ip=ip)
        # Owners are not admins: the message and an id, the internals to the log.
        raise ServiceError(report_unrecorded(f"portfolio {portfolio_id} run",
                                             f"the tick failed: {exc}")) from exc
    db.session.commit()
    summary = _report_dict(report)
    record(actor, "portfolio.run_now", f"portfolio:{portfolio_id}",
           {"ran": portfolio_id in summary["portfolios_run"], "errors": summary["errors"]},
           ip=ip)
    return summary


def _report_dict(report: TickReport) -> dict[str, Any]:
    """The parts of a TickReport a caller needs, as plain data.

    ``errors`` counts failed asset steps and portfolio-wide failures (allocator raised
    or over-allocated) alike; ``skipped_reason`` also says why nothing ran when no
    portfolio was due, and when the next one is.
    """
    return {"started_at": report.started_at, "finished_at": report.finished_at,
            "duration_seconds": float(report.duration_seconds),
            "portfolios_run": list(report.portfolios_run),
            "assets_run": len(report.outcomes),
            "errors": len(report.errors) + len(report.portfolio_failures),
            "skipped_reason": report.skipped_reason or nothing_ran_reason(report)}


def pause(actor: User, *, ip: str | None = None) -> LoopStatus:
    """Pause the loop (admins): ticks are skipped until it is resumed."""
    require_admin(actor, "loop.pause", ip=ip)
    set_paused(True)
    record(actor, "loop.pause", "loop", None, ip=ip)
    return get_status(actor)


def resume(actor: User, *, ip: str | None = None) -> LoopStatus:
    """Resume the loop (admins)."""
    require_admin(actor, "loop.resume", ip=ip)
    set_paused(False)
    record(actor, "loop.resume", "loop", None, ip=ip)
    return get_status(actor)


def set_global_kill_switch(actor: User, on: bool, *, ip: str | None = None) -> LoopStatus:
    """Turn the global kill switch on or off (admins): no order is sent while on.

    The kill switch is the global risk state ``halted``; off means ``active`` again.
    """
    require_admin(actor, "loop.kill_switch", ip=ip)
    if not isinstance(on, bool):
        raise ValidationFailed("invalid kill switch", {"on": ["must be true or false"]})
    risk_controls.set_global_risk_state(actor, "halted" if on else "active", ip=ip,
                                        action="loop.kill_switch")
    return get_status(actor)


def set_global_risk_state(actor: User, state: Any, reason: Any = None, *,
                          ip: str | None = None) -> LoopStatus:
    """Set the global risk state (admins), audited with the reason; the new status."""
    risk_controls.set_global_risk_state(actor, state, reason, ip=ip)
    return get_status(actor)
