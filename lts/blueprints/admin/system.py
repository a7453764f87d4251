"""Admin pages of the running system: config, plugins with load errors, loop, error details.

Admins only (``role_required("admin")``); every change goes through a service that
checks the role again and audits it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from lts.blueprints.admin import bp
from lts.errors import ServiceError
from lts.security.authz import client_ip, role_required
from lts.services import config_admin, error_display, loop_control, plugin_catalog, risk_controls
from lts.web.htmx import hx_redirect, render_page, render_partial
from lts.web.request import actor, is_htmx, submitted_reason, with_trigger


def split_items(items: list[Any]) -> dict[str, list[Any]]:
    """Runtime settings (editable here) apart from those needing a restart."""
    return {"runtime_items": [i for i in items if i.runtime],
            "startup_items": [i for i in items if not i.runtime]}


def parse_setting_text(text: str) -> Any:
    """A value typed in the config editor: JSON when it parses (1.5, true, null), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@bp.get("/config")
@role_required("admin")
def config() -> ResponseReturnValue:
    """Every setting with its value and source; runtime settings are editable inline."""
    items = config_admin.list_config(actor(), ip=client_ip())
    return render_page("admin/config.html", {"config-table": "partials/_config_table.html"},
                       errors={}, **split_items(items))


@bp.post("/config/<key>")
@role_required("admin")
def set_config(key: str) -> ResponseReturnValue:
    """Store one runtime setting; the loop reads it at its next tick."""
    errors: dict[str, str] = {}
    try:
        item = config_admin.set_config(actor(), key, parse_setting_text(
            request.form.get("value", "").strip()), ip=client_ip())
    except ServiceError as exc:
        messages = [m for ms in exc.fields.values() for m in ms] if exc.fields else []
        errors[key] = "; ".join(str(m) for m in messages) or exc.message
        status = 422
    else:
        shown = "empty (none)" if item.value is None else repr(item.value)
        flash(f"{item.key} set to {shown}.", "success")
        status = 200
    items = config_admin.list_config(actor())
    if is_htmx():
        return render_partial("partials/_config_table.html", errors=errors,
                              **split_items(items)), status
    if status == 200:
        return redirect(url_for("admin.config"))
    return render_page("admin/config.html", {}, status=status, errors=errors,
                       **split_items(items))


@bp.get("/plugins")
@role_required("admin")
def plugins() -> ResponseReturnValue:
    """Loaded plugins by kind with their config fields, and those that failed to load."""
    return render_page("admin/plugins.html", {},
                       entries=plugin_catalog.list_plugins(actor()),
                       load_errors=plugin_catalog.load_errors(actor(), ip=client_ip()))


GLOBAL_STATES = {"risk-active": "active", "risk-reducing": "reducing",
                 "risk-halted": "halted"}
GLOBAL_STATE_DONE = {
    "active": "Global risk state active: every portfolio may trade.",
    "reducing": "Global risk state REDUCING: only closing orders and cancels are sent.",
    "halted": "Global risk state HALTED: no order is sent.",
}


@bp.get("/errors/<int:error_id>")
@role_required("admin")
def error_detail(error_id: int) -> ResponseReturnValue:
    """Everything recorded of one failure (users see only its message and id)."""
    row = error_display.error_details(actor(), error_id)
    if row is None:
        abort(404)
    return render_page("admin/error.html", {}, row=row,
                       public=error_display.error_view(row))


@bp.post("/plugins/reload")
@role_required("admin")
def reload_plugins() -> ResponseReturnValue:
    """Re-discover the plugins now, then show the plugins page again."""
    result = plugin_catalog.reload_plugins(actor(), ip=client_ip())
    failed = len(result["errors"])
    flash(f"Plugins reloaded: {len(result['items'])} loaded, {failed} failed.",
          "warning" if failed else "success")
    return hx_redirect(url_for("admin.plugins"))


@bp.get("/loop")
@role_required("admin")
def loop() -> ResponseReturnValue:
    """Loop status with pause/resume, global kill switch and "tick now"."""
    return render_page("admin/loop.html", {"loop-controls": "partials/_loop_controls.html"},
                       status=200, loop=loop_control.get_status(actor()), report=None,
                       risk_change=risk_controls.last_global_change())


@bp.post("/loop/<action>")
@role_required("admin")
def loop_action(action: str) -> ResponseReturnValue:
    """Pause, resume, risk state, kill switch on/off or tick now; answers with the card."""
    who, ip = actor(), client_ip()
    report = None
    if action == "pause":
        loop_control.pause(who, ip=ip)
        flash("Loop paused: ticks are skipped until you resume it.", "warning")
    elif action == "resume":
        loop_control.resume(who, ip=ip)
        flash("Loop resumed.", "success")
    elif action in ("kill-on", "kill-off"):
        loop_control.set_global_kill_switch(who, action == "kill-on", ip=ip)
        flash("Global kill switch ON: no order is sent." if action == "kill-on"
              else "Global kill switch off.", "warning" if action == "kill-on" else "success")
    elif action in GLOBAL_STATES:
        loop_control.set_global_risk_state(who, GLOBAL_STATES[action],
                                           submitted_reason(), ip=ip)
        flash(GLOBAL_STATE_DONE[GLOBAL_STATES[action]],
              "success" if action == "risk-active" else "warning")
    elif action == "tick":
        report = loop_control.tick_now(who, ip=ip)
        flash(f"Tick done in {report['duration_seconds']:.2f} s: "
              f"{len(report['portfolios_run'])} portfolio(s), {report['assets_run']} "
              f"asset(s), {report['errors']} error(s).", "info")
    else:
        return redirect(url_for("admin.loop"))
    if is_htmx():
        return with_trigger(render_partial(
            "partials/_loop_controls.html", poll_url=url_for("admin.loop"),
            loop=loop_control.get_status(who), report=report,
            risk_change=risk_controls.last_global_change()))
    return hx_redirect(url_for("admin.loop"))
