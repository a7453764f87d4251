"""The JSON API, ``/api/v1``: one blueprint owning the prefix, its errors and its document.

The blueprint is a flask-smorest ``Blueprint``: routes declare their marshmallow schemas
(``@bp.arguments``, ``@bp.response``) and the OpenAPI 3 document served at
``/api/v1/openapi.json`` is generated from them. Errors always have the shape
``{"error": {"code", "message", "fields"}}``; bad input is a 4xx, never a 500.
Views only parse, call a service (``lts/services/``) and serialize.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, jsonify, request, url_for
from flask_smorest import Api, Blueprint
from marshmallow import Schema, ValidationError
from marshmallow.validate import Range
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import UnprocessableEntity

from lts.blueprints.api._http import init_blueprint_hooks, init_http
from lts.errors import ServiceError
from lts.http_errors import error_response
from lts.routing import IdConverter
from lts.schemas.common import MAX_ID, ErrorSchema, FastItems, body_text_problems, instance


class LtsParser(FlaskParser):
    """webargs' parser with two more refusals for JSON bodies (never a 500).

    Text is checked by the one input rule of forms and API
    (:func:`lts.schemas.common.text_problem`): control characters, which PostgreSQL
    cannot store (NUL) or which disguise a name, and lone surrogates, which no
    database can encode, are a 422 naming the field instead of a database error.
    """

    def _get_schema(self, argmap: Any, req: Any) -> Schema:
        """One shared instance per schema class (webargs builds one per request, ~0.06 ms)."""
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            return instance(argmap)
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        """Parse the body; too deep nesting is invalid JSON, unstorable text a 422."""
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "<body>", 0) from None
        problems = body_text_problems(data)
        if problems:
            raise ValidationError(problems)
        return data

    def _handle_invalid_json_error(self, error: Any, req: Any, *args: Any, **kwargs: Any
                                   ) -> Any:
        """Answer a body that is not JSON with our 400 and what the parser said."""
        raise ServiceError(f"the body is not valid JSON: {error.msg}")


bp = Blueprint("api", __name__, description="LTS JSON API")
bp.ARGUMENTS_PARSER = LtsParser()
init_blueprint_hooks(bp)
URL_PREFIX = "/api/v1"
API_VERSION = "1.0"
EXTENSION_KEY = "lts.api"


class LtsApi(Api):
    """flask-smorest's Api with LTS's error shape and without its own error handlers.

    The app-wide handlers (:mod:`lts.web.errors`) already answer JSON under
    ``/api``, a ``ServiceError`` included; only the documented error schema is changed here.
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Keep the app's own handlers (one error format everywhere)."""


def _fields_of(messages: Any) -> dict[str, Any]:
    """Flatten webargs' ``{"json": {...}, "query": {...}}`` into one field map."""
    if not isinstance(messages, dict):
        return {"_schema": [str(messages)]}
    flat: dict[str, Any] = {}
    for location, inner in messages.items():
        if location in ("json", "query", "path", "headers", "form", "files", "view_args") \
                and isinstance(inner, dict):
            flat.update(inner)
        else:
            flat[location] = inner
    return {k: v if isinstance(v, list | dict) else [str(v)] for k, v in flat.items()}


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError) -> Any:
    """Answer a schema validation failure: 422 naming every field."""
    return error_response(422, "the request is not valid", _fields_of(exc.messages))


@bp.errorhandler(UnprocessableEntity)
def _unprocessable(exc: UnprocessableEntity) -> Any:
    """Answer webargs' parsing failure (``@bp.arguments``): 422 naming every field."""
    data = getattr(exc, "data", None) or {}
    return error_response(422, "the request is not valid", _fields_of(data.get("messages", {})))


@bp.errorhandler(RecursionError)
def _too_deep(exc: RecursionError) -> Any:
    """A body nested deeper than the JSON parser goes (read before a view, e.g. a limit)."""
    return error_response(400, "the JSON body is nested too deeply")


@bp.errorhandler(UnicodeEncodeError)
def _unencodable(exc: UnicodeEncodeError) -> Any:
    """Text that cannot be encoded (lone surrogates) reached the database: a 422."""
    return error_response(422, "text must be valid Unicode (no lone surrogates)")


