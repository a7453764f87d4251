"""``/api/v1/loop``: status for everyone; tick, pause/resume, risk state, kill switch: admins."""

from __future__ import annotations

from typing import Any

from lts.blueprints.api import bp
from lts.blueprints.api._common import admin_only
from lts.schemas.admin import LoopStatusSchema, TickResultSchema
from lts.schemas.portfolios import KillSwitchSchema, RiskStateSchema
from lts.security.authz import client_ip
from lts.services import loop_control
from lts.web.request import actor


@bp.get("/loop")
@bp.response(200, LoopStatusSchema)
def loop_status() -> Any:
    """Leader, last and next tick, paused, kill switch (recent errors for admins)."""
    return loop_control.get_status(actor())


@bp.post("/loop/tick")
@admin_only
@bp.response(200, TickResultSchema)
def loop_tick() -> Any:
    """Run one tick now, in this process."""
    return loop_control.tick_now(actor(), ip=client_ip())


@bp.post("/loop/pause")
@admin_only
@bp.response(200, LoopStatusSchema)
def loop_pause() -> Any:
    """Pause the loop: ticks are skipped until it is resumed."""
    return loop_control.pause(actor(), ip=client_ip())


@bp.post("/loop/resume")
@admin_only
@bp.response(200, LoopStatusSchema)
def loop_resume() -> Any:
    """Resume the loop."""
    return loop_control.resume(actor(), ip=client_ip())


@bp.post("/loop/kill-switch")
@admin_only
@bp.arguments(KillSwitchSchema)
@bp.response(200, LoopStatusSchema)
def loop_kill_switch(data: dict[str, Any]) -> Any:
    """Turn the global kill switch on or off: no order is sent while it is on."""
    return loop_control.set_global_kill_switch(actor(), data["on"], ip=client_ip())


@bp.put("/loop/risk-state")
@admin_only
@bp.arguments(RiskStateSchema)
@bp.response(200, LoopStatusSchema)
def loop_risk_state(data: dict[str, Any]) -> Any:
    """Set the global risk state: ``reducing`` lets only closing orders and cancels through.

    ``halted`` is the global kill switch; the reason is kept in the audit log.
    """
    return loop_control.set_global_risk_state(actor(), data["state"], data["reason"],
                                              ip=client_ip())
