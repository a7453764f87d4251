"""Finish the generated OpenAPI document so a generated client is typed and complete.

flask-smorest documents each view from its schemas; what it cannot know is added here,
once, from rules over the whole document rather than by hand on fifty views (so an
operation added later, by any module, gets the same treatment):

* an ``operationId`` per operation (``listOrders``), from the view's name, so
  generators name methods after them instead of after the URL;
* one tag per resource (``orders``, ``assets``...), from the path;
* every 4xx the operation can answer, with the shared error schema: what a client
  must handle is in the document, not in our source;
* one component per enum (``OrderStatus``), referenced wherever the values are used,
  so a client has one ``OrderStatus`` type instead of one copy per parameter;
* admin-only operations marked (``x-admin-only`` and a 403);
* components nothing references are removed.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from lts.models.backtest import BACKTEST_STATUSES
from lts.models.enums import (
    AUDIT_OUTCOMES,
    DECISION_ACTIONS,
    ORDER_SIDES,
    ORDER_SOURCES,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    POSITION_STATUSES,
    RISK_STATES,
    ROLES,
)
from lts.models.sorting import ORDER_SORTS, POSITION_SORTS
from lts.schemas.admin import PLUGIN_KINDS
from lts.schemas.orders import INCLUDABLE
from lts.schemas.portfolios import PORTFOLIO_SORT_KEYS

ERROR_REF = {"$ref": "#/components/schemas/Error"}

# Enum components by their values (None, a nullable filter's "absent", is left out).
ENUMS: dict[str, tuple[str, ...]] = {
    "OrderStatus": ORDER_STATUSES, "OrderSide": ORDER_SIDES, "OrderType": ORDER_TYPES,
    "OrderSource": ORDER_SOURCES, "PositionSide": POSITION_SIDES,
    "PositionStatus": POSITION_STATUSES, "RiskStateValue": RISK_STATES, "Role": ROLES,
    "AuditOutcome": AUDIT_OUTCOMES, "DecisionAction": DECISION_ACTIONS,
    "OrderSort": tuple(ORDER_SORTS), "PositionSort": tuple(POSITION_SORTS),
    "SortDirection": ("asc", "desc"), "ConfigSource": ("table", "config"),
    "PluginKind": PLUGIN_KINDS, "PortfolioSort": PORTFOLIO_SORT_KEYS,
    "OrderInclude": INCLUDABLE, "BacktestStatus": BACKTEST_STATUSES,
}
# Names a view function does not say well (the client method a script writer looks for).
OPERATION_IDS = {"place_order": "createManualOrder", "me": "getCurrentUser",
                 "cancel_order_post": "cancelOrderByPost", "login": "login",
                 "logout": "logout", "get_statistics": "getStatisticsSeries"}
# Resources, in the order a path names them: the last one named is the operation's tag.
RESOURCES = ("portfolios", "assets", "orders", "positions", "users", "statistics",
             "audit", "config", "loop", "plugins", "auth", "backtests")
TAG_DESCRIPTIONS = {
    "auth": "Log in, tokens, password, registration and resets.",
    "portfolios": "Portfolios: CRUD, kill switch, risk state, run now.",
    "assets": "Assets of a portfolio: CRUD, resume, close and deactivate.",
    "orders": "Orders: list, read, place manual orders, cancel.",
    "positions": "Positions: list, read, close.",
    "statistics": "Stored series (equity, P&L...), downsampled on the server.",
    "audit": "The audit log (admins).",
    "config": "Settings; runtime ones can be changed while LTS runs (admins).",
    "loop": "The trading loop: status, tick, pause, kill switch, risk state.",
    "plugins": "Loaded plugins and their config schemas.",
    "users": "User administration (admins).",
}
STATUS_TEXT = {
    400: "The body is not valid JSON (`bad_request`).",
    401: "No valid token or session (`unauthorized`).",
    403: "Not allowed for this user (`forbidden`), e.g. an admin-only operation.",
    404: "No such object, or it belongs to someone else (`not_found`).",
    409: "Conflicts with the object's current state (`conflict`; the code names which).",
    412: "`If-Match` names a version that is no longer current (`precondition_failed`): "
         "read the object again.",
    413: "The body is larger than the server accepts (`payload_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    422: "A field is not valid (`validation_error`): `fields` names each one.",
    429: "Too many requests (`rate_limited`): retry after `Retry-After` seconds.",
}
ADMIN_ONLY = "x-admin-only"
# An example per request body (shown by Swagger UI and by generated clients' docs).
EXAMPLES: dict[str, dict[str, Any]] = {
    "Login": {"username": "alice", "password": "correct horse battery staple",
              "name": "my script", "ttl_hours": 24},
    "TokenCreate": {"name": "nightly export", "ttl_hours": 720},
    "PasswordChange": {"current_password": "correct horse battery staple",
                       "new_password": "another long passphrase 42"},
    "Register": {"username": "alice", "email": "alice@example.com",
                 "password": "correct horse battery staple"},
    "ResetRequest": {"identifier": "alice@example.com"},
    "ResetConfirm": {"token": "the token from the reset mail",
                     "password": "another long passphrase 42"},
    "PortfolioCreate": {"name": "FX majors", "total_capital": 10000.0,
                        "portfolio_plugin": "equal_weight", "portfolio_latency": 60},
    "PortfolioUpdate": {"total_capital": 12000.0},
    "AssetCreate": {"symbol": "EUR_USD", "pipeline_plugin": "synthetic",
                    "strategy_plugin": "sma_cross", "broker_plugin": "paper"},
    "AssetUpdate": {"is_active": False},
    "ManualOrder": {"side": "buy", "order_type": "limit", "quantity": 1000.0,
                    "price": 1.0850, "stop_loss": 1.0800, "take_profit": 1.0950},
    "KillSwitch": {"on": True},
    "RiskState": {"state": "reducing", "reason": "news event: close only"},
    "ConfigValue": {"value": 30},
    "UserCreate": {"username": "bob", "email": "bob@example.com", "role": "user",
                   "password": "correct horse battery staple"},
    "UserUpdate": {"role": "admin", "is_active": True},
}
_PARAM = re.compile(r"{[^}]+}")


def camel(name: str) -> str:
    """``list_orders`` -> ``listOrders``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _flask_to_openapi(rule: str) -> str:
    """``/orders/<int:order_id>`` -> ``/orders/{order_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def operation_names(app: Flask, prefix: str) -> dict[tuple[str, str], str]:
    """``(method, document path) -> operationId`` for every route under ``prefix``."""
    names = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix + "/"):
            continue
        view = rule.endpoint.rsplit(".", 1)[-1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            names[(method.lower(), _flask_to_openapi(rule.rule))] = OPERATION_IDS.get(
                view, camel(view))
    return names


def tag_of(path: str, prefix: str) -> str:
    """The resource a path acts on: the last resource it names (``/assets/{id}/orders``)."""
    segments = [part for part in path.removeprefix(prefix).split("/")
                if part and not _PARAM.fullmatch(part)]
    named = [part for part in segments if part in RESOURCES]
    return named[-1] if named else (segments[0] if segments else "api")


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The 4xx an operation can answer, read from what it takes."""
    takes_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    statuses = {422} if takes_query or "requestBody" in operation else set()
    if operation.get("security") != []:
        statuses.add(401)
    if "{" in path:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if method in ("post", "put", "patch", "delete") and "/auth/" not in path:
        statuses.add(409)
    if any(p.get("name") == "If-Match" for p in operation.get("parameters", [])):
        statuses.add(412)
    if operation.get(ADMIN_ONLY):
        statuses.add(403)
    return statuses


