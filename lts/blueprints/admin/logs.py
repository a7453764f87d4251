"""The admin log viewer: the last lines of the application log, by level and request id."""

from __future__ import annotations

from flask import current_app, request
from flask.typing import ResponseReturnValue

from lts.blueprints.admin import bp
from lts.errors import ValidationFailed
from lts.security.authz import client_ip, role_required
from lts.services import logs_view
from lts.web.htmx import render_page
from lts.web.request import actor


@bp.get("/logs")
@role_required("admin")
def logs() -> ResponseReturnValue:
    """The newest matching lines of ``log_file`` (JSON lines), newest at the bottom."""
    log_file = current_app.config["LTS"].get("log_file")
    level = request.args.get("level", "")
    request_id = request.args.get("request_id", "")
    error = None
    try:
        tail = logs_view.read_log(actor(), log_file, level=level,
                                  request_id=request_id,
                                  limit=request.args.get("limit", type=int), ip=client_ip())
    except ValidationFailed as exc:
        error = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items()) or exc.message
        level, request_id = "", ""
        tail = logs_view.read_log(actor(), log_file, ip=client_ip())
    return render_page("admin/logs.html", {"log-lines": "admin/_log_lines.html"}, tail=tail,
                       level=level.upper(), request_id=request_id, levels=logs_view.LEVELS,
                       error=error)
