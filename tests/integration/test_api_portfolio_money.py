"""Portfolio GETs show equity and P&L as stored, and lists sort (issue 18, item 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lts.extensions import db as database
from lts.models import Order, Position, Statistic
from tests.factories import gen_asset, gen_portfolio

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _position(asset, order, *, status, realized, unrealized):
    database.session.add(Position(asset_id=asset.id, order_id=order.id, side="long",
                                  quantity=1.0, entry_price=1.0, status=status,
                                  realized_pnl=realized, unrealized_pnl=unrealized))


def test_portfolio_gets_carry_equity_and_pnl_from_what_is_stored(client, alice, as_alice):
    portfolio = gen_portfolio(alice, "money")
    empty = gen_portfolio(alice, "empty")
    asset = gen_asset(portfolio, "EUR_USD")
    order = Order(asset_id=asset.id, side="buy", quantity=1.0, client_order_id="m-1",
                  status="filled")
    database.session.add(order)
    database.session.flush()
    _position(asset, order, status="closed", realized=12.5, unrealized=99.0)  # not open
    _position(asset, order, status="open", realized=0.5, unrealized=-3.25)
    for minutes, value in ((0, 10_000.0), (5, 10_009.75), (2, 9_000.0)):
        database.session.add(Statistic(key=f"portfolio.{portfolio.id}.equity", value=value,
                                       portfolio_id=portfolio.id,
                                       timestamp=NOW + timedelta(minutes=minutes)))
    database.session.commit()
    one = client.get(f"/api/v1/portfolios/{portfolio.id}", headers=as_alice)
    body = one.get_json()
    assert (body["equity"], body["realized_pnl"], body["unrealized_pnl"]) == (10_009.75, 13.0,
                                                                             -3.25)
    listed = client.get("/api/v1/portfolios", headers=as_alice).get_json()["items"]
    by_id = {item["id"]: item for item in listed}
    assert by_id[portfolio.id]["equity"] == 10_009.75
    assert (by_id[empty.id]["equity"], by_id[empty.id]["realized_pnl"]) == (None, 0.0)
    # The ETag is the row's: If-Match with it still edits the portfolio.
    patched = client.patch(f"/api/v1/portfolios/{portfolio.id}",
                           headers={**as_alice, "If-Match": one.headers["ETag"]},
                           json={"description": "x"})
    assert patched.status_code == 200


def test_portfolios_sort_by_name_or_capital_both_ways(client, alice, as_alice):
    for name, capital in (("b", 300.0), ("c", 100.0), ("a", 200.0)):
        gen_portfolio(alice, name, total_capital=capital)
    names = [p["name"] for p in client.get("/api/v1/portfolios?sort=name",
                                           headers=as_alice).get_json()["items"]]
    assert names == ["a", "b", "c"]
    richest = client.get("/api/v1/portfolios?sort=total_capital&direction=desc",
                         headers=as_alice).get_json()
    assert [p["name"] for p in richest["items"]] == ["b", "a", "c"]
    assert "sort=total_capital" in richest["links"]["first"]
    bad = client.get("/api/v1/portfolios?sort=owner", headers=as_alice)
    assert bad.status_code == 422 and "sort" in bad.get_json()["error"]["fields"]
