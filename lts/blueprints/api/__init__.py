"""The JSON API, ``/api/v1``: one blueprint owning the prefix and its JSON errors.

Later resources add a module here importing ``bp``. Errors always have the shape
``{"error": {"code", "message", "fields"}}``; bad input is a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from marshmallow import Schema, ValidationError

from lts.blueprints.errors import error_response
from lts.services.errors import ServiceError

bp = Blueprint("api", __name__)
URL_PREFIX = "/api/v1"


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Any:
    """Answer a broken business rule with its status, message and fields."""
    return error_response(exc.status, exc.message, exc.fields, exc.code)


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError) -> Any:
    """Answer a schema validation failure: 422 naming every field."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    fields = {k: v if isinstance(v, list) else [str(v)] for k, v in messages.items()}
    return error_response(422, "the request is not valid", fields)


def load_json(schema: Schema) -> dict[str, Any]:
    """Parse the body as a JSON object and validate it with ``schema``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ServiceError("expected a JSON object body (Content-Type: application/json)")
    return schema.load(body)


def load_args(schema: Schema) -> dict[str, Any]:
    """Validate the query string with ``schema``."""
    return schema.load(request.args.to_dict())


from lts.blueprints.api import audit, auth, users  # noqa: E402,F401  (routes attach to bp)
