"""The generated OpenAPI document: valid, complete, served, and rendered at /api/docs."""

from __future__ import annotations

import re

from lts.blueprints.api import URL_PREFIX, openapi_document
from tests.factories import gen_user

UNDOCUMENTED = {f"{URL_PREFIX}/openapi.json"}


def _flask_to_openapi(rule: str) -> str:
    """``/portfolios/<int:portfolio_id>`` -> ``/portfolios/{portfolio_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_vice_versa(app):
    with app.app_context():
        document = openapi_document()
    documented = {(method.upper(), path) for path, operations in document["paths"].items()
                  for method in operations if method != "parameters"}
    routed = {(method, _flask_to_openapi(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(URL_PREFIX + "/") and rule.rule not in UNDOCUMENTED
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed - documented == set(), "routes missing from the document"
    assert documented - routed == set(), "documented operations without a route"


def test_document_is_openapi_3_with_our_error_shape(app):
    with app.app_context():
        document = openapi_document()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "fields"}
    login = document["paths"][f"{URL_PREFIX}/auth/login"]["post"]
    assert login["security"] == [] and "requestBody" in login
    portfolio_post = document["paths"][f"{URL_PREFIX}/portfolios"]["post"]
    schema_ref = portfolio_post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    create = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"name", "total_capital"} <= set(create["required"])
    assert create.get("additionalProperties") is False


def test_openapi_json_needs_authentication(client, db, auth_headers):
    assert client.get(f"{URL_PREFIX}/openapi.json").status_code == 401
    served = client.get(f"{URL_PREFIX}/openapi.json", headers=auth_headers(gen_user()))
    assert served.status_code == 200 and served.get_json()["info"]["title"] == "LTS API"


def test_api_docs_page_is_behind_login_and_csp_clean(client, db, login_as):
    anonymous = client.get("/api/docs")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].endswith("/login?next=/api/docs")
    login_as(gen_user())
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "vendor/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "js/api_docs.js" in html and "<script>" not in html and "<style" not in html
    for asset in ("vendor/swagger-ui-dist/swagger-ui-bundle.js", "js/api_docs.js"):
        response = client.get(f"/static/{asset}")
        response.close()
        assert response.status_code == 200
