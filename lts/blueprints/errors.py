"""One error handler that answers JSON to API clients and an HTML page to browsers."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from lts.http_errors import error_response, wants_json


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
