"""Order, position, statistics, loop and config services: scope, filters, rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lts.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lts.list_limits import MAX_PER_PAGE, MAX_POINTS
from lts.models import AuditLog, Order, Portfolio, Position, Statistic
from lts.services import (
    config_admin,
    listing,
    loop_control,
    orders,
    plugin_catalog,
    positions,
    statistics,
)
from lts.services.pagination import clamp
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(db):
    return {"alice": gen_user("alice"), "bob": gen_user("bob"),
            "root": gen_user("root", role="admin")}


def _orders(db, asset, n, status="filled"):
    for i in range(n):
        db.session.add(Order(asset_id=asset.id, side="buy", quantity=1, status=status,
                             client_order_id=f"c-{asset.id}-{status}-{i}",
                             created_at=NOW + timedelta(minutes=i)))
    db.session.commit()


def test_clamp_bounds_page_and_size():
    assert clamp(0, 0) == (1, 50)
    assert clamp(3, 10_000) == (3, MAX_PER_PAGE)
    assert clamp(None, None) == (1, 50)


def test_cached_list_statements_carry_no_one_users_values(db, people):
    """The statements of a list shape are shared: each user still sees only their own."""
    a = gen_asset(gen_portfolio(people["alice"]))
    b = gen_asset(gen_portfolio(people["bob"]))
    _orders(db, a, 2)
    _orders(db, b, 3)
    for rows in (False, True):
        alice = orders.list_orders(people["alice"], status="filled", rows=rows)
        hits = listing.list_query.cache_info().hits
        bob = orders.list_orders(people["bob"], status="filled", rows=rows)
        assert listing.list_query.cache_info().hits == hits + 1  # the same statements
        ids = [o["id"] if rows else o.id for o in bob.items]
        assert bob.total == 3 and len(ids) == 3
        assert {o["asset_id"] if rows else o.asset_id for o in bob.items} == {b.id}
        assert alice.total == 2
    query = listing.list_query(listing.ListShape("order", "one", ("status",), "created_at",
                                                "desc"), True)
    for statement in (query.count, query.page):
        values = statement.compile().params
        assert set(values) <= {"owner_id", "status", "page_limit", "page_offset"}
        assert all(value is None for value in values.values()), values


def test_orders_are_scoped_filtered_and_paginated_newest_first(db, people):
    a = gen_asset(gen_portfolio(people["alice"]))
    b = gen_asset(gen_portfolio(people["bob"]))
    _orders(db, a, 5)
    _orders(db, a, 2, status="rejected")
    _orders(db, b, 3)
    page = orders.list_orders(people["alice"], per_page=3)
    assert page.total == 7 and page.pages == 3 and len(page.items) == 3
    assert [o.created_at for o in page.items] == sorted(
        [o.created_at for o in page.items], reverse=True)
    assert orders.list_orders(people["alice"], status="rejected").total == 2
    assert orders.list_orders(people["alice"], asset_id=b.id).total == 0
    assert orders.list_orders(people["root"]).total == 10
    assert orders.list_orders(people["alice"], since=NOW + timedelta(minutes=3)).total == 2
    assert orders.list_orders(people["alice"], until=NOW + timedelta(minutes=1)).total == 2
    assert orders.list_orders(people["alice"], page=99).items == []
    with pytest.raises(ValidationFailed):
        orders.list_orders(people["alice"], status="bogus")
    with pytest.raises(ValidationFailed):
        orders.list_orders(people["alice"], since=NOW, until=NOW - timedelta(1))
    other = db.session.scalars(select(Order).where(Order.asset_id == b.id)).first()
    with pytest.raises(NotFound):
        orders.get_order(people["alice"], other.id)


def test_manual_order_goes_through_the_engine_and_is_audited(db, people):
    asset = gen_asset(gen_portfolio(people["alice"]), "EUR_USD", allocated_capital=10_000.0)
    result = orders.place_manual_order(people["alice"], asset.id, side="buy", quantity=10,
                                       now=NOW)
    assert result.order is not None and result.status == "filled"
    assert result.order.source == "manual" and result.client_order_id.startswith(
        f"lts-{asset.id}-")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "order.manual"))
    with pytest.raises(ValidationFailed) as caught:
        orders.place_manual_order(people["alice"], asset.id, side="hold", order_type="limit")
    assert set(caught.value.fields) == {"side", "price"}
    with pytest.raises(NotFound):
        orders.place_manual_order(people["bob"], asset.id, side="buy", quantity=1, now=NOW)
    position = db.session.scalars(select(Position)).one()
    with pytest.raises(NotFound):
        positions.close_position(people["bob"], position.id, now=NOW)
    assert positions.list_positions(people["alice"], status="open").total == 1
    assert positions.list_positions(people["bob"]).total == 0
    closed = positions.close_position(people["alice"], position.id, now=NOW + timedelta(1))
    assert closed.order is not None
    assert db.session.get(Position, position.id).status == "closed"
    with pytest.raises(Conflict):  # a state conflict (409), not bad input
        positions.close_position(people["alice"], position.id, now=NOW + timedelta(2))


def test_manual_order_on_inactive_asset_is_a_conflict(db, people):
    asset = gen_asset(gen_portfolio(people["alice"]), is_active=False)
    with pytest.raises(Conflict):
        orders.place_manual_order(people["alice"], asset.id, side="buy", quantity=1, now=NOW)


def test_statistics_are_scoped_and_downsampled(db, people):
    p = gen_portfolio(people["alice"])
    key = f"portfolio.{p.id}.equity"
    db.session.add_all(Statistic(key=key, value=float(i), timestamp=NOW + timedelta(minutes=i),
                                 portfolio_id=p.id) for i in range(3000))
    db.session.add(Statistic(key="loop.tick_seconds", value=1.0, timestamp=NOW))
    db.session.commit()
    series = statistics.get_series(people["alice"], key)
    assert 0 < len(series.points) <= MAX_POINTS and series.bucket_seconds >= 180
    assert series.raw_count == 3000
    assert series.points == sorted(series.points)
    raw = statistics.get_series(people["alice"], key, until=NOW + timedelta(minutes=10))
    assert [v for _, v in raw.points] == [float(i) for i in range(10)]
    hourly = statistics.get_series(people["alice"], key, bucket="1h")
    assert hourly.bucket_seconds == 3600 and hourly.points[0][1] == pytest.approx(29.5)
    with pytest.raises(NotFound):
        statistics.get_series(people["bob"], key)
    with pytest.raises(Forbidden):
        statistics.get_series(people["bob"], "loop.tick_seconds")
    assert statistics.get_series(people["root"], "loop.tick_seconds").points[0][1] == 1.0
    with pytest.raises(ValidationFailed):
        statistics.get_series(people["alice"], key, bucket="fortnight")
    assert statistics.list_keys(people["alice"]) == [key]
    assert statistics.list_keys(people["bob"]) == []


def test_loop_control_is_admin_only_and_audited(app, db, people):
    with pytest.raises(Forbidden):
        loop_control.pause(people["alice"])
    assert loop_control.pause(people["root"]).paused is True
    assert loop_control.resume(people["root"]).paused is False
    assert loop_control.get_status(people["alice"]).recent_errors == ()
    gen_portfolio(people["alice"], portfolio_latency=1)
    summary = loop_control.tick_now(people["root"], now=NOW)
    assert "duration_seconds" in summary
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"loop.pause", "loop.resume", "loop.tick_now", "access.denied"} <= actions
    with pytest.raises(Forbidden):
        loop_control.tick_now(people["alice"])
    assert loop_control.set_global_kill_switch(people["root"], True).kill_switch is True


def test_config_admin_validates_runtime_keys_only(db, people):
    with pytest.raises(Forbidden):
        config_admin.list_config(people["alice"])
    items = {i.key: i for i in config_admin.list_config(people["root"])}
    assert items["secret_key"].value in ("", "********")
    item = config_admin.set_config(people["root"], "global_latency", 2)
    assert item.value == 2 and item.source == "table"
    with pytest.raises(ValidationFailed) as caught:
        config_admin.set_config(people["root"], "global_latency", -5)
    assert "value" in caught.value.fields
    with pytest.raises(ValidationFailed):
        config_admin.set_config(people["root"], "database_url", "sqlite://")
    with pytest.raises(NotFound):
        config_admin.get_config(people["root"], "nope")


def test_plugin_catalog_lists_schemas_and_errors_for_admins(db, people):
    entries = plugin_catalog.list_plugins(people["alice"])
    kinds = {e.kind for e in entries}
    assert {"strategy", "broker", "pipeline", "portfolio"} <= kinds
    assert all(e.config_schema.get("type") == "object" for e in entries)
    with pytest.raises(Forbidden):
        plugin_catalog.load_errors(people["alice"])
    assert isinstance(plugin_catalog.load_errors(people["root"]), list)
    assert db.session.scalar(select(Portfolio.id)) is None


def test_lists_sort_by_a_column_and_filter_by_side(db, people):
    a = gen_asset(gen_portfolio(people["alice"]), "AAA")
    b = gen_asset(gen_portfolio(people["alice"]), "BBB")
    _orders(db, b, 2)
    _orders(db, a, 2, status="rejected")
    database_order = orders.list_orders(people["alice"], sort="symbol", direction="asc")
    assert [o.asset_id for o in database_order.items] == [a.id, a.id, b.id, b.id]
    ids = [o.id for o in orders.list_orders(people["alice"], sort="status").items]
    assert ids[:2] == sorted(ids[:2], reverse=True)
    assert orders.list_orders(people["alice"], side="sell").total == 0
    with pytest.raises(ValidationFailed) as caught:
        orders.list_orders(people["alice"], sort="password", direction="up")
    assert set(caught.value.fields) == {"sort", "direction"}
    with pytest.raises(ValidationFailed):
        positions.list_positions(people["alice"], side="buy")
    assert positions.list_positions(people["alice"], sort="realized_pnl").total == 0


def test_run_portfolio_now_for_its_owner(app, db, people):
    portfolio = gen_portfolio(people["alice"], portfolio_latency=60)
    gen_asset(portfolio, "EUR_USD")
    portfolio.last_execution = NOW
    db.session.commit()
    stamp = portfolio.updated_at
    bobs = gen_portfolio(people["bob"], portfolio_latency=1)  # due, but not Alice's to run
    gen_asset(bobs, "GBP_USD")
    summary = loop_control.run_portfolio_now(people["alice"], portfolio.id, now=NOW)
    assert summary["portfolios_run"] == [portfolio.id] and summary["assets_run"] == 1
    assert db.session.get(Portfolio, bobs.id).last_execution is None
    assert db.session.scalar(select(Statistic).where(  # not counted as a loop tick
        Statistic.key == "loop.tick_seconds")) is None
    db.session.expire_all()
    assert db.session.get(Portfolio, portfolio.id).updated_at == stamp
    with pytest.raises(NotFound):
        loop_control.run_portfolio_now(people["bob"], portfolio.id, now=NOW)
    halted = gen_portfolio(people["alice"], risk_state="halted")
    with pytest.raises(Conflict):
        loop_control.run_portfolio_now(people["alice"], halted.id, now=NOW)
