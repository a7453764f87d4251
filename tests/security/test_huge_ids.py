"""Finding 6: ids past the database's integers are a 404 on pages and API, never a 500.

The walk over every route is in tests/integration/test_security_route_coverage.py;
here are the converter's own rules and the two routes the audit reported.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import IntegerConverter

from lts.routing import IdConverter, digits_at_most
from lts.schemas.common import MAX_ID
from tests.factories import gen_user
from tests.helpers import csrf_token


@pytest.mark.parametrize("limit", [0, 7, 9, 10, 99, 100, 2024, 30000, 2**31 - 1])
def test_the_id_pattern_matches_exactly_the_numbers_up_to_its_limit(limit: int) -> None:
    pattern = re.compile(digits_at_most(limit))
    probes = set(range(0, min(limit, 3000) + 1)) | {limit, limit + 1, limit + 9, limit * 10,
                                                    10 ** len(str(limit)), 2**63}
    probes |= {int(str(limit)[:i] + "9" * (len(str(limit)) - i)) for i in range(len(str(limit)))}
    for number in sorted(probes):
        assert bool(pattern.fullmatch(str(number))) is (number <= limit), number


def test_every_integer_route_uses_the_bounded_converter(app) -> None:
    loose = [rule.rule for rule in app.url_map.iter_rules()
             for conv in rule._converters.values()
             if isinstance(conv, IntegerConverter) and not isinstance(conv, IdConverter)]
    assert not loose, f"routes built before the bounded converter: {loose}"


@pytest.mark.parametrize("path", [
    f"/profile/tokens/{2**63}/revoke", f"/admin/users/{2**63}/unlock",
    f"/admin/users/{MAX_ID + 1}/deactivate"])
def test_reported_page_routes_answer_404_to_a_huge_id(client, db, login_as, path: str) -> None:
    login_as(gen_user("hugeidadmin", role="admin"))
    token = csrf_token(client, "/profile")
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 404


def test_the_largest_id_still_reaches_the_view(client, db, login_as) -> None:
    login_as(gen_user("maxidadmin", role="admin"))
    response = client.get(f"/api/v1/portfolios/{MAX_ID}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "portfolio" in response.get_json()["error"]["message"].lower()


HUGE = 2**63


@pytest.mark.parametrize("path", [
    f"/api/v1/orders?portfolio_id={HUGE}", f"/api/v1/orders?asset_id={HUGE}",
    f"/api/v1/positions?portfolio_id={HUGE}", f"/api/v1/positions?asset_id={HUGE}",
    f"/api/v1/portfolios?user_id={HUGE}", f"/api/v1/audit?user_id={HUGE}"])
def test_huge_ids_in_api_queries_are_refused_not_crashed(client, db, auth_headers,
                                                         path: str) -> None:
    """Ids in query strings never reach the database either: 404 or 422 naming the field."""
    response = client.get(path, headers=auth_headers(gen_user("hugequery", role="admin")))
    assert response.status_code in (404, 422), (path, response.status_code)
    assert response.get_json()["error"]["code"] in ("not_found", "validation_error")


@pytest.mark.parametrize("key", [f"portfolio.{HUGE}.equity", f"asset.{HUGE}.unrealized_pnl",
                                 f"portfolio.{MAX_ID}.equity"])
def test_series_of_huge_or_missing_owners_are_not_found(client, db, auth_headers,
                                                        key: str) -> None:
    response = client.get(f"/api/v1/statistics?key={key}",
                          headers=auth_headers(gen_user("hugeseries")))
    assert response.status_code == 404


@pytest.mark.parametrize("path", [f"/orders?portfolio_id={HUGE}",
                                  f"/positions?portfolio_id={HUGE}",
                                  f"/statistics?key=portfolio.{HUGE}.equity"])
def test_huge_ids_in_page_queries_are_refused_not_crashed(client, db, login_as,
                                                          path: str) -> None:
    login_as(gen_user("hugepage", role="admin"))
    response = client.get(path)
    assert response.status_code in (200, 404, 422), (path, response.status_code)


@pytest.mark.parametrize("owner", [HUGE, MAX_ID + 1, MAX_ID])
def test_huge_ids_in_api_bodies_are_refused_not_crashed(client, db, auth_headers,
                                                        owner: int) -> None:
    body = {"name": "owned by nobody", "total_capital": 1000.0, "user_id": owner}
    response = client.post("/api/v1/portfolios", json=body,
                           headers=auth_headers(gen_user("hugebody", role="admin")))
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "user_id" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("object_id", [HUGE, MAX_ID + 1, 0, -1, True, "1", None])
def test_the_one_loader_refuses_impossible_ids_without_a_query(app, db, object_id) -> None:
    """Pages and API load single objects through load_owned: no query, NotFound, audited."""
    from sqlalchemy import event

    from lts.errors import NotFound
    from lts.models import Asset, Order, Portfolio, Position, User, UserSession
    from lts.services.access import load_owned

    admin = gen_user("loaderadmin", role="admin")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for model in (Portfolio, Asset, Order, Position, User, UserSession):
            with pytest.raises(NotFound):
                load_owned(model, object_id, admin)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")], statements


def test_a_user_walking_every_id_route_with_a_huge_id_gets_404(app, client, db, login_as,
                                                               auth_headers) -> None:
    """The route walk of test_security_route_coverage, as a user instead of an admin."""
    from tests.integration.test_security_route_coverage import (
        huge_id_answers_other_than_404,
        routes_with_ids,
    )

    user = gen_user("hugewalker")
    login_as(user)
    failures = huge_id_answers_other_than_404(client, routes_with_ids(app),
                                              csrf_token(client, "/profile"),
                                              auth_headers(user))
    assert not failures, "huge ids not refused as 404:\n" + "\n".join(failures)
