"""Health check for load balancers and the system tests."""

from __future__ import annotations

from flask import Response, jsonify

from lts.blueprints.health import bp
from lts.security.authz import public
from lts.services.schema import database_reachable, migration_status


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Answer 200 when the database answers and is at the migration head, else 503."""
    from lts.version import __version__

    body: dict[str, object] = {"version": __version__}
    if not database_reachable():
        body.update(status="error", database="unreachable")
        return jsonify(body), 503
    status = migration_status()
    body.update(
        database="ok",
        migration={"current": status.current, "head": status.head,
                   "up_to_date": status.up_to_date},
        status="ok" if status.up_to_date else "error",
    )
    return jsonify(body), 200 if status.up_to_date else 503
