"""One ``total_capital`` bound (lts/limits.py) for the page form, the API, the CLI and the
service: each refuses the same values, naming the field, and accepts the same edges."""

from __future__ import annotations

import pytest

from lts.cli import lts
from lts.errors import ValidationFailed
from lts.limits import TOTAL_CAPITAL_MAX, total_capital_problem
from lts.services.portfolios import create_portfolio
from tests.factories import gen_user
from tests.helpers import csrf_from

REFUSED = [0, -5, TOTAL_CAPITAL_MAX * 2]
ACCEPTED = [0.01, TOTAL_CAPITAL_MAX]


@pytest.mark.parametrize("value", [*REFUSED, float("nan"), float("inf"), True, "10"])
def test_the_rule_refuses(value):
    assert total_capital_problem(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_rule_accepts(value):
    assert total_capital_problem(value) is None


def _service(user, value):
    return create_portfolio(user, {"name": f"s{value}", "total_capital": value})


def _api(client, headers, value):
    response = client.post("/api/v1/portfolios", headers=headers,
                           json={"name": f"a{value}", "total_capital": value})
    return response.status_code, response.get_json()


def _form(client, value):
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    response = client.post("/portfolios", data={
        "csrf_token": token, "name": f"f{value}", "total_capital": repr(value),
        "portfolio_latency": "60", "portfolio_plugin": "equal_weight"})
    return response.status_code, response.get_data(as_text=True)


def test_every_entry_refuses_the_same_values(client, db, login_as, auth_headers, runner):
    user = gen_user("ursula")
    login_as(user)
    headers = auth_headers(user)
    for value in REFUSED:
        with pytest.raises(ValidationFailed) as caught:
            _service(user, value)
        assert "total_capital" in caught.value.fields, value
        status, body = _api(client, headers, value)
        assert status == 422 and "total_capital" in body["error"]["fields"], value
        status, html = _form(client, value)
        assert status == 422 and 'id="total_capital-errors"' in html, value
        result = runner.invoke(lts, ["portfolio", "create", "--user", "ursula", "--name",
                                     f"c{value}", "--capital", str(value)])
        assert result.exit_code != 0 and "--capital" in result.output, value


def test_every_entry_accepts_the_edges(client, db, login_as, auth_headers, runner):
    user = gen_user("ursula")
    login_as(user)
    headers = auth_headers(user)
    for value in ACCEPTED:
        assert _service(user, value).total_capital == value
        status, body = _api(client, headers, value)
        assert status == 201, body
        status, _ = _form(client, value)
        assert status in (200, 204, 303), value
        result = runner.invoke(lts, ["portfolio", "create", "--user", "ursula", "--name",
                                     f"c{value}", "--capital", repr(value)])
        assert result.exit_code == 0, result.output
