"""The trader's pages of issue 17: performance, closed trades, CSV exports, flatten now,
the admin log viewer and display preferences, through the real app and client."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import AuditLog, Order, Position
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from
from tests.trade_factories import gen_trade

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def desk(db):
    """A trader with two closed trades and one open position, a stranger, an admin."""
    trader = gen_user("tess")
    portfolio = gen_portfolio(trader, "=Desk")  # a formula-looking name, for the CSV
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=5_000.0)
    gen_trade(asset, opened=T0, closed=T0 + timedelta(hours=3), entry=1.10, exit=1.12,
              quantity=1000, fees=0.5, reason="target")
    gen_trade(asset, opened=T0 + timedelta(days=1), closed=T0 + timedelta(days=1, hours=1),
              entry=1.12, exit=1.11, quantity=1000, side="short", fees=0.5, reason="stop")
    opening = Order(asset_id=asset.id, side="buy", quantity=500, status="filled",
                    filled_quantity=500, fill_price=1.11, client_order_id="open-1")
    database.session.add(opening)
    database.session.flush()
    database.session.add(Position(asset_id=asset.id, order_id=opening.id, side="long",
                                  quantity=500, entry_price=1.11, status="open"))
    database.session.commit()
    other = gen_user("otto")
    theirs = gen_trade(gen_asset(gen_portfolio(other, "Theirs"), "XAU_USD"), opened=T0,
                       closed=T0 + timedelta(hours=1), entry=100, exit=90, reason="manual")
    return {"trader": trader, "portfolio": portfolio, "asset": asset, "other": other,
            "theirs": theirs, "admin": gen_user("root", role="admin")}


def test_performance_page_shows_the_services_figures(client, desk, login_as):
    login_as(desk["trader"])
    html = client.get(f"/performance?portfolio_id={desk['portfolio'].id}").get_data(True)
    assert 'data-figure="trades">2<' in html
    assert 'data-figure="win_rate">100.0 %<' in html
    # +20 - 0.5 and -10 - 0.5 (short from 1.12 to 1.11 earns 10): both winners here
    assert 'data-figure="total_pnl">+29.00<' in html
    assert 'id="performance-heatmap"' in html and 'data-chart-of="cumulative-profit"' in html
    asset_html = client.get(f"/performance?asset_id={desk['asset'].id}").get_data(True)
    assert "EUR_USD (=Desk)" in asset_html


def test_performance_of_someone_elses_portfolio_is_not_found(client, desk, login_as):
    login_as(desk["trader"])
    theirs = desk["theirs"].asset.portfolio_id
    assert client.get(f"/performance?portfolio_id={theirs}").status_code == 404


def test_trades_page_filters_by_reason_and_hides_other_users(client, desk, login_as):
    login_as(desk["trader"])
    html = client.get("/trades").get_data(True)
    assert html.count("data-trade-id=") == 2 and "XAU_USD" not in html.split('id="trades"')[1]
    stops = client.get("/trades?reason=stop").get_data(True)
    assert stops.count("data-trade-id=") == 1 and ">stop<" in stops
    bad = client.get("/trades?reason=lucky&date_from=yesterday").get_data(True)
    assert "Filter ignored" in bad and "reason: must be one of" in bad
    assert "date_from: must be a date" in bad


def _csv(response) -> list[dict[str, str]]:
    """The rows of a CSV answer."""
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_trades_export_equals_the_table_and_defuses_formulas(client, desk, login_as):
    login_as(desk["trader"])
    response = client.get("/export/trades.csv?side=short")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert len(rows) == 1
    row = rows[0]
    assert row["portfolio"] == "'=Desk"
    assert (row["side"], row["exit_reason"]) == ("short", "stop")
    assert float(row["pnl"]) == pytest.approx(9.5)
    assert float(row["duration_seconds"]) == 3600
    assert row["exit_time"] == (T0 + timedelta(days=1, hours=1)).isoformat()


def test_orders_and_positions_exports_follow_the_filters(client, desk, login_as):
    login_as(desk["trader"])
    orders = _csv(client.get(f"/export/orders.csv?portfolio_id={desk['portfolio'].id}"))
    assert len(orders) == 5  # two per closed trade, one opening the open position
    positions = _csv(client.get("/export/positions.csv?status=open"))
    assert [p["status"] for p in positions] == ["open"]
    refused = client.get("/export/positions.csv?status=maybe")
    assert refused.status_code == 422 and b"status must be one of" in refused.data
    assert client.get("/export/secrets.csv").status_code == 422


@pytest.mark.parametrize("kind", ["trades", "orders", "positions"])
def test_exports_hold_only_the_callers_rows(client, desk, login_as, kind):
    login_as(desk["other"])
    rows = _csv(client.get(f"/export/{kind}.csv"))
    assert rows and {row["portfolio"] for row in rows} == {"Theirs"}
    foreign = client.get(f"/export/{kind}.csv?portfolio_id={desk['portfolio'].id}")
    assert foreign.status_code == 404 or _csv(foreign) == []


def test_flatten_closes_every_open_position_and_is_audited(client, desk, login_as):
    login_as(desk["trader"])
    html = client.get(f"/portfolios/{desk['portfolio'].id}").get_data(True)
    assert "Flatten now" in html
    response = client.post(f"/portfolios/{desk['portfolio'].id}/flatten",
                           data={"csrf_token": csrf_from(html)},
                           headers={"HX-Request": "true",
                                    "HX-Current-URL": "http://localhost/positions"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "http://localhost/positions"
    database.session.expire_all()
    closes = database.session.scalars(select(Order).where(
        Order.source == "manual", Order.asset_id == desk["asset"].id)).all()
    assert len(closes) == 1 and closes[0].side == "sell" and closes[0].quantity == 500
    audit = database.session.scalars(
        select(AuditLog).where(AuditLog.action == "portfolio.flatten")).one()
    assert audit.outcome == "ok" and audit.user_id == desk["trader"].id


def test_flatten_of_someone_elses_portfolio_is_not_found(client, desk, login_as):
    login_as(desk["other"])
    html = client.get("/trades").get_data(True)
    response = client.post(f"/portfolios/{desk['portfolio'].id}/flatten",
                           data={"csrf_token": csrf_from(html)})
    assert response.status_code == 404


@pytest.fixture
def app_overrides(tmp_path):
    """Every test here logs JSON lines to its own file."""
    return {"log_file": str(tmp_path / "lts.log")}


def test_log_viewer_filters_by_level_and_request_id(app, client, desk, login_as, tmp_path):
    log = logging.getLogger("lts.test")
    log.info("quiet line")
    log.warning("check this", extra={"request_id": "req-42"})
    log.error("broken", extra={"request_id": "req-7"})
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = [json.loads(x) for x in (tmp_path / "lts.log").read_text().splitlines()]
    assert {x["message"] for x in lines} >= {"quiet line", "check this", "broken"}
    login_as(desk["admin"])
    warnings = client.get("/admin/logs?level=warning").get_data(True)
    assert "check this" in warnings and "broken" in warnings and "quiet line" not in warnings
    one = client.get("/admin/logs?request_id=req-42").get_data(True)
    assert "check this" in one and "broken" not in one
    bad = client.get("/admin/logs?level=loud").get_data(True)
    assert "level: must be one of" in bad


def test_log_viewer_is_for_admins_only(client, desk, login_as):
    login_as(desk["trader"])
    assert client.get("/admin/logs").status_code == 403


def test_preferences_show_times_in_the_chosen_zone_with_utc_in_the_tooltip(
        client, desk, login_as):
    login_as(desk["trader"])
    profile = client.get("/profile").get_data(True)
    assert 'id="preferences-form"' in profile
    refused = client.post("/profile/preferences", follow_redirects=True, data={
        "csrf_token": csrf_from(profile), "time_zone": "Mars/Olympus", "number_format": "xx"})
    text = refused.get_data(True)
    assert "Time zone must be an IANA time zone" in text and "Number format must be one of" in text
    client.post("/profile/preferences", data={"csrf_token": csrf_from(profile),
                                              "time_zone": "Asia/Tokyo", "number_format": "de"})
    html = client.get("/trades").get_data(True)
    # the target's exit, 12:00 UTC, is 21:00 in Tokyo; the tooltip keeps UTC
    assert '<time datetime="2026-11-02T12:00:00+00:00" title="2026-11-02 12:00:00 UTC">' \
           '2026-11-02 21:00:00 JST</time>' in html
    assert "+19,50" in html  # German number format
    orders = client.get("/orders").get_data(True)
    assert "Created (JST)" in orders and "(UTC)" not in orders
    audit = database.session.scalars(
        select(AuditLog).where(AuditLog.action == "user.preferences")).one()
    assert audit.details["after"] == {"time_zone": "Asia/Tokyo", "number_format": "de"}


def test_orders_and_positions_pages_link_the_export_of_their_filters(client, desk, login_as):
    login_as(desk["trader"])
    html = client.get("/orders?status=filled&side=sell",
                      headers={"HX-Request": "true", "HX-Target": "orders-table"}).get_data(True)
    link = html.split('id="export-orders" href="')[1].split('"')[0].replace("&amp;", "&")
    rows = _csv(client.get(link))
    assert {(r["status"], r["side"]) for r in rows} == {("filled", "sell")} and len(rows) == 2
    html = client.get("/positions?status=open").get_data(True)
    link = html.split('id="export-positions" href="')[1].split('"')[0].replace("&amp;", "&")
    assert [r["status"] for r in _csv(client.get(link))] == ["open"]
