"""Errors of the business rules; the pages, API and CLI each turn them into their own answer.

Raised by the services and by the engine's manual-order path (``lts.trading.manual``),
so they live below both (STYLE's import order: services -> trading -> here).
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every rule violation a service reports to its caller."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(ServiceError):
    """Input broke a rule; ``fields`` names each offending field and why."""

    status = 422
    code = "validation_error"


class NotFound(ServiceError):
    """The object does not exist, or the caller may not know it exists."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The change clashes with what is stored (duplicate name, stale version)."""

    status = 409
    code = "conflict"


class PreconditionFailed(Conflict):
    """``If-Match`` names a version that is no longer current (HTTP 412).

    A Conflict, so callers that catch a stale edit keep doing so; HTTP says 412 here,
    409 staying for state conflicts (closing a closed position, a duplicate name).
    """

    status = 412
    code = "precondition_failed"


class Forbidden(ServiceError):
    """The caller is known but not allowed to do this."""

    status = 403
    code = "forbidden"


class AccountLocked(Forbidden):
    """The account is inside a lockout period: no password is checked until it ends."""

    code = "account_locked"
class Refused(ServiceError):
    """A refusal whose answer says more than a message: extra body keys and headers.

    ``details`` are added to the error body (e.g. which risk check refused, the id of
    the order row the refusal left); ``headers`` to the answer (e.g. ``Retry-After``).
    ``final`` tells an idempotent retry whether this answer is the outcome to replay
    (something was recorded) or a "not now" the retry should run past.
    """

    final = False

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None, *,
                 details: dict[str, object] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, fields)
        self.details = details or {}
        self.headers = headers or {}


class RiskRefused(Refused):
    """The pre-trade risk checks refused an order; the refused order row was stored."""

    status = 422
    code = "risk_rejected"
    final = True


class RateLimited(Refused):
    """Too many orders in the window: try again after ``Retry-After`` seconds."""

    status = 429
    code = "rate_limited"
