"""Deactivating an asset that holds a position (issue 10 item 2, its interfaces).

The asset is reduce-only until flat: the pages say so, and "close and deactivate"
closes at market through the path of ``POST /positions/<id>/close`` first.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Asset, AuditLog, Position
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


def _holding(client, headers, alice):
    """A portfolio with one asset holding an open long position (a filled manual buy)."""
    portfolio = gen_portfolio(alice, "Carry")
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=10_000.0)
    placed = client.post(f"/api/v1/assets/{asset.id}/orders", headers=headers,
                         json={"side": "buy", "quantity": 10}).get_json()
    assert placed["status"] == "filled", placed
    return portfolio, asset


def _open_positions(asset_id: int) -> list[Position]:
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    return list(database.session.scalars(select(Position).where(
        Position.asset_id == asset_id, Position.status == "open")))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_close_and_deactivate_closes_at_market_then_deactivates(client, alice, as_alice):
    _portfolio, asset = _holding(client, as_alice, alice)
    response = client.post(f"/api/v1/assets/{asset.id}/close-and-deactivate",
                           headers=as_alice)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["flat"] is True and body["still_open"] == 0
    assert body["asset"]["is_active"] is False
    (close,) = body["closes"]
    assert close["status"] == "filled" and close["order"]["reason"] is not None
    assert _open_positions(asset.id) == []
    actions = list(database.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions.index("position.close") < actions.index("asset.update") \
        < actions.index("asset.close_and_deactivate")


def test_a_refused_close_still_deactivates_and_leaves_it_reduce_only(client, alice,
                                                                      as_alice):
    portfolio, asset = _holding(client, as_alice, alice)
    client.put(f"/api/v1/portfolios/{portfolio.id}/risk-state", headers=as_alice,
               json={"state": "halted"})
    body = client.post(f"/api/v1/assets/{asset.id}/close-and-deactivate",
                       headers=as_alice).get_json()
    assert body["flat"] is False and body["still_open"] == 1
    assert body["closes"][0]["rejected_by"] == "risk_state"
    assert body["asset"]["is_active"] is False
    assert len(_open_positions(asset.id)) == 1


def test_an_asset_without_positions_is_just_deactivated(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    body = client.post(f"/api/v1/assets/{asset.id}/close-and-deactivate",
                       headers=as_alice).get_json()
    assert body["closes"] == [] and body["flat"] is True
    assert database.session.get(Asset, asset.id).is_active is False


def test_close_and_deactivate_of_someone_elses_asset_is_404(client, alice, auth_headers):
    asset = gen_asset(gen_portfolio(alice))
    bob = auth_headers(gen_user("bob"))
    response = client.post(f"/api/v1/assets/{asset.id}/close-and-deactivate", headers=bob)
    assert response.status_code == 404
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Asset, asset.id).is_active is True


def test_pages_warn_and_offer_close_and_deactivate(client, alice, as_alice, login_as):
    portfolio, asset = _holding(client, as_alice, alice)
    login_as(alice)
    page = client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True)
    assert f'hx-post="/assets/{asset.id}/close-and-deactivate"' in page
    assert "stays reduce-only" in page  # the Deactivate button's confirmation warns
    asset_page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert 'id="close-and-deactivate"' in asset_page
    # Deactivated anyway: both pages say it is reduce-only until flat.
    token = csrf_from(page)
    card = client.post(f"/assets/{asset.id}/toggle", data={"active": "0"}, headers={
        "HX-Request": "true", "HX-Target": "portfolio-assets", "X-CSRFToken": token,
    }).get_data(as_text=True)
    assert f'id="reduce-only-{asset.id}"' in card
    assert "reduce-only</span> closing the open position" in card
    asset_page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "Reduce-only: closing the open position." in asset_page
    assert 'id="reduce-only"' in asset_page
    # Close from the page: flat, and the warning is gone.
    card = client.post(f"/assets/{asset.id}/close-and-deactivate", headers={
        "HX-Request": "true", "HX-Target": "portfolio-assets", "X-CSRFToken": token,
    }).get_data(as_text=True)
    assert 'id="portfolio-assets"' in card and f'id="reduce-only-{asset.id}"' not in card
    assert "position(s) closed and asset deactivated" in card
    assert _open_positions(asset.id) == []


def test_close_from_the_asset_page_reloads_it(client, alice, as_alice, login_as):
    _portfolio, asset = _holding(client, as_alice, alice)
    login_as(alice)
    token = csrf_from(client.get(f"/assets/{asset.id}").get_data(as_text=True))
    response = client.post(f"/assets/{asset.id}/close-and-deactivate", headers={
        "HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/assets/{asset.id}"
    assert _open_positions(asset.id) == []
