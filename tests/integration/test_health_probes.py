"""``/healthz`` (liveness) and ``/readyz`` (readiness, each check named), request ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_every_answer_carries_a_request_id_and_a_sane_one_is_honoured(client):
    assert client.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers[
        "X-Request-ID"] == "trace-42"
    made = client.get("/nope", headers={"X-Request-ID": "bad id\""}).headers["X-Request-ID"]
    assert len(made) == 32 and made != "bad id\""
    other = client.get("/login").headers["X-Request-ID"]
    assert other != made
