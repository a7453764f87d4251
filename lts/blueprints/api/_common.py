"""Small helpers shared by the resource modules: version headers (``ETag``/``If-Match``).

The acting user comes from the web layer (:func:`lts.web.request.actor`).
"""

from __future__ import annotations

from typing import Any

from flask import request

from lts.services.access import etag_of

IF_MATCH_PARAM = {"in": "header", "name": "If-Match", "required": False,
                  "schema": {"type": "string"},
                  "description": "ETag of the version being edited; 409 when it is stale."}


def if_match() -> str | None:
    """The request's ``If-Match`` header, if any."""
    return request.headers.get("If-Match")


def with_etag(obj: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """Return ``obj`` for serialization with its ETag header."""
    return obj, status, {"ETag": etag_of(obj)}


class Extended:
    """An object plus a few attributes a response schema shows beside its own.

    ``@bp.response`` dumps what a view returns; this lets a view add a value (a token's
    raw secret, an audit row's username) without dumping by hand.
    """

    def __init__(self, obj: Any, **extra: Any) -> None:
        self._obj = obj
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)