def page_body(page: Any, args: dict[str, Any]) -> dict[str, Any]:
    """A list envelope: the page's items, totals and relative links keeping the filters.

    A page past the end links back (``prev``) to the last page. A page found by cursor
    has no number: its ``next`` link is the next cursor's.
    """
    params = {k: v.isoformat() if hasattr(v, "isoformat") else v
              for k, v in args.items()
              if v is not None and k not in ("page", "per_page", "cursor")}
    # One url_for for the filters, the page numbers appended: building each of up to
    # five links through the URL map cost ~0.03 ms apiece.
    base = url_for(request.endpoint or "", **(request.view_args or {}), **params)
    joint = "&" if "?" in base else "?"

    def link(number: int) -> str:
        return f"{base}{joint}page={number}&per_page={page.per_page}"

    def cursor_link(cursor: str) -> str:
        return f"{base}{joint}cursor={cursor}&per_page={page.per_page}"

    cursor = getattr(page, "next_cursor", None)
    if getattr(page, "by_cursor", False):
        own = args.get("cursor")
        return {"items": page.items, "page": None, "per_page": page.per_page,
                "total": page.total, "pages": page.pages, "next_cursor": cursor,
                "links": {"self": cursor_link(own) if own else link(1), "first": link(1),
                          "last": link(page.pages), "prev": None,
                          "next": cursor_link(cursor) if cursor else None}}
    past_end = page.page > page.pages
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total, "pages": page.pages, "next_cursor": cursor,
            "links": {"self": link(page.page), "first": link(1), "last": link(page.pages),
                      "prev": link(page.pages) if past_end else (
                          link(page.page - 1) if page.has_prev else None),
                      "next": link(page.page + 1) if page.has_next else None}}


def _limited_operations(app: Flask) -> set[tuple[str, str]]:
    """``(method, path)`` of the API operations behind a Flask-Limiter limit (a 429)."""
    from flask_limiter.util import get_qualified_name

    from lts.blueprints.api._document import _flask_to_openapi
    from lts.extensions import limiter

    marked = limiter._marked_for_limiting  # the names its decorators registered
    found = {("post", f"{URL_PREFIX}/assets/{{asset_id}}/orders"),  # the order limit
             ("post", f"{URL_PREFIX}/positions/{{position_id}}/close")}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if rule.rule.startswith(URL_PREFIX + "/") and view is not None \
                and get_qualified_name(view) in marked:
            found |= {(method.lower(), _flask_to_openapi(rule.rule))
                      for method in rule.methods & {"POST"}}
    return found


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the current app: generated, then finished (ids, errors...)."""
    from lts.blueprints.api._document import finish_document

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    document = app.extensions[EXTENSION_KEY].spec.to_dict()
    return finish_document(document, app, URL_PREFIX, _limited_operations(app))


def _openapi_json() -> Response:
    """``GET /api/v1/openapi.json``: the document (needs a login or token, like the API)."""
    return jsonify(openapi_document())


def _fast_items_properties(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """Document a FastItems field as the array of its item schema it dumps."""
    if isinstance(field, FastItems):
        return {"type": "array", "items": self.resolve_nested_schema(field.item_schema)}
    return {}


def _exclusive_bounds(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """Document a ``Range`` that excludes its bound as exclusive (``> 0``, not ``>= 0``).

    apispec writes ``minimum: 0`` for ``Range(min=0, min_inclusive=False)``, which tells
    a client 0 is allowed; OpenAPI 3.0 says otherwise with ``exclusiveMinimum: true``.
    """
    found: dict[str, Any] = {}
    for validator in getattr(field, "validators", ()):
        if isinstance(validator, Range):
            if validator.min is not None and not validator.min_inclusive:
                found["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                found["exclusiveMaximum"] = True
    return found


def init_api(app: Flask) -> LtsApi:
    """Bind the API to ``app``: the blueprint, the document and its route.

    The bounded ``int`` converter is installed by the factory before any blueprint
    (:mod:`lts.routing`); here it is only documented.
    """
    api = LtsApi(app, spec_kwargs={
        "title": "LTS API", "version": API_VERSION, "openapi_version": "3.0.3",
        "servers": [{"url": "/"}],
        "info": {"description": "Live Trading System JSON API. Authenticate with "
                                "`Authorization: Bearer <token>` (POST /api/v1/auth/login)."},
        "security": [{"bearerAuth": []}],
    })
    api.register_converter(IdConverter, lambda _conv: {"type": "integer", "minimum": 0,
                                                       "maximum": MAX_ID})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.ma_plugin.converter.add_attribute_function(_fast_items_properties)
    api.ma_plugin.converter.add_attribute_function(_exclusive_bounds)
    api.register_blueprint(bp, url_prefix=URL_PREFIX)
    app.extensions[EXTENSION_KEY] = api
    init_http(app)
    app.add_url_rule(f"{URL_PREFIX}/openapi.json", "api_openapi", _openapi_json)
    docs.register_docs_page(app)
    return api


from lts.blueprints.api import (  # noqa: E402,F401  (routes attach to bp)
    audit,
    auth,
    backtests,
    config,
    docs,
    loop,
    orders,
    plugins,
    portfolios,
    statistics,
    users,
)
