"""The readiness checks: each returns a JSON-able dict with ``ok`` and what it saw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app

from lts.extensions import db
from lts.services.schema import database_reachable, migration_status
from lts.trading.lease import current_holder

REDIS_TIMEOUT_SECONDS = 1.0
BROKER_TIMEOUT_SECONDS = 1.0


def check_database() -> dict[str, Any]:
    """``SELECT 1`` answers."""
    return {"ok": database_reachable()}


def check_migrations() -> dict[str, Any]:
    """The database is at the migrations folder's head revision."""
    status = migration_status()
    return {"ok": status.up_to_date, "current": status.current, "head": status.head}


def check_scheduler(now: datetime | None = None) -> dict[str, Any]:
    """Some process holds a live scheduler lease (lts.trading.lease).

    Required when this process runs the loop (a server with ``loop_enabled``): then a
    missing leader means no tick runs. A process without the loop (web-only workers while
    ``flask lts loop`` runs elsewhere) reports the leader without failing on it.
    """
    from lts.trading.loop import EXTENSION_KEY as LOOP_KEY

    required = LOOP_KEY in current_app.extensions
    try:
        found = current_holder(db.session(), now or datetime.now(UTC))
    finally:
        db.session.remove()
    if found is None:
        return {"ok": not required, "required": required, "leader": None}
    holder, expires = found
    return {"ok": True, "required": required, "leader": holder,
            "expires_at": expires.isoformat()}


def check_redis() -> dict[str, Any] | None:
    """Redis answers PING (None when no ``redis_url`` is configured)."""
    url = current_app.config["LTS"].get("redis_url")
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        return {"ok": bool(client.ping())}
    except redis.RedisError as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    finally:
        client.close()


def check_broker() -> dict[str, Any] | None:
    """The Celery broker accepts a connection (None when no ``celery_broker_url`` is set).

    A short-timeout connection through kombu (Celery's own transport layer): one try, no
    retry loop, so a dead broker costs the probe about a second, never Celery's default
    minutes of reconnecting. The URL is never echoed (it may carry a password).
    """
    url = current_app.config["LTS"].get("celery_broker_url")
    if not url:
        return None
    try:
        from kombu import Connection
    except ImportError:  # pragma: no cover - depends on the installed extras
        return {"ok": False, "error": "kombu not installed (pip install lts[workers])"}
    options: dict[str, Any] = {}
    if url.startswith(("redis://", "rediss://")):
        options = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
                   "socket_timeout": BROKER_TIMEOUT_SECONDS}
    connection = Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,
                            transport_options=options)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                     timeout=BROKER_TIMEOUT_SECONDS)
        return {"ok": True, "transport": connection.transport_cls}
    except Exception as exc:  # any failure to connect means "not ready"
        return {"ok": False, "error": exc.__class__.__name__}
    finally:
        connection.release()
