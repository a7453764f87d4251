"""The one JSON error shape, and which requests get JSON rather than an HTML page.

Shared by the app-wide error handlers (:mod:`lts.web.errors`), the API blueprint
and the security layer (refusals of authz, hosts): it sits below all of them, so the
security helpers answer in the API's shape without importing a blueprint module.
"""

from __future__ import annotations

from flask import Response, jsonify, request

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
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
