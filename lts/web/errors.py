"""The app-wide error handlers: one answer per error, shaped by what the client asked for.

Content negotiation (microblog's model): API paths and JSON clients get the one JSON
error shape (:func:`lts.http_errors.error_response`), htmx gets a toast, a browser a
page. Views raise; they never translate a :class:`lts.errors.ServiceError` by hand:

- JSON: ``{"error": {"code", "message", "fields", ...details}}`` with the rule's status
  (a :class:`lts.errors.Refused` adds its details and headers, e.g. ``Retry-After``);
- htmx: the message as a toast (out-of-band swap), ``HX-Reswap: none`` so the element
  the action targeted stays as it was (nothing changed), status 200 because htmx drops
  the body of an error status, and ``HX-Trigger`` so polled sections refresh;
- page: a GET shows the error page with the rule's status; a form post flashes the
  message and goes back (303) to the page it came from.

``NotFound`` is the 404 everywhere (someone else's object looks missing), like an
unknown URL.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, flash, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.exceptions import NotFound as HTTPNotFound

from lts.errors import NotFound, Refused, ServiceError
from lts.http_errors import error_response, wants_json
from lts.web.request import ORDERS_CHANGED, back_url, is_htmx

#: The page a failed form post goes back to when it has no same-site Referer.
FALLBACK_ENDPOINT = "dashboard.overview"


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
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _handle_http_exception(InternalServerError())


def service_error_json(exc: ServiceError) -> tuple[Response, int]:
    """The JSON answer to a broken rule: its status, code, message, fields (and details)."""
    details = exc.details if isinstance(exc, Refused) else None
    response, status = error_response(exc.status, exc.message, exc.fields, exc.code, details)
    if isinstance(exc, Refused):
        response.headers.update(exc.headers)
    return response, status


def _handle_service_error(exc: ServiceError) -> tuple[Response | str, int] | Response:
    """Answer a broken business rule as JSON, an htmx toast or a page (see the module)."""
    if wants_json():
        return service_error_json(exc)
    if isinstance(exc, NotFound):
        return _handle_http_exception(HTTPNotFound())
    flash(exc.message, "danger")
    if is_htmx():
        response = make_response(render_template("partials/_oob_toasts.html"), 200)
        response.headers["HX-Reswap"] = "none"
        response.headers["HX-Trigger"] = ORDERS_CHANGED
        return response
    if request.method in ("GET", "HEAD"):
        return render_template("errors/error.html", code=exc.status, title="Not done",
                               message=exc.message), exc.status
    response = make_response("", 303)
    response.headers["Location"] = back_url(FALLBACK_ENDPOINT)
    return response


def register_error_handlers(app: Flask) -> None:
    """Attach the handlers to the app (every blueprint shares them)."""
    app.register_error_handler(ServiceError, _handle_service_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
