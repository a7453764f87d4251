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
    "health.readyz",
    "auth.login",
    "auth.register",
    "auth.reset_request",
    "auth.reset_password",
    "api.login",
    "api.register",
    "api.password_reset_request",
    "api.password_reset_confirm",
}


HUGE_ID = 2**63  # one past PostgreSQL's and SQLite's largest integer


def build_path(app, rule, number: int = 1) -> str:  # type: ignore[no-untyped-def]
    """Fill every converter of a rule with a harmless value (``number`` or x for text)."""
    values = {}
    for argument, converter in rule._converters.items():
        is_number = isinstance(converter, IntegerConverter | FloatConverter)
        values[argument] = number if is_number else "x"
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


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/login", "/reset"])
def test_public_pages_answer_anonymous_requests(client, path: str) -> None:
    assert client.get(path).status_code == 200


def test_registration_page_is_hidden_while_registration_is_closed(client) -> None:
    assert client.get("/register").status_code == 404


def routes_with_ids(app):  # type: ignore[no-untyped-def]
    """(endpoint, method, path) of every rule taking an integer id, filled with 2^63."""
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, build_path(app, rule, HUGE_ID)


def huge_id_answers_other_than_404(client, routes, csrf: str,  # type: ignore[no-untyped-def]
                                   bearer: dict[str, str]) -> list[str]:
    """Ask every route of ``routes_with_ids``; ``"METHOD path (endpoint) -> status"`` of
    each that did not answer 404 (the API with ``bearer``, pages with the CSRF token)."""
    failures = []
    for endpoint, method, path in routes:
        if path.startswith("/api/"):
            response = client.open(path, method=method, headers=bearer, json={})
        else:
            response = client.open(path, method=method, data={"csrf_token": csrf},
                                   headers={"X-CSRFToken": csrf})
        if response.status_code != 404:
            failures.append(f"{method} {path} ({endpoint}) -> {response.status_code}")
    return failures


def test_an_id_beyond_the_database_range_is_a_404_on_every_route(
        app, client, db, login_as, auth_headers) -> None:
    """Pages and API alike: one bounded converter, so no route ever queries with 2^63."""
    from tests.factories import gen_user
    from tests.helpers import csrf_token

    admin = gen_user("bigidadmin", role="admin")
    login_as(admin)
    token = csrf_token(client, "/profile")
    bearer = auth_headers(admin)
    routes = list(routes_with_ids(app))
    assert len(routes) > 20
    failures = huge_id_answers_other_than_404(client, routes, token, bearer)
    assert not failures, "huge ids not refused as 404:\n" + "\n".join(failures)
