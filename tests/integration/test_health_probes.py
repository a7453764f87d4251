"""``/healthz`` (liveness) and ``/readyz`` (readiness, each check named), request ids."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from lts.models import SchedulerLease
from lts.trading.loop import EXTENSION_KEY as LOOP_KEY
from tests.conftest import make_test_app
from tests.helpers import migration_head


def test_healthz_is_liveness_only(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert set(response.get_json()) == {"status", "version"}


def test_readyz_names_every_check_and_keeps_the_old_healthz_keys(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "scheduler"}  # no redis_url
    assert body["checks"]["scheduler"] == {"ok": True, "required": False, "leader": None}
    assert body["database"] == "ok" and body["migration"]["up_to_date"] is True


def test_readyz_fails_while_this_loop_knows_no_leader(app, client, db):
    app.extensions[LOOP_KEY] = object()  # this process runs the loop
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["scheduler"] == {
            "ok": False, "required": True, "leader": None}
        db.session.add(SchedulerLease(name="tick", holder="host:1:abc",
                                      expires_at=datetime.now(UTC) + timedelta(seconds=30)))
        db.session.commit()
        body = client.get("/readyz").get_json()
        assert body["status"] == "ok" and body["checks"]["scheduler"]["leader"] == "host:1:abc"
    finally:
        app.extensions.pop(LOOP_KEY)


def test_readyz_fails_on_a_database_behind_the_code(client, db):
    db.session.execute(text("UPDATE alembic_version SET version_num = '0010'"))
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == {
        "ok": False, "current": "0010", "head": migration_head()}


def test_readyz_fails_when_the_configured_redis_is_unreachable(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, redis_url="redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_readyz_fails_when_the_configured_celery_broker_is_unreachable(
        database_url, tmp_path, scheme):
    url = (f"amqp://guest:guest@127.0.0.1:{_closed_port()}//" if scheme == "amqp"
           else f"redis://127.0.0.1:{_closed_port()}/0")
    app = make_test_app(database_url, tmp_path, celery_broker_url=url,
                        celery_visibility_timeout=3600.0)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["broker"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["database"]["ok"] is True  # only the broker is down
    assert "guest:guest" not in response.get_data(as_text=True)  # no URL echoed


def test_readyz_passes_with_a_reachable_celery_broker(database_url, tmp_path):
    url = os.environ.get("LTS_TEST_AMQP_URL")
    if not url:
        pytest.skip("LTS_TEST_AMQP_URL is not set (e.g. amqp://guest:guest@127.0.0.1:5672//)")
    app = make_test_app(database_url, tmp_path, celery_broker_url=url,
                        celery_visibility_timeout=3600.0)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["broker"] == {"ok": True, "transport": "amqp"}
    # A refused login is "not ready" too (the broker answers, the worker could not).
    wrong = url.replace("guest:guest@", "guest:wrong-password@")
    refused = make_test_app(database_url, tmp_path / "wrong", celery_broker_url=wrong,
                            celery_visibility_timeout=3600.0).test_client().get("/readyz")
    assert refused.status_code == 503
    assert refused.get_json()["checks"]["broker"]["ok"] is False
    assert "wrong-password" not in refused.get_data(as_text=True)


def test_every_answer_carries_a_request_id_and_a_sane_one_is_honoured(client):
    assert client.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers[
        "X-Request-ID"] == "trace-42"
    made = client.get("/nope", headers={"X-Request-ID": "bad id\""}).headers["X-Request-ID"]
    assert len(made) == 32 and made != "bad id\""
    other = client.get("/login").headers["X-Request-ID"]
    assert other != made
