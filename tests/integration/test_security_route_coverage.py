"""Every route refuses anonymous callers, except a short explicit allow-list.

The test walks ``app.url_map``: a route added later is covered without editing it.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import FloatConverter, IntegerConverter

# Endpoints anyone may call: login, registration, password reset, health, static files.
PUBLIC_ENDPOINTS = {
    "static",
    "health.healthz",
    "auth.login",
    "auth.register",
    "auth.reset_request",
    "auth.reset_password",
    "api.login",
    "api.register",
    "api.password_reset_request",
    "api.password_reset_confirm",
}


def build_path(app, rule) -> str:  # type: ignore[no-untyped-def]
    """Fill every converter of a rule with a harmless value (1 for numbers, x for text)."""
    values = {}
    for argument, converter in rule._converters.items():
        values[argument] = 1 if isinstance(converter, IntegerConverter | FloatConverter) else "x"
    return app.url_map.bind("localhost").build(rule.endpoint, values,
                                               method=next(iter(rule.methods)))


def protected_routes(app):  # type: ignore[no-untyped-def]
    """(endpoint, method, path) of every rule not on the allow-list."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, build_path(app, rule)


def test_allow_list_names_only_existing_public_endpoints(app) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC_ENDPOINTS


def test_there_are_protected_routes_to_check(app) -> None:
    assert len(list(protected_routes(app))) > 20


def test_every_non_public_route_refuses_anonymous_requests(app, client) -> None:
    failures = []
    for endpoint, method, path in protected_routes(app):
        response = client.open(path, method=method)
        if path.startswith("/api/") and endpoint != "api_docs":  # the docs are a page
            ok = (response.status_code == 401 and response.is_json
                  and response.get_json()["error"]["code"] == "unauthorized")
        else:
            ok = (response.status_code == 302
                  and response.headers["Location"].startswith("/login"))
        if not ok:
            failures.append(f"{method} {path} ({endpoint}) -> {response.status_code}")
    assert not failures, "routes reachable anonymously:\n" + "\n".join(failures)


def test_anonymous_api_calls_are_audited_but_page_redirects_are_not(client, db) -> None:
    from sqlalchemy import select

    from lts.models import AuditLog

    client.get("/api/v1/users")
    client.get("/profile")
    rows = db.session.scalars(select(AuditLog)).all()
    assert [(r.action, r.resource, r.outcome) for r in rows] == [
        ("access.unauthenticated", "/api/v1/users", "denied")]


@pytest.mark.parametrize("path", ["/healthz", "/login", "/reset"])
def test_public_pages_answer_anonymous_requests(client, path: str) -> None:
    assert client.get(path).status_code == 200


def test_registration_page_is_hidden_while_registration_is_closed(client) -> None:
    assert client.get("/register").status_code == 404
