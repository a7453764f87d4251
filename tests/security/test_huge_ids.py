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
