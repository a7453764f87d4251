"""Finding 11: loose validation. Emails, integers, booleans and CSV paths are strict.

Each refusal is a 422 naming the field, and nothing is stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lts.models import Asset, Portfolio, User
from tests.factories import DEFAULT_PASSWORD, gen_portfolio, gen_user


@pytest.fixture
def admin(db):
    return gen_user("strictroot", role="admin")


@pytest.fixture
def as_admin(admin, auth_headers):
    return auth_headers(admin)


def _field_error(response, field: str) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    fields = response.get_json()["error"]["fields"]
    assert field in fields, fields
    return fields[field]


@pytest.mark.parametrize("email", [
    "<script>alert(1)</script>@example.com",
    "eve@example.com<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>@example.com',
    "eve@exa<b>mple.com",
    "eve(comment)@example.com",
    "eve@example",
])
def test_emails_with_markup_are_refused(client, db, as_admin, email: str) -> None:
    response = client.post("/api/v1/users", headers=as_admin, json={
        "username": "eve", "email": email, "password": DEFAULT_PASSWORD})
    assert "valid email" in _field_error(response, "email")[0]
    assert db.session.scalar(select(func.count(User.id))) == 1


@pytest.mark.parametrize("email", ["o'brien@example.com", "a.b+tag@sub.example.co.uk",
                                   "X_Y-z@example-host.io"])
def test_ordinary_emails_are_accepted(client, db, as_admin, email: str) -> None:
    response = client.post("/api/v1/users", headers=as_admin, json={
        "username": "okuser", "email": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("value", [1.5, "10", True, 10.0, "1e1"])
def test_portfolio_latency_must_be_a_json_integer(client, db, as_admin, value) -> None:
    response = client.post("/api/v1/portfolios", headers=as_admin, json={
        "name": "strict", "total_capital": 1000, "portfolio_latency": value})
    assert "integer" in _field_error(response, "portfolio_latency")[0].lower()
    assert db.session.scalar(select(func.count(Portfolio.id))) == 0


def test_patch_takes_integers_strictly_too(client, db, admin, as_admin) -> None:
    portfolio = gen_portfolio(admin)
    response = client.patch(f"/api/v1/portfolios/{portfolio.id}", headers=as_admin,
                            json={"portfolio_latency": "15"})
    _field_error(response, "portfolio_latency")
    assert client.patch(f"/api/v1/portfolios/{portfolio.id}", headers=as_admin,
                        json={"portfolio_latency": 15}).status_code == 200


@pytest.mark.parametrize("body", [{"user_id": "1"}, {"user_id": 1.0}])
def test_ids_in_bodies_are_strict_integers(client, db, admin, as_admin, body) -> None:
    response = client.post("/api/v1/portfolios", headers=as_admin,
                           json={"name": "owned", "total_capital": 10, **body})
    _field_error(response, "user_id")


@pytest.mark.parametrize("value", [0, 1, "true", "on", "1", None])
def test_kill_switches_take_json_booleans_only(client, db, admin, as_admin, value) -> None:
    portfolio = gen_portfolio(admin)
    for path in ("/api/v1/loop/kill-switch", f"/api/v1/portfolios/{portfolio.id}/kill-switch"):
        response = client.post(path, headers=as_admin, json={"on": value})
        assert "true or false" in _field_error(response, "on")[0], path


def test_kill_switch_still_takes_true(client, db, as_admin) -> None:
    response = client.post("/api/v1/loop/kill-switch", headers=as_admin, json={"on": True})
    assert response.status_code == 200 and response.get_json()["kill_switch"] is True


@pytest.mark.parametrize("path", ["/api/v1/auth/tokens"])
@pytest.mark.parametrize("ttl", [1.5, "24"])
def test_token_lifetimes_are_strict_integers(client, db, admin, as_admin, path, ttl) -> None:
    response = client.post(path, headers=as_admin,
                           json={"name": "t", "ttl_hours": ttl, "password": DEFAULT_PASSWORD})
    _field_error(response, "ttl_hours")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b.csv",
                                  "..", "C:\\data\\x.csv", "..\\x.csv", "a\\..\\..\\b.csv",
                                  "./", "a//b.csv"])
def test_csv_file_outside_data_dir_is_refused_when_saved(client, db, admin, as_admin,
                                                         name: str) -> None:
    portfolio = gen_portfolio(admin)
    response = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_admin,
                           json={"symbol": "EURUSD", "pipeline_plugin": "csv",
                                 "pipeline_config": {"file": name}})
    assert "file" in str(_field_error(response, "pipeline_config"))
    assert db.session.scalar(select(func.count(Asset.id))) == 0


@pytest.mark.parametrize("name", ["EURUSD.csv", "fx/EURUSD_H1.csv", "a..b.csv"])
def test_csv_file_inside_data_dir_is_accepted(client, db, admin, as_admin, name: str) -> None:
    portfolio = gen_portfolio(admin)
    response = client.post(f"/api/v1/portfolios/{portfolio.id}/assets", headers=as_admin,
                           json={"symbol": "EURUSD", "pipeline_plugin": "csv",
                                 "pipeline_config": {"file": name}})
    assert response.status_code == 201, response.get_json()