def _declare_errors(path: str, method: str, operation: dict[str, Any],
                    limited: bool) -> None:
    """Add each missing 4xx response with the shared error schema."""
    responses = operation.setdefault("responses", {})
    statuses = _error_statuses(path, method, operation) | ({429} if limited else set())
    for status in sorted(statuses):
        key = str(status)
        if key in responses and "$ref" not in responses[key]:
            continue  # a specific schema (a refusal) is already documented
        response: dict[str, Any] = {"description": STATUS_TEXT[status],
                                    "content": {"application/json": {"schema": ERROR_REF}}}
        if status == 429:
            response["headers"] = {"Retry-After": {
                "description": "seconds", "schema": {"type": "integer", "minimum": 0}}}
        responses[key] = response


IF_NONE_MATCH = {"in": "header", "name": "If-None-Match", "required": False,
                 "schema": {"type": "string"},
                 "description": "The ETag you hold: 304 (no body) while it is current."}
ETAG_HEADER = {"description": "The version of this object (send it back in `If-Match` "
                              "or `If-None-Match`).", "schema": {"type": "string"}}
LOCATION_HEADER = {"description": "The URL of what was created.",
                   "schema": {"type": "string"}}


def _declare_http(path: str, method: str, operation: dict[str, Any]) -> None:
    """Document conditional GETs (ETag, If-None-Match, 304) and creates' Location."""
    responses = operation.get("responses", {})
    if method == "get" and "{" in path and "200" in responses:
        operation.setdefault("parameters", []).append(dict(IF_NONE_MATCH))
        responses["200"].setdefault("headers", {})["ETag"] = ETAG_HEADER
        responses["304"] = {"description": "Not modified: the ETag sent is current.",
                            "headers": {"ETag": ETAG_HEADER}}
    created = responses.get("201")
    if created is not None and not path.endswith("/auth/register"):
        created.setdefault("headers", {})["Location"] = LOCATION_HEADER


