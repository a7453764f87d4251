"""The one authorization helper every view uses; the aaa plugin decides.

* :func:`public` marks the few views anyone may call (login, reset, health...). Every
  other view needs a logged-in user or a bearer token: that is enforced for all routes
  by :func:`lts.security.enforce_authentication`, so a new route is protected
  without anyone remembering to decorate it.
* :func:`login_required`, :func:`permission_required` and :func:`role_required` answer
  401/403 JSON to ``/api``, ``HX-Redirect`` to HTMX and a login redirect (with a
  checked relative ``next``) to browsers.
* Single objects are loaded by :func:`lts.services.access.load_owned` (views reach it
  through :func:`lts.web.owned.get_owned_or_404`): someone else's object answers
  404, exactly like a missing one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user

from lts.http_errors import error_response
from lts.models import UserSession
from lts.plugins.aaa import current_aaa

F = TypeVar("F", bound=Callable[..., Any])

def public(view: F) -> F:
    """Mark a view as reachable without logging in (keep this list short)."""
    view._lts_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt_json(view: F) -> F:
    """Skip CSRF for JSON bodies on a credential endpoint used without a session.

    Only for endpoints that take credentials in the body and ignore the cookie
    (``/api/v1/auth/login``...): a cross-site form cannot send ``application/json``
    without a CORS preflight, which LTS never grants.
    """
    view._lts_csrf_json_exempt = True  # type: ignore[attr-defined]
    return view


def is_api_request() -> bool:
    """Say whether the request is for the JSON API: under ``/api/``, except the docs page.

    ``/api/docs`` is a page for people (Swagger UI): an anonymous visitor is sent to
    the login page and back, not answered 401 JSON.
    """
    return request.path.startswith("/api/") and request.endpoint != "api_docs"


def is_htmx_request() -> bool:
    """Say whether htmx sent the request (``HX-Request: true``)."""
    return request.headers.get("HX-Request") == "true"


def client_ip() -> str | None:
    """Return the client address as the WSGI server saw it (ProxyFix if proxied)."""
    return request.remote_addr


def is_safe_next(target: str | None) -> bool:
    """Accept only a relative path on this site: no scheme, host, ``//`` or backslash."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(c) < 32 for c in target) or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default_endpoint: str = "dashboard.overview") -> str:
    """``target`` when it is safe, else the URL of ``default_endpoint``."""
    return target if is_safe_next(target) else url_for(default_endpoint)


_CURRENT = object()


def audit(action: str, resource: str | None = None, details: Mapping[str, Any] | None = None,
          outcome: str = "ok", *, user: Any = _CURRENT) -> None:
    """Write an audit row for the current request (user and client address filled in).

    ``user`` defaults to the request's user; pass ``None`` for an anonymous event.
    """
    if user is _CURRENT:
        user = current_user._get_current_object() if current_user.is_authenticated else None
    current_aaa().account(user, action, resource, details, outcome, ip=client_ip())


def unauthenticated(*, audited: bool = False) -> Response | tuple[Response, int]:
    """Answer an anonymous request for a protected route (``audited``: row already written)."""
    login_url = url_for("auth.login")
    if is_api_request():
        # Scripts probing the API are worth a row; browsers whose session ended are not.
        if not audited:
            audit("access.unauthenticated", request.path, {"method": request.method},
                  "denied", user=None)
        response, status = error_response(401, "authentication required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="lts"'
        return response, status
    if is_htmx_request():
        response = Response(status=401)
        response.headers["HX-Redirect"] = login_url
        return response
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if target and is_safe_next(target) and target != "/":
        login_url = url_for("auth.login", next=target)
    return redirect(login_url)


def forbidden(action: str) -> Response | tuple[Response, int]:
    """Audit a refused action and answer 403 (JSON for the API, error page otherwise)."""
    audit("access.denied", request.path, {"action": action, "method": request.method},
          "denied")
    if is_api_request():
        return error_response(403, "you may not do this")
    abort(403)


def login_required(view: F) -> F:
    """Require a logged-in (and active) user; explicit twin of the global rule."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return unauthenticated()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def permission_required(action: str) -> Callable[[F], F]:
    """Require that the aaa plugin allows ``action`` (no object) to the current user."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return unauthenticated()
            if not current_aaa().authorize(current_user._get_current_object(), action):
                return forbidden(action)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def role_required(role: str) -> Callable[[F], F]:
    """Require a role, asked of the plugin as the action ``<role>.access``."""
    return permission_required(f"{role}.access")


REAUTH_SESSION_KEY = "lts_reauth_at"


def password_proven_at() -> datetime | None:
    """When this request's session last proved the password.

    A bearer token: its creation (API login or a re-authenticated creation). A browser
    session: its login, or a later re-authentication recorded in the session.
    """
    row = current_session()
    if row is None:
        return None
    proven = row.created_at
    stamp = session.get(REAUTH_SESSION_KEY) if auth_method() == "web" else None
    if stamp:
        proven = max(proven, datetime.fromisoformat(stamp))
    return proven


def needs_reauth() -> bool:
    """Whether the current user must type the password again (last proof > 10 min)."""
    user = current_user._get_current_object()
    return current_aaa().needs_reauth(user, password_proven_at())


def reauthenticate(password: str | None) -> bool:
    """Ask for the password again before a sensitive action (token, broker keys).

    True when this session proved the password in the last 10 minutes or ``password``
    is right (then recorded for a browser session); a wrong password counts towards
    the lockout like a failed login.
    """
    if not needs_reauth():
        return True
    aaa = current_aaa()
    if not password or not aaa.check_password(current_user._get_current_object(), password,
                                              ip=client_ip()):
        return False
    if auth_method() == "web":
        session[REAUTH_SESSION_KEY] = aaa.clock().isoformat()
    return True


def current_session() -> UserSession | None:
    """Return the sessions row authenticating this request (browser session or token)."""
    return g.get("lts_auth_row")


def auth_method() -> str | None:
    """``web`` (cookie), ``token`` (bearer) or None (anonymous)."""
    return g.get("lts_auth_method")


def app_setting(key: str) -> Any:
    """One merged LTS setting of the current app."""
    return current_app.config["LTS"][key]
