"""One ServiceError handler, three answers: JSON for the API and JSON clients, a toast
for htmx, flash-and-back (a form post) or the error page (a GET) for a browser.

The rule broken here is real: a portfolio with orders cannot be deleted
(:func:`lts.services.portfolios.delete_portfolio` raises ``Conflict``, 409). Views no
longer catch it; :mod:`lts.web.errors` answers it.
"""

from __future__ import annotations

import pytest

from lts.errors import Conflict, RateLimited
from lts.extensions import db as database
from lts.models import Order, Portfolio
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from

MESSAGE_PART = "has orders and cannot be deleted"


@pytest.fixture
def world(db):
    """A user's portfolio holding one order: deleting it breaks a rule (409)."""
    user = gen_user("ursula")
    portfolio = gen_portfolio(user, "FX majors")
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=5000.0)
    database.session.add(Order(asset_id=asset.id, side="buy", quantity=1.0, price=100.0,
                               client_order_id="lts-web-errors-1", status="filled",
                               filled_quantity=1.0, fill_price=100.0, reason="test"))
    database.session.commit()
    return {"user": user, "portfolio": portfolio}


def _token(client) -> str:
    return csrf_from(client.get("/portfolios").get_data(as_text=True))


def _still_there(portfolio_id: int) -> bool:
    database.session.expire_all()
    return database.session.get(Portfolio, portfolio_id) is not None


def test_api_gets_the_json_error_shape(client, world, auth_headers):
    pid = world["portfolio"].id
    response = client.delete(f"/api/v1/portfolios/{pid}", headers=auth_headers(world["user"]))
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and MESSAGE_PART in error["message"]
    assert error["fields"] == {}
    assert _still_there(pid)


def test_a_json_client_of_a_page_gets_json_too(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    response = client.post(f"/portfolios/{pid}/delete", headers={
        "X-CSRFToken": _token(client), "Accept": "application/json"})
    assert response.status_code == 409
    assert response.is_json and response.get_json()["error"]["code"] == "conflict"
    assert _still_there(pid)


def test_htmx_gets_a_toast_and_no_swap(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    response = client.post(f"/portfolios/{pid}/delete", headers={
        "X-CSRFToken": _token(client), "HX-Request": "true",
        "HX-Target": f"portfolio-row-{pid}"})
    html = response.get_data(as_text=True)
    # 200: htmx drops the body of an error status, and the toast is in that body.
    assert response.status_code == 200
    assert response.headers["HX-Reswap"] == "none"
    assert response.headers["HX-Trigger"] == "lts-orders-changed"
    assert 'hx-swap-oob="beforeend:#lts-toasts"' in html and MESSAGE_PART in html
    assert "<html" not in html and f'id="portfolio-row-{pid}"' not in html
    assert _still_there(pid)


def test_a_form_post_flashes_and_goes_back(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    back = f"http://localhost/portfolios/{pid}"
    response = client.post(f"/portfolios/{pid}/delete", headers={
        "X-CSRFToken": _token(client), "Referer": back})
    assert response.status_code == 303
    assert response.headers["Location"] == back
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert MESSAGE_PART in page
    assert _still_there(pid)


def test_a_foreign_referer_is_not_followed(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    response = client.post(f"/portfolios/{pid}/delete", headers={
        "X-CSRFToken": _token(client), "Referer": "https://evil.example/x"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_missing_object_is_the_404_everywhere(client, world, login_as):
    login_as(gen_user("mallory"))
    pid = world["portfolio"].id
    token = _token(client)
    page = client.post(f"/portfolios/{pid}/delete", headers={"X-CSRFToken": token})
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True)
    htmx = client.post(f"/portfolios/{pid}/delete", headers={"X-CSRFToken": token,
                                                             "HX-Request": "true"})
    assert htmx.status_code == 404
    as_json = client.post(f"/portfolios/{pid}/delete", headers={
        "X-CSRFToken": token, "Accept": "application/json"})
    assert as_json.status_code == 404 and as_json.get_json()["error"]["code"] == "not_found"
    assert _still_there(pid)


@pytest.fixture
def raising_app(app):
    """The app with two GET routes raising rules, added before its first request."""

    def conflict() -> str:
        raise Conflict("the name is taken", {"name": ["already used"]})

    def refused() -> str:
        raise RateLimited("too many orders", details={"window_seconds": 60},
                          headers={"Retry-After": "7"})

    app.add_url_rule("/scratch/conflict", "scratch_conflict", conflict)
    app.add_url_rule("/api/v1/scratch/refused", "scratch_refused", refused)
    return app


def test_a_get_page_shows_the_error_page_with_the_rules_status(raising_app, db, login_as):
    client = raising_app.test_client()
    login_as(gen_user("ursula"), client=client)
    response = client.get("/scratch/conflict")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "the name is taken" in html and "<html" in html


def test_a_refusal_keeps_its_details_and_headers(raising_app, db, auth_headers):
    client = raising_app.test_client()
    response = client.get("/api/v1/scratch/refused", headers=auth_headers(gen_user("ursula")))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    error = response.get_json()["error"]
    assert error["code"] == "rate_limited" and error["window_seconds"] == 60
