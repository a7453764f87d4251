"""Small helpers shared by the resource modules: version headers (``ETag``/``If-Match``).

The acting user comes from the web layer (:func:`lts.web.request.actor`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from lts.services.access import etag_of

F = TypeVar("F", bound=Callable[..., Any])

IF_MATCH_PARAM = {"in": "header", "name": "If-Match", "required": False,
                  "schema": {"type": "string"},
                  "description": "ETag of the version being edited; 409 when it is stale."}


def if_match() -> str | None:
    """The request's ``If-Match`` header, if any."""
    return request.headers.get("If-Match")


def with_etag(obj: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """Return ``obj`` for serialization with its ETag header."""
    return obj, status, {"ETag": etag_of(obj)}


def documented(*, body: type | None = None, query: type | None = None,
               responses: dict[int, type | None] | None = None, anonymous: bool = False
               ) -> Callable[[F], F]:
    """Document a view that parses its own input (``load_json``) in the OpenAPI document.

    ``anonymous`` marks a public endpoint (no token needed). Nothing changes at run
    time: the body/query schema and the responses are only recorded for the document.
    """
    from lts.blueprints.api import bp

    def decorator(view: F) -> F:
        doc: dict[str, Any] = {}
        if body is not None:
            doc["requestBody"] = {"required": True,
                                  "content": {"application/json": {"schema": body}}}
        if anonymous:
            doc["security"] = []
        if query is not None:
            doc["parameters"] = [{"in": "query", "schema": query}]
        view = bp.doc(**doc)(view) if doc else view
        for status, schema in (responses or {}).items():
            view = bp.alt_response(status, schema=schema, success=True,
                                   description="success")(view)
        return view

    return decorator
