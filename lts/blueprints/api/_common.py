"""Small helpers shared by the resource modules: the acting user and version headers."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from lts.models import User
from lts.services.access import etag_of

IF_MATCH_PARAM = {"in": "header", "name": "If-Match", "required": False,
                  "schema": {"type": "string"},
                  "description": "ETag of the version being edited; 409 when it is stale."}


def actor() -> User:
    """The user making the request (browser session or bearer token)."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def if_match() -> str | None:
    """The request's ``If-Match`` header, if any."""
    return request.headers.get("If-Match")


def with_etag(obj: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """Return ``obj`` for serialization with its ETag header."""
    return obj, status, {"ETag": etag_of(obj)}
