"""The one JSON error shape, and which requests get JSON rather than an HTML page.

Shared by the app-wide error handlers (:mod:`lts.web.errors`), the API blueprint
and the security layer (refusals of authz, hosts): it sits below all of them, so the
security helpers answer in the API's shape without importing a blueprint module.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def wants_json() -> bool:
    """API paths, and clients that prefer JSON to HTML, get JSON errors."""
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def error_response(status: int, message: str, fields: dict | None = None,
                   code: str | None = None, details: dict | None = None
                   ) -> tuple[Response, int]:
    """Build the one JSON error shape: ``{"error": {"code", "message", "fields"}}``.

    ``details`` adds keys beside those three (a refusal's check, the order it stored).
    """
    body = {"error": {"code": code or ERROR_CODES.get(status, "error"),
                      "message": message, "fields": fields or {}, **(details or {})}}
    return jsonify(body), status


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's own error answers in the API's JSON shape (not an HTML page).

    gunicorn answers what it refuses before the app sees it (a request line over
    ``limit_request_line``: 414; a malformed line or header: 400) with its own HTML.
    The request's path is unknown then, so every such answer is JSON: a client of the
    API gets the one error shape, a browser a short readable text.
    """
    from gunicorn.util import write_nonblock

    body = json.dumps({"error": {"code": ERROR_CODES.get(status_int, "error"),
                                 "message": mesg or reason, "fields": {}}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    write_nonblock(sock, head.encode("latin1") + body)


def install_gunicorn_json_errors(worker: Any = None) -> None:
    """Make this gunicorn worker write its own refusals as JSON (``post_worker_init``).

    gunicorn has no setting for the body of these answers; its workers call
    ``gunicorn.util.write_error`` by module attribute, so replacing it in the worker
    process is the one place to change them all.
    """
    import gunicorn.util

    gunicorn.util.write_error = write_json_error
