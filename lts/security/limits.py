"""Rate limits on credential endpoints (Flask-Limiter), per client address and per username.

The rate is the ``login_rate_limit`` setting. Counters live in Redis when ``redis_url``
is set (shared by all workers) and in process memory otherwise. Limits are shared
between the login page and the API login, so switching endpoint gains nothing.

In memory is right for one process only: gunicorn with N workers (or N hosts) keeps N
separate counters, and a client whose requests land on different workers gets N times
the rate; a restarted worker forgets its counts. Deployments with several workers set
``LTS_REDIS_URL`` (tests/system/test_ops_redis_limits.py proves two workers share one
budget). Should Redis go away, counting falls back to memory per worker until it is
back (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``), and ``/readyz`` reports it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user

from lts.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])


def login_rate() -> str:
    """Return the configured rate, e.g. ``10 per minute``."""
    return str(current_app.config["LTS"]["login_rate_limit"])


def _submitted(field: str, longest: int) -> str:
    """``field`` of the form (or else of a JSON body): stripped, lower case, ``longest`` max."""
    value = request.form.get(field)
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get(field) if isinstance(body, dict) else None
    return str(value or "").strip().lower()[:longest]


def username_key() -> str:
    """Rate-limit key of the username being tried (form field or JSON body)."""
    return f"username:{_submitted('username', 64)}"


def identifier_key() -> str:
    """Rate-limit key of the account a reset is asked for (form field or JSON body).

    Case and outer spaces are ignored, so ``Alice`` and `` alice`` share one budget. An
    unknown identifier is limited exactly like a known one: the answer says nothing.
    The key is the text, not the account it names: a username and its email sharing a
    budget would let anyone test which email belongs to which username.
    """
    return f"account:{_submitted('identifier', 254)}"


def current_username_key() -> str:
    """The logged-in user's key in the login scope (``username:<name>``).

    Guessing the current password on the password-change form then spends the same
    budget as guessing it on the login form.
    """
    if current_user.is_authenticated:
        return f"username:{current_user.username.lower()[:64]}"
    return f"ip:{get_remote_address()}"


def session_key() -> str:
    """Rate-limit key of the browser session or API token making the request."""
    from lts.security.authz import current_session

    row = current_session()
    return f"session:{row.id}" if row is not None else f"ip:{get_remote_address()}"


def user_key() -> str:
    """Rate-limit key of the logged-in user (token creation)."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{get_remote_address()}"


def _audit_breach(limit: RequestLimit) -> None:
    """Audit a refused attempt (no secrets: the limit and the path, not the body)."""
    from lts.security.authz import audit

    user = current_user._get_current_object() if current_user.is_authenticated else None
    audit("rate_limited", request.path, {"limit": str(limit.limit)}, "denied", user=user)


@limiter.request_filter
def _not_a_post() -> bool:
    """Skip Flask-Limiter's per-request work on everything but POST.

    Every limit here is on POST (see :func:`_limited`); resolving the limits of each
    GET of the API and the dashboard found none, at ~0.1 ms a request.
    """
    return request.method != "POST"


def skip_limiter_hooks_unless_post(app: Flask) -> None:
    """Run Flask-Limiter's three per-request hooks on POST requests only.

    Every limit here is on POST (see :func:`_limited`); :func:`_not_a_post` already
    makes its checks find none on other methods, but the hooks still named the view,
    looked for exemptions, then injected headers and reset a context for nothing
    (~25 us of every GET). Call after ``limiter.init_app(app)``.
    """
    def is_limiter_hook(hook: Any) -> bool:
        owner = getattr(hook, "__self__", None)
        if isinstance(hook, functools.partial):
            owner = hook.args[0] if hook.args else None
        return owner is limiter

    def before(hook: Callable[[], Any]) -> Callable[[], Any]:
        @functools.wraps(hook)
        def run() -> Any:
            return hook() if request.method == "POST" else None
        return run

    def after(hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
        def run(response: Response) -> Response:
            return hook(response) if request.method == "POST" else response
        return run

    def teardown(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(exc: Any) -> Any:
            return hook(exc) if request.method == "POST" else None
        return run

    for table, wrap in ((app.before_request_funcs, before), (app.after_request_funcs, after),
                        (app.teardown_request_funcs, teardown)):
        hooks = table.get(None, [])
        hooks[:] = [wrap(hook) if is_limiter_hook(hook) else hook  # type: ignore[operator]
                    for hook in hooks]


def _limited(view: F, prefix: str, second_key: Callable[[], str]) -> F:
    """Apply the shared per-address and per-``second_key`` limits to POSTs of ``view``."""
    view = limiter.shared_limit(login_rate, scope=f"{prefix}-ip", key_func=get_remote_address,
                                methods=["POST"], on_breach=_audit_breach)(view)
    return limiter.shared_limit(login_rate, scope=f"{prefix}-user", key_func=second_key,
                                methods=["POST"], on_breach=_audit_breach)(view)


def login_limited(view: F) -> F:
    """Limit POSTs per client address and per username (scopes shared by login routes)."""
    return _limited(view, "login", username_key)


def credential_limited(view: F) -> F:
    """Limit POSTs of other credential forms (reset, register, tokens) per address and user."""
    return _limited(view, "credential", user_key)


def reset_rate() -> str:
    """Return the per-account rate of password-reset requests, e.g. ``3 per hour``."""
    return str(current_app.config["LTS"]["reset_rate_limit"])


def password_change_limited(view: F) -> F:
    """Limit password changes like logins: per address, per user and per session/token.

    The address and user scopes are the login's own: a current password guessed here
    spends the budget of the login form (issue 11, finding 2).
    """
    view = _limited(view, "login", current_username_key)
    return limiter.shared_limit(login_rate, scope="password-change-session", key_func=session_key,
                                methods=["POST"], on_breach=_audit_breach)(view)


def reset_limited(view: F) -> F:
    """Limit reset requests per address and user, and per account asked for.

    Per address only, anyone could fill one person's mailbox from many addresses
    (issue 11, finding 13); ``reset_rate_limit`` caps the mails one account receives.
    """
    view = credential_limited(view)
    return limiter.shared_limit(reset_rate, scope="reset-account", key_func=identifier_key,
                                methods=["POST"], on_breach=_audit_breach)(view)
