"""HTTP semantics of ``/api/v1`` that hold for every resource, installed in one place.

* A body that is not JSON (a form post, ``text/plain``) is a 415 naming what was sent,
  not a 422 about "missing" fields the client did send.
* A single-object GET carries an ``ETag``; ``If-None-Match`` with it answers 304 with no
  body (a poller re-reads nothing that did not change). Versioned rows use their
  version ETag (:func:`lts.services.access.etag_of`, the one ``If-Match`` checks);
  others get a digest of the body.
* CORS is off unless ``cors_allowed_origins`` lists the calling page's origin: then its
  preflight is answered and the answers carry ``Access-Control-Allow-Origin``.
* A successful answer carries no ``Retry-After`` (Flask-Limiter adds one to every limited
  response; on a 2xx it told a client to wait for nothing), and ``RateLimit-Reset`` is
  given in seconds from now, as ``Retry-After`` and the IETF RateLimit fields count.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint

from lts.config import split_origins
from lts.http_errors import error_response

API_PATH = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = ("Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, "
                   "X-Request-ID")
EXPOSED_HEADERS = ("ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, "
                   "RateLimit-Reset, X-Request-ID")
PREFLIGHT_MAX_AGE = "600"


def _has_body() -> bool:
    """Whether the request sends a body (a length above 0, or chunked)."""
    return bool(request.content_length) or \
        request.headers.get("Transfer-Encoding", "").lower() == "chunked"


def refuse_non_json_body() -> Any:
    """415 for a write whose body is not JSON (before parsing, before any work)."""
    if request.method in BODY_METHODS and _has_body() and not request.is_json:
        sent = request.mimetype or "no Content-Type"
        return error_response(415, f"the body must be application/json, not {sent}",
                              {"Content-Type": ["must be application/json"]})
    return None


def not_modified(etag: str) -> Response | None:
    """A 304 for ``etag`` when the request's ``If-None-Match`` names it (GET/HEAD only)."""
    if request.method not in ("GET", "HEAD") or not request.if_none_match:
        return None
    if request.if_none_match.contains_weak(etag.strip('"').removeprefix('W/"')):
        return Response(status=304, headers={"ETag": etag})
    return None


def conditional_get(response: Response) -> Response:
    """Give a single-object GET an ETag (a body digest if the view set none); honour 304."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200 \
            or not request.view_args or not response.is_json:
        return response
    etag = response.headers.get("ETag")
    if etag is None:
        digest = hashlib.sha256(response.get_data()).hexdigest()[:32]
        etag = response.headers["ETag"] = f'"{digest}"'
    return not_modified(etag) or response


def _allowed_origin() -> str | None:
    """The request's ``Origin`` when ``cors_allowed_origins`` lists it, else None."""
    origin = request.headers.get("Origin")
    if not origin or not request.path.startswith(API_PATH):
        return None
    allowed = split_origins(current_app.config["LTS"].get("cors_allowed_origins", ""))
    return origin if origin.rstrip("/") in allowed else None


def cors_preflight() -> Any:
    """Answer an allowed origin's preflight (``OPTIONS`` + ``Access-Control-Request-Method``).

    It runs before authentication: a browser sends a preflight without credentials.
    """
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = _allowed_origin()
    if origin is None:
        return None
    return Response(status=204, headers={
        "Access-Control-Allow-Origin": origin, "Vary": "Origin",
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE})


def cors_headers(response: Response) -> Response:
    """Let an allowed origin's page read the answer (errors included)."""
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.vary.add("Origin")
    return response


def rate_limit_fields(response: Response) -> Response:
    """No ``Retry-After`` on a success; ``RateLimit-Reset`` as seconds from now.

    Registered to run after every other hook, Flask-Limiter's included.
    """
    if response.status_code < 300:
        response.headers.pop("Retry-After", None)
    reset = response.headers.get("RateLimit-Reset")
    if reset and reset.isdigit() and int(reset) > 1_000_000_000:  # an epoch second
        response.headers["RateLimit-Reset"] = str(max(0, int(reset) - int(time.time())))
    return response


def init_blueprint_hooks(bp: Blueprint) -> None:
    """The blueprint's hooks (once, at import: a blueprint takes none once registered)."""
    bp.before_request(refuse_non_json_body)
    bp.after_request(conditional_get)


def init_http(app: Flask) -> None:
    """Install the app's hooks: CORS and the rate-limit fields (per app built).

    The preflight hook goes just before authentication; the rate-limit one first in the
    list, which Flask runs last, after Flask-Limiter added its headers.
    """
    from lts.security import enforce_authentication

    hooks = app.before_request_funcs.setdefault(None, [])
    position = hooks.index(enforce_authentication) if enforce_authentication in hooks \
        else len(hooks)
    hooks.insert(position, cors_preflight)
    app.after_request(cors_headers)
    app.after_request_funcs.setdefault(None, []).insert(0, rate_limit_fields)
