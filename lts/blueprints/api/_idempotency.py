"""``@idempotent``: the ``Idempotency-Key`` header on an order-creating POST (SPEC 2a).

Put it right under the route decorator, so it sees the request before the body is
parsed and the final answer after it is serialised::

    @bp.post("/positions/<int:position_id>/close")
    @idempotent
    @bp.response(201, ManualOrderResultSchema)
    def close_position(position_id): ...

It also documents the header and its 409/422 answers in the OpenAPI document.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, request

from lts.blueprints.api import bp
from lts.errors import Refused
from lts.extensions import db
from lts.schemas.common import ErrorSchema
from lts.security.authz import client_ip
from lts.services import idempotency
from lts.web.request import actor

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY_PARAM = {
    "in": "header", "name": idempotency.HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": "^[\\x20-\\x7E]+$"},
    "description": "Makes a retry safe: the same key and the same request within 24 h "
                   "return the first answer (same status and body, header "
                   "`Idempotent-Replayed: true`) and never place a second order; a "
                   "duplicate sent while the first runs waits for its answer. The same key "
                   "with another request is a 422 `idempotency_key_reused`; a first "
                   "request still running after 30 s makes it a 409 "
                   "`idempotency_key_in_use`. Keys are per user, 1-255 printable ASCII.",
}


def idempotent(view: F) -> F:
    """Make ``view`` safe to retry with an ``Idempotency-Key`` (see the module doc)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(idempotency.HEADER)
        if key is None:
            return view(*args, **kwargs)
        idempotency.check_key(key)
        claim = idempotency.claim(
            actor(), key,
            idempotency.fingerprint(request.method, request.path, request.get_data()),
            ip=client_ip(), wait_seconds=float(current_app.config.get(
                "IDEMPOTENCY_WAIT_SECONDS", idempotency.DEFAULT_WAIT_SECONDS)))
        if claim.answer is not None:
            return _replay(claim.answer)
        response, keep = _run(view, args, kwargs)
        try:
            idempotency.finish(claim.row_id, response.status_code,
                               response.get_data(as_text=True), keep=keep)
        except Exception:
            # The order's own outcome stands; the key stays claimed, so a retry is told
            # "in use" (409) and never places a second order.
            db.session.rollback()
            log.exception("could not store the answer for idempotency key row %s",
                          claim.row_id)
        return response

    documented = bp.doc(parameters=[IDEMPOTENCY_KEY_PARAM])(wrapper)
    documented = bp.alt_response(409, schema=ErrorSchema,
                                 description="Idempotency-Key still in use")(documented)
    return documented  # type: ignore[return-value]


def _run(view: Callable[..., Any], args: Any, kwargs: Any) -> tuple[Response, bool]:
    """Run the view and turn its outcome into the final answer, and whether to keep it.

    Errors become their answers here (not later, in Flask) so that the answer stored is
    the one sent. Kept: successes, server errors (whether an order went out is unknown,
    so a retry must not run again) and refusals that recorded something; released:
    other client errors and "not now" refusals, which changed nothing.
    """
    error: Exception | None = None
    try:
        rv = view(*args, **kwargs)
    except Exception as exc:  # every error: its answer is what we store or release
        db.session.rollback()
        error = exc
        rv = current_app.handle_user_exception(exc)
    response = current_app.make_response(rv)
    if response.status_code >= 500:
        return response, True
    if error is None:
        return response, response.status_code < 400
    return response, isinstance(error, Refused) and error.final


def _replay(answer: idempotency.Answer) -> Response:
    """The stored answer, byte for byte, marked as a replay."""
    response = Response(answer.body, status=answer.status_code, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response
