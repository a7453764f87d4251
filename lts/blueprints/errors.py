"""One error handler that answers JSON to API clients and an HTML page to browsers."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

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
    if request.path.startswith("/api/") or request.path == "/healthz":
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


def _handle_http_exception(exc: HTTPException) -> tuple[Response | str, int]:
    """Render an HTTP error as JSON or HTML, keeping its status code."""
    status = exc.code or 500
    if wants_json():
        response, status = error_response(status, exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response, status
    return render_template("errors/error.html", code=status, title=exc.name,
                           message=exc.description), status


def _handle_unexpected(exc: Exception) -> tuple[Response | str, int]:
    """Log an unexpected error and answer a generic 500 that leaks nothing."""
    from flask import current_app

    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http_exception(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    """Attach the handlers to the app (all blueprints share them)."""
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
