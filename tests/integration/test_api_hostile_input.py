"""Inputs that once reached the database or the JSON parser unchecked: all 4xx, never 500."""

from __future__ import annotations

import pytest

from tests.factories import gen_portfolio, gen_user


@pytest.fixture
def headers(db, auth_headers):
    return auth_headers(gen_user("alice"))


@pytest.mark.parametrize(("body", "status", "message"), [
    ("[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
    ('{"name": ' + "[" * 50_000 + "]" * 50_000 + "}", 400, "nested too deeply"),
    ("{not json", 400, "not valid JSON"),
    ('{"name": "\\ud800", "total_capital": 1}', 422, "lone surrogates"),
    ('{"name": "a\\u0000b", "total_capital": 1}', 422, "NUL"),
    ('{"name": "x", "total_capital": 1, "portfolio_config": {"\\udfff": 1}}', 422,
     "lone surrogates"),
])
def test_hostile_bodies_are_refused(client, headers, body, status, message):
    response = client.post("/api/v1/portfolios", data=body, headers=headers,
                           content_type="application/json")
    assert response.status_code == status
    error = response.get_json()["error"]
    assert message in error["message"] or message in str(error["fields"])


def test_hostile_bodies_on_hand_parsed_endpoints(client, db):
    deep = client.post("/api/v1/auth/login", data="[" * 100_000 + "]" * 100_000,
                       content_type="application/json")
    assert deep.status_code == 400
    surrogate = client.post("/api/v1/auth/login", content_type="application/json",
                            data='{"username": "\\ud800", "password": "x"}')
    assert surrogate.status_code == 422


@pytest.mark.parametrize("query", [
    "/api/v1/orders?since=0001-01-01T00:00:00%2B23:00",
    "/api/v1/positions?until=9999-12-31T23:59:59-23:00",
    "/api/v1/statistics?key=portfolio.1.equity&since=0001-01-01T00:00:00%2B01:00",
])
def test_timestamps_outside_the_calendar_are_422(client, headers, query):
    response = client.get(query, headers=headers)
    assert response.status_code == 422


def test_huge_ids_inside_keys_are_404(client, headers):
    response = client.get("/api/v1/statistics?key=portfolio.99999999999999999999.equity",
                          headers=headers)
    assert response.status_code == 404


def test_audit_dates_at_the_end_of_the_calendar(client, db, auth_headers):
    admin = auth_headers(gen_user("root", role="admin"))
    assert client.get("/api/v1/audit?date_to=9999-12-31", headers=admin).status_code == 422
    assert client.get("/api/v1/audit?date_from=0001-01-01&date_to=9999-12-30",
                      headers=admin).status_code == 200


def test_naive_timestamps_are_read_as_utc(client, db, auth_headers):
    alice = gen_user("zed")
    portfolio = gen_portfolio(alice)
    body = client.patch(f"/api/v1/portfolios/{portfolio.id}",
                        headers=auth_headers(alice),
                        json={"expected_updated_at": portfolio.updated_at.replace(
                            tzinfo=None).isoformat(), "description": "naive"})
    assert body.status_code == 200, body.get_json()
