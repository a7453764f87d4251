"""Small helpers shared by the resource modules: version headers (``ETag``/``If-Match``).

The acting user comes from the web layer (:func:`lts.web.request.actor`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request, url_for

from lts.blueprints.api._http import not_modified
from lts.security.authz import role_required
from lts.services.access import etag_of

F = TypeVar("F", bound=Callable[..., Any])

IF_MATCH_PARAM = {"in": "header", "name": "If-Match", "required": False,
                  "schema": {"type": "string"},
                  "description": "ETag of the version being edited; 409 when it is stale."}


def if_match() -> str | None:
    """The request's ``If-Match`` header, if any."""
    return request.headers.get("If-Match")


def with_etag(obj: Any, status: int = 200, *, shown: Any = None) -> Any:
    """Return ``obj`` for serialization with its ETag header (304 if the client has it).

    The 304 is decided before the body is dumped: a poller's unchanged object costs
    the read and its ownership check only. ``shown``: what to dump instead (``obj``
    with more values beside it); the ETag stays the row's, the one ``If-Match`` checks.
    """
    etag = etag_of(obj)
    return not_modified(etag) or (obj if shown is None else shown, status, {"ETag": etag})


def created(obj: Any, endpoint: str, **values: Any) -> tuple[Any, int, dict[str, str]]:
    """A 201 for a new object: its ``Location`` (``url_for(endpoint)``), and its ETag."""
    headers = {"Location": url_for(endpoint, **values)}
    if getattr(obj, "updated_at", None) is not None:
        headers["ETag"] = etag_of(obj)
    return obj, 201, headers


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


def admin_only(view: F) -> F:
    """Require the admin role, and mark the operation so in the document.

    The mark (``x-admin-only``) becomes a declared 403 and an "Admin only." summary
    (:mod:`lts.blueprints.api._document`): a client sees it without trying.
    """
    from lts.blueprints.api import bp

    return bp.doc(**{"x-admin-only": True})(role_required("admin")(view))  # type: ignore[no-any-return]