def _enum_name(values: list[Any]) -> str | None:
    """The component name of an enum's values (None: an enum of its own)."""
    wanted = tuple(value for value in values if value is not None)
    return next((name for name, choices in ENUMS.items() if tuple(choices) == wanted), None)


def _share_enums(node: Any) -> Any:
    """Replace inline enums by a ``$ref`` to their component (recursively)."""
    if isinstance(node, list):
        return [_share_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "enum" in node and node.get("type") == "string":
        name = _enum_name(node["enum"])
        if name is not None:
            ref = {"$ref": f"#/components/schemas/{name}"}
            kept = {k: v for k, v in node.items()
                    if k in ("default", "description", "example")}
            if node.get("nullable") or kept:
                # A $ref ignores its siblings in OpenAPI 3.0: wrap it to keep them.
                return {"allOf": [ref], **kept, **({"nullable": True}
                                                    if node.get("nullable") else {})}
            return ref
    return {key: _share_enums(value) for key, value in node.items()}


def _references(node: Any, found: set[str]) -> None:
    """Collect every component schema name ``node`` refers to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _references(value, found)
    elif isinstance(node, list):
        for value in node:
            _references(value, found)


def _drop_unused(document: dict[str, Any]) -> None:
    """Remove component schemas and responses nothing references (transitively)."""
    components = document.get("components", {})
    schemas = components.get("schemas", {})
    used: set[str] = set()
    _references(document.get("paths", {}), used)
    _references(components.get("responses", {}), used)
    pending = list(used)
    while pending:
        inner: set[str] = set()
        _references(schemas.get(pending.pop(), {}), inner)
        pending.extend(inner - used)
        used |= inner
    for name in set(schemas) - used:
        del schemas[name]
    responses = components.get("responses", {})
    referenced = {ref.rsplit("/", 1)[1] for ref in _response_refs(document.get("paths", {}))}
    for name in set(responses) - referenced:
        del responses[name]


def _response_refs(node: Any) -> list[str]:
    """Every ``#/components/responses/...`` reference in ``node``."""
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/responses/"):
            found.append(ref)
        for value in node.values():
            found.extend(_response_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_response_refs(value))
    return found


def finish_document(document: dict[str, Any], app: Flask, prefix: str,
                    limited: set[tuple[str, str]]) -> dict[str, Any]:
    """Apply the rules of this module to a generated ``document`` (changed in place).

    ``limited``: ``(method, path)`` of the operations behind a rate limit (a 429).
    """
    names = operation_names(app, prefix)
    tags: set[str] = set()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            operation["operationId"] = names.get((method, path), camel(
                f"{method}_{tag_of(path, prefix)}"))
            tag = tag_of(path, prefix)
            operation["tags"] = [tag]
            tags.add(tag)
            if operation.get(ADMIN_ONLY):
                operation["summary"] = "Admin only. " + operation.get("summary", "")
            _declare_errors(path, method, operation, (method, path) in limited)
            _declare_http(path, method, operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    document["paths"] = _share_enums(document.get("paths", {}))
    for name in list(schemas):
        schemas[name] = _share_enums(schemas[name])
    for name, values in ENUMS.items():
        if name in schemas:
            raise RuntimeError(f"enum component {name} would replace a schema of that name")
        schemas[name] = {"type": "string", "enum": list(values)}
    for name, example in EXAMPLES.items():
        if name in schemas:
            schemas[name]["example"] = example
    document["tags"] = [{"name": tag, "description": TAG_DESCRIPTIONS.get(tag, tag)}
                        for tag in sorted(tags)]
    _drop_unused(document)
    return document
