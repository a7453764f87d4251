"""HTTP semantics of ``/api/v1`` (issue 18, item 2): what a generic HTTP client expects.

Creates answer 201 with ``Location``; single-object GETs carry an ``ETag`` and answer
``If-None-Match`` with 304; a stale ``If-Match`` is 412 and a state conflict 409; a
form body is 415; server-level errors are JSON; limited endpoints carry ``RateLimit-*``
but no ``Retry-After`` on success; CORS is off unless an origin is allowed.
"""

from __future__ import annotations

import pytest

from lts.extensions import db as database
from lts.models import Order
from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user

ORIGIN = "https://app.example.com"


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """One allowed origin and a small login budget (to reach a 429)."""
    return {"cors_allowed_origins": f"{ORIGIN}, https://other.example.com/",
            "login_rate_limit": "3 per minute"}


def _order(asset) -> Order:
    order = Order(asset_id=asset.id, side="buy", quantity=1.0, client_order_id="h-1",
                  status="filled", fill_price=1.1)
    database.session.add(order)
    database.session.commit()
    return order


def test_creates_answer_201_with_the_location_of_what_was_created(client, alice, as_alice):
    portfolio = client.post("/api/v1/portfolios", headers=as_alice,
                            json={"name": "Main", "total_capital": 1000})
    assert portfolio.status_code == 201
    location = portfolio.headers["Location"]
    assert location == f"/api/v1/portfolios/{portfolio.get_json()['id']}"
    shown = client.get(location, headers=as_alice).get_json()
    assert shown == {**portfolio.get_json(), **{key: shown[key] for key in (
        "equity", "realized_pnl", "unrealized_pnl")}}
    asset = client.post(f"{location}/assets", headers=as_alice, json={"symbol": "EUR_USD"})
    assert asset.status_code == 201
    assert asset.headers["Location"] == f"/api/v1/assets/{asset.get_json()['id']}"
    funded = gen_asset(gen_portfolio(alice, "funded"), allocated_capital=10_000.0)
    order = client.post(f"/api/v1/assets/{funded.id}/orders", headers=as_alice,
                        json={"side": "buy", "quantity": 1})
    assert order.status_code == 201, order.get_json()
    fetched = client.get(order.headers["Location"], headers=as_alice)
    assert fetched.get_json()["id"] == order.get_json()["order"]["id"]


def test_single_object_gets_carry_an_etag_and_answer_304_while_it_is_current(
        client, alice, as_alice):
    order = _order(gen_asset(gen_portfolio(alice)))
    url = f"/api/v1/orders/{order.id}"
    first = client.get(url, headers=as_alice)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    again = client.get(url, headers={**as_alice, "If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    other = client.get(url, headers={**as_alice, "If-None-Match": '"not-it"'})
    assert other.status_code == 200 and other.get_json()["id"] == order.id
    order.status = "cancelled"  # a new version: the old ETag no longer matches
    database.session.commit()
    changed = client.get(url, headers={**as_alice, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_unversioned_objects_get_a_content_etag(client, db, as_root):
    user = gen_user("carol")
    url = f"/api/v1/users/{user.id}"
    first = client.get(url, headers=as_root)
    assert first.status_code == 200 and first.headers["ETag"]
    assert client.get(url, headers={**as_root, "If-None-Match": first.headers["ETag"]}
                      ).status_code == 304


def test_stale_if_match_is_412_and_a_closed_position_409(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    url = f"/api/v1/assets/{asset.id}"
    etag = client.get(url, headers=as_alice).headers["ETag"]
    assert client.patch(url, headers={**as_alice, "If-Match": etag},
                        json={"name": "first"}).status_code == 200
    stale = client.patch(url, headers={**as_alice, "If-Match": etag}, json={"name": "second"})
    assert stale.status_code == 412
    assert stale.get_json()["error"]["fields"] == {"If-Match": ["does not match the current "
                                                                "ETag"]}


def test_a_form_encoded_body_is_415_naming_the_content_type(client, alice, as_alice):
    sent = client.post("/api/v1/portfolios", headers=as_alice,
                       data={"name": "x", "total_capital": "10"})
    assert sent.status_code == 415
    error = sent.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/x-www-form-urlencoded" in error["message"]
    # A body-less POST needs no Content-Type.
    assert client.post("/api/v1/auth/logout", headers=as_alice).status_code == 204


def test_server_level_errors_under_api_are_json(client, alice, as_alice):
    missing = client.get("/api/v1/no-such-thing", headers=as_alice)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.put("/api/v1/orders", headers=as_alice, json={})
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    huge = client.post("/api/v1/portfolios", headers=as_alice,
                       data=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                       content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["error"]["code"] == "payload_too_large"


def test_request_id_is_echoed_by_the_api(client, alice, as_alice):
    answer = client.get("/api/v1/orders", headers={**as_alice, "X-Request-ID": "trace-42"})
    assert answer.headers["X-Request-ID"] == "trace-42"


def test_limited_endpoints_carry_ratelimit_fields_and_no_retry_after_on_success(client, db):
    gen_user("dave")
    body = {"username": "dave", "password": DEFAULT_PASSWORD}
    ok = client.post("/api/v1/auth/login", json=body)
    assert ok.status_code == 201
    assert "Retry-After" not in ok.headers
    assert ok.headers["RateLimit-Limit"] == "3"
    assert ok.headers["RateLimit-Remaining"] == "2"
    assert 0 <= int(ok.headers["RateLimit-Reset"]) <= 61  # seconds from now (rounded up)
    assert ok.headers["Location"].startswith("/api/v1/auth/tokens/")
    for _ in range(2):
        client.post("/api/v1/auth/login", json=body)
    refused = client.post("/api/v1/auth/login", json=body)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 61


def test_cors_answers_only_allowed_origins(client, alice, as_alice):
    preflight = client.options("/api/v1/orders", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    read = client.get("/api/v1/orders", headers={**as_alice, "Origin": ORIGIN})
    assert read.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]
    assert "Origin" in read.headers["Vary"]
    trailing = client.get("/api/v1/orders", headers={
        **as_alice, "Origin": "https://other.example.com"})
    assert trailing.headers["Access-Control-Allow-Origin"] == "https://other.example.com"
    stranger = client.get("/api/v1/orders", headers={**as_alice, "Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    refused = client.options("/api/v1/orders", headers={
        "Origin": "https://evil.test", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_cors_is_off_by_default(tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{tmp_path}/x.db", tmp_path)
    assert app.config["LTS"]["cors_allowed_origins"] == ""
    answer = app.test_client().options("/api/v1/orders", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_bad_origin_setting_is_refused_naming_the_key(tmp_path):
    from lts.config import ConfigError
    from tests.conftest import make_test_app

    with pytest.raises(ConfigError, match="cors_allowed_origins"):
        make_test_app(f"sqlite:///{tmp_path}/x.db", tmp_path,
                      cors_allowed_origins="https://app.example.com/path")
