"""Finding 7: one input rule for forms and API: control characters are refused.

NUL (which PostgreSQL cannot store) and the other C0/C1 control characters, DEL and
the bidirectional overrides are refused with a message naming the field; tab, line
feed and carriage return stay allowed. Tested on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lts.models import Asset, Portfolio, UserSession
from lts.schemas.common import text_problem
from tests.conftest import BACKENDS
from tests.factories import gen_portfolio, gen_user
from tests.helpers import csrf_from

HOSTILE = ["a\x00b", "a\x01b", "a\x1bb", "a\x7fb", "a\x85b", "a\u202eb"]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_rule_refuses_control_characters(text: str) -> None:
    problem = text_problem(text)
    assert problem and "control character" in problem and "U+" in problem


@pytest.mark.parametrize("text", ["plain", "line one\nline two\r\n\ttabbed", "Zürich €",
                                  "👩‍💻 team", ""])
def test_the_rule_keeps_ordinary_text(text: str) -> None:
    assert text_problem(text) is None


@pytest.fixture
def owner(db):
    return gen_user("ctrlowner")


def _page_token(client, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("text", ["a\x00b", "a\x01b", "x\u202e"])
def test_portfolio_page_form_refuses_control_characters(client, db, owner, login_as,
                                                        text: str) -> None:
    login_as(owner)
    token = _page_token(client, "/portfolios/new")
    for field in ("name", "description"):
        data = {"csrf_token": token, "name": "Safe", "description": "", "total_capital": "100",
                "portfolio_latency": "60", "portfolio_plugin": "equal_weight", field: text}
        response = client.post("/portfolios", headers={"HX-Request": "true"}, data=data)
        assert response.status_code == 422, field
        assert "control character" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Portfolio.id))) == 0


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_asset_page_form_refuses_a_nul_symbol_and_config_input(client, db, owner,
                                                               login_as) -> None:
    login_as(owner)
    pid = gen_portfolio(owner).id
    token = _page_token(client, f"/portfolios/{pid}")
    base = {"csrf_token": token, "symbol": "GBP_USD", "is_active": "y",
            "pipeline_plugin": "synthetic", "strategy_plugin": "prediction_threshold",
            "broker_plugin": "paper"}
    for extra in ({"symbol": "F\x00"}, {"name": "n\x00"},
                  {"pipeline_plugin": "csv", "pipeline_config-file": "a\x00.csv"}):
        response = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"},
                               data={**base, **extra})
        assert response.status_code == 422, extra
        assert "control character" in response.get_data(as_text=True), extra
    assert db.session.scalar(select(func.count(Asset.id))) == 0


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_profile_token_name_refuses_control_characters(client, db, owner, login_as) -> None:
    login_as(owner)
    before = db.session.scalar(select(func.count(UserSession.id)))
    token = _page_token(client, "/profile")
    response = client.post("/profile/tokens", data={"csrf_token": token, "name": "t\x00"})
    assert response.status_code in (400, 422)
    assert "control character" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(UserSession.id))) == before


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize(("body", "field"), [
    ({"name": "a\x00b", "total_capital": 1}, "name"),
    ({"name": "a\x01b", "total_capital": 1}, "name"),
    ({"name": "ok", "description": "x\x7f", "total_capital": 1}, "description"),
    ({"name": "ok", "total_capital": 1, "portfolio_config": {"k\x00": 1}}, "portfolio_config"),
])
def test_api_refuses_control_characters_naming_the_field(client, db, owner, auth_headers,
                                                         body, field) -> None:
    response = client.post("/api/v1/portfolios", headers=auth_headers(owner), json=body)
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert field in fields and "control character" in str(fields[field])
    assert db.session.scalar(select(func.count(Portfolio.id))) == 0


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_api_refuses_a_nul_asset_symbol(client, db, owner, auth_headers) -> None:
    pid = gen_portfolio(owner).id
    response = client.post(f"/api/v1/portfolios/{pid}/assets", headers=auth_headers(owner),
                           json={"symbol": "F\x00"})
    assert response.status_code == 422
    assert "symbol" in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(func.count(Asset.id))) == 0


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_multi_line_descriptions_still_save(client, db, owner, auth_headers) -> None:
    response = client.post("/api/v1/portfolios", headers=auth_headers(owner),
                           json={"name": "lines", "total_capital": 1,
                                 "description": "first\nsecond\r\n\tthird"})
    assert response.status_code == 201
