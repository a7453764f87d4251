"""Liveness and readiness probes for load balancers, orchestrators and the system tests."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from lts.blueprints.health import bp
from lts.blueprints.health.checks import (
    check_broker,
    check_database,
    check_migrations,
    check_redis,
    check_scheduler,
)
from lts.security.authz import public


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Liveness: 200 while this process serves requests. Touches no database."""
    from lts.version import __version__

    return jsonify({"status": "ok", "version": __version__}), 200


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when every check passes, else 503; the body names each check.

    Checks: database reachable, migrations at head, a scheduler leader known (required
    when this process runs the loop), Redis reachable when ``redis_url`` is set, the
    Celery broker reachable when ``celery_broker_url`` is set. The
    ``database`` and ``migration`` keys are the body the old ``/healthz`` answered.
    """
    from lts.version import __version__

    checks: dict[str, Any] = {"database": check_database()}
    if checks["database"]["ok"]:
        checks["migrations"] = check_migrations()
        checks["scheduler"] = check_scheduler()
    else:
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
        checks["scheduler"] = {"ok": False, "error": "database unreachable"}
    redis_check = check_redis()
    if redis_check is not None:
        checks["redis"] = redis_check
    broker_check = check_broker()
    if broker_check is not None:
        checks["broker"] = broker_check
    ready = all(check["ok"] for check in checks.values())
    migrations = checks["migrations"]
    body: dict[str, Any] = {
        "status": "ok" if ready else "error",
        "version": __version__,
        "checks": checks,
        "database": "ok" if checks["database"]["ok"] else "unreachable",
    }
    if "head" in migrations:
        body["migration"] = {"current": migrations["current"], "head": migrations["head"],
                             "up_to_date": migrations["ok"]}
    return jsonify(body), 200 if ready else 503
