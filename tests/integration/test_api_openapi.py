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


def _operations(document):
    return [(method, path, operation) for path, operations in document["paths"].items()
            for method, operation in operations.items() if method != "parameters"]


def test_every_operation_has_an_operation_id_a_resource_tag_and_its_errors(app):
    with app.app_context():
        document = openapi_document()
    ids = [operation.get("operationId") for _, _, operation in _operations(document)]
    assert None not in ids and len(set(ids)) == len(ids), "missing or repeated operationId"
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", name) for name in ids), ids
    assert {"listOrders", "createManualOrder", "getOrder", "closePosition"} <= set(ids)
    tag_names = {tag["name"] for tag in document["tags"]}
    for method, path, operation in _operations(document):
        where = f"{method.upper()} {path}"
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tag_names, where
        assert operation["tags"] != ["api"], where
        errors = {int(code) for code in operation["responses"] if code.startswith("4")}
        public = operation.get("security") == []
        assert public or 401 in errors, where
        if "{" in path:
            assert 404 in errors, where
        if "requestBody" in operation:
            assert {400, 413, 415, 422} <= errors, where
        if any(p.get("name") == "If-Match" for p in operation.get("parameters", [])):
            assert 412 in errors, where
        for code in errors:
            schema = operation["responses"][str(code)]["content"]["application/json"]["schema"]
            assert schema["$ref"].rsplit("/", 1)[1] in ("Error", "Refusal"), where
    orders = document["paths"][f"{URL_PREFIX}/orders"]["get"]
    assert orders["tags"] == ["orders"]
    assert "429" in document["paths"][f"{URL_PREFIX}/auth/login"]["post"]["responses"]


def test_admin_only_operations_are_marked_with_a_403(app):
    with app.app_context():
        document = openapi_document()
    admin = {(m, p) for m, p, op in _operations(document) if op.get("x-admin-only")}
    assert ("get", f"{URL_PREFIX}/audit") in admin and ("post", f"{URL_PREFIX}/users") in admin
    assert ("get", f"{URL_PREFIX}/orders") not in admin
    for method, path in admin:
        operation = document["paths"][path][method]
        assert "403" in operation["responses"] and operation["summary"].startswith("Admin only")


def test_every_response_schema_lists_its_required_fields(app):
    with app.app_context():
        document = openapi_document()
    schemas = document["components"]["schemas"]
    responded = set()
    for _, _, operation in _operations(document):
        for response in operation["responses"].values():
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in ref:
                responded.add(ref["$ref"].rsplit("/", 1)[1])
    pending = list(responded)
    while pending:  # and the objects nested in them
        for prop in schemas[pending.pop()].get("properties", {}).values():
            for ref in [prop.get("$ref"), prop.get("items", {}).get("$ref")]:
                if ref and ref.rsplit("/", 1)[1] not in responded:
                    responded.add(ref.rsplit("/", 1)[1])
                    pending.append(ref.rsplit("/", 1)[1])
    for name in responded:
        if "enum" in schemas[name]:
            continue
        assert schemas[name].get("required"), f"{name} has no required list"
    for name in ("User", "Token", "AuditRow"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    order = schemas["ManualOrderResult"]["properties"]["order"]
    assert order == {"$ref": "#/components/schemas/Order"}


def _inline_enums(node, where, found):
    if isinstance(node, dict):
        if "enum" in node:
            found.append(where)
        for key, value in node.items():
            _inline_enums(value, f"{where}/{key}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _inline_enums(value, f"{where}/{index}", found)


def test_each_enum_is_one_shared_component(app):
    with app.app_context():
        document = openapi_document()
    schemas = document["components"]["schemas"]
    inline: list[str] = []
    _inline_enums(document["paths"], "paths", inline)
    for name, schema in schemas.items():
        if set(schema) != {"type", "enum"}:
            _inline_enums(schema, name, inline)
    assert inline == [], "enums not shared as a component"
    assert schemas["OrderStatus"]["enum"][:2] == ["pending", "submitted"]
    status = schemas["Order"]["properties"]["status"]
    assert status == {"$ref": "#/components/schemas/OrderStatus"}


def test_bounds_rules_and_examples_are_in_the_document(app):
    with app.app_context():
        document = openapi_document()
    schemas = document["components"]["schemas"]
    quantity = schemas["ManualOrder"]["properties"]["quantity"]
    assert quantity["minimum"] == 0 and quantity["exclusiveMinimum"] is True
    password = schemas["Register"]["properties"]["password"]
    assert password["minLength"] == 12 and "breached" in password["description"]
    assert schemas["Register"]["properties"]["email"]["format"] == "email"
    bucket = next(p for p in document["paths"][f"{URL_PREFIX}/statistics"]["get"]["parameters"]
                  if p["name"] == "bucket")
    assert "5m" in bucket["description"]
    put_config = document["paths"][f"{URL_PREFIX}/config/{{key}}"]["put"]
    assert "`max_orders_per_minute`" in put_config["description"]
    for name in ("ManualOrder", "PortfolioCreate", "AssetCreate", "Login"):
        assert schemas[name]["example"], name


def test_no_component_is_left_unused(app):
    with app.app_context():
        document = openapi_document()
    text = str(document["paths"]) + str(document["components"].get("responses", {}))
    used = set(re.findall(r"#/components/schemas/(\w+)", text))
    pending = list(used)
    while pending:
        for name in re.findall(r"#/components/schemas/(\w+)",
                               str(document["components"]["schemas"][pending.pop()])):
            if name not in used:
                used.add(name)
                pending.append(name)
    assert set(document["components"]["schemas"]) == used
