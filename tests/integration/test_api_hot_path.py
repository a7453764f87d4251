"""The API's per-request fixed cost stays low without loosening any security rule.

* the bearer token and its user are read in one query, then trusted from the worker's
  cache for ``TOKEN_CACHE_SECONDS`` (no query at all); a token revoked or a user
  deactivated in this process is refused on the very next call, one revoked by another
  process once the cache's TTL has passed, an expired one on time;
* ``last_used_at`` is written at most once per minute per token (a write per GET
  would take SQLite's write lock on every read);
* endpoints without a rate limit never touch the limiter's storage;
* list pages read as column rows give exactly what ORM objects give.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from lts.extensions import db as database
from lts.extensions import limiter
from lts.models import Order, UserSession
from lts.security.tokens import TOKEN_CACHE_SECONDS
from lts.services import orders, portfolios
from tests.factories import gen_asset, gen_portfolio, gen_user


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock}


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


class Statements:
    """Record the SQL statements the engine runs (``with Statements(engine) as seen``)."""

    def __init__(self, engine):
        self.engine, self.sql = engine, []

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.sql.append(statement.strip().split(None, 1)[0].upper() + " " + statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def of(self, kind: str, table: str = "") -> list[str]:
        return [s for s in self.sql if s.startswith(kind) and table in s]


def _row(raw_id: int) -> UserSession:
    database.session.expire_all()
    return database.session.get(UserSession, raw_id)


def _token_id() -> int:
    return database.session.scalar(select(UserSession.id).where(UserSession.kind == "api"))


def test_token_and_user_are_read_in_one_query(app, client, db, api_token):
    raw = api_token(gen_user("alice"))
    with Statements(db.engine) as seen:
        assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    selects = seen.of("SELECT")
    assert len(selects) == 1, selects
    assert "sessions" in selects[0] and "users" in selects[0]


def test_a_verified_token_is_not_read_again_within_the_cache_ttl(app, client, db, clock,
                                                               api_token):
    raw = api_token(gen_user("alice"))
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    with Statements(db.engine) as seen:
        for _ in range(3):
            answer = client.get("/api/v1/auth/me", headers=bearer(raw))
            assert answer.status_code == 200 and answer.get_json()["username"] == "alice"
    assert seen.of("SELECT", "sessions") == []
    assert "Set-Cookie" not in answer.headers  # a bearer call opens no cookie session
    clock.advance(seconds=TOKEN_CACHE_SECONDS)  # the entry lapses: the plugin is asked
    with Statements(db.engine) as seen:
        assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    assert len(seen.of("SELECT", "sessions")) == 1


def test_a_revocation_by_another_process_acts_within_the_cache_ttl(app, client, db, clock,
                                                                   api_token):
    alice = gen_user("alice")
    raw = api_token(alice)
    assert client.get("/api/v1/orders", headers=bearer(raw)).status_code == 200
    # Another worker or the CLI: the row changes in the database, not through this
    # process's ORM session, so this worker only learns of it when its entry lapses.
    # (This test shares the requests' session, where a worker gives each request a
    # fresh one: its transaction is ended first, so the write can be seen.)
    database.session.commit()
    with db.engine.begin() as connection:
        connection.execute(UserSession.__table__.update().values(revoked_at=clock.now))
    assert client.get("/api/v1/orders", headers=bearer(raw)).status_code == 200
    database.session.commit()
    clock.advance(seconds=TOKEN_CACHE_SECONDS)
    assert client.get("/api/v1/orders", headers=bearer(raw)).status_code == 401


def test_a_cached_token_is_refused_once_it_expires(app, client, db, clock, api_token):
    raw = api_token(gen_user("alice"), ttl_hours=1)
    clock.advance(seconds=3600 - 1)
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    clock.advance(seconds=1)  # within the cache's TTL, but the token's hour is over
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 401


def test_revoking_its_own_token_through_the_api_refuses_it_at_once(app, client, db,
                                                                   api_token):
    raw = api_token(gen_user("alice"))
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    answer = client.delete(f"/api/v1/auth/tokens/{_token_id()}", headers=bearer(raw))
    assert answer.status_code in (200, 204), answer.get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(app, client, db, clock, api_token):
    raw = api_token(gen_user("alice"))
    token_id = _token_id()
    issued = _row(token_id).last_used_at
    clock.advance(seconds=59)
    with Statements(db.engine) as seen:
        for _ in range(3):
            assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    assert seen.of("UPDATE", "sessions") == []
    assert _row(token_id).last_used_at == issued
    # 60 s since the last write: recorded, once, by the first call that asks the aaa
    # plugin again (a verified token is trusted for TOKEN_CACHE_SECONDS in between).
    clock.advance(seconds=1 + TOKEN_CACHE_SECONDS)
    with Statements(db.engine) as seen:
        for _ in range(3):
            assert client.get("/api/v1/auth/me", headers=bearer(raw)).status_code == 200
    assert len(seen.of("UPDATE", "sessions")) == 1
    assert _row(token_id).last_used_at == clock.now
    clock.advance(seconds=30)
    client.get("/api/v1/auth/me", headers=bearer(raw))
    assert _row(token_id).last_used_at == clock.now - timedelta(seconds=30)
    clock.advance(seconds=31)
    client.get("/api/v1/auth/me", headers=bearer(raw))
    assert _row(token_id).last_used_at == clock.now


def test_a_read_only_call_writes_nothing_between_touches(app, client, db, clock, api_token):
    alice = gen_user("alice")
    gen_asset(gen_portfolio(alice))
    raw = api_token(alice)
    with Statements(db.engine) as seen:
        for path in ("/api/v1/orders?per_page=50", "/api/v1/portfolios", "/api/v1/auth/me"):
            assert client.get(path, headers=bearer(raw)).status_code == 200
    assert [s for s in seen.sql if s.split()[0] in ("INSERT", "UPDATE", "DELETE")] == []


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/api/v1/orders", "/api/v1/portfolios"])
def test_revocation_and_deactivation_act_on_the_very_next_call(app, client, db, clock,
                                                              api_token, path):
    alice = gen_user("alice")
    raw = api_token(alice)
    other = api_token(alice, "second")
    assert client.get(path, headers=bearer(raw)).status_code == 200
    app.extensions["lts.aaa"].revoke_token(_token_id())  # the first token
    assert client.get(path, headers=bearer(raw)).status_code == 401
    assert client.get(path, headers=bearer(other)).status_code == 200
    alice.is_active = False
    database.session.commit()
    assert client.get(path, headers=bearer(other)).status_code == 401


def test_endpoints_without_limits_never_touch_the_limiter_storage(app, client, db,
                                                                  api_token, monkeypatch):
    raw = api_token(gen_user("alice"))
    calls = []
    with app.app_context():
        strategy = limiter.limiter
    for name in ("hit", "test", "get_window_stats"):
        original = getattr(strategy, name)
        monkeypatch.setattr(strategy, name,
                            lambda *a, _n=name, _o=original, **k: calls.append(_n) or _o(*a, **k))
    for path in ("/api/v1/orders?per_page=50", "/api/v1/portfolios", "/api/v1/auth/me"):
        assert client.get(path, headers=bearer(raw)).status_code == 200
    assert calls == []
    # The login limit itself still counts (the wrapper above is live).
    client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    assert calls


def test_list_pages_as_rows_equal_the_orm_objects(app, db):
    alice = gen_user("alice")
    assets = [gen_asset(gen_portfolio(alice)) for _ in range(3)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(25):
        database.session.add(Order(
            asset_id=assets[i % 3].id, side="buy" if i % 2 else "sell", quantity=1 + i,
            status="filled", client_order_id=f"rows-{i}", price=None if i % 3 else 1.5,
            broker_response={"n": i} if i % 4 == 0 else None,
            created_at=start + timedelta(minutes=i // 2)))
    database.session.commit()
    for kwargs in ({}, {"sort": "symbol", "direction": "asc"}, {"sort": "quantity"},
                   {"page": 3, "per_page": 7}, {"asset_id": assets[1].id},
                   {"page": 99}):
        objects = orders.list_orders(alice, **kwargs)
        rows = orders.list_orders(alice, rows=True, **kwargs)
        assert (rows.total, rows.page, rows.per_page) == (objects.total, objects.page,
                                                          objects.per_page)
        columns = Order.__table__.columns.keys()
        assert [dict(r) for r in rows.items] == [
            {c: getattr(o, c) for c in columns} for o in objects.items]
    objects = portfolios.list_portfolios(alice, per_page=2, page=2)
    rows = portfolios.list_portfolios(alice, per_page=2, page=2, rows=True)
    assert [r["id"] for r in rows.items] == [p.id for p in objects.items]
    assert rows.items[0]["created_at"].tzinfo is not None
