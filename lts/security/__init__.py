"""Wire authentication, CSRF, rate limits and security headers into an app.

:func:`init_security` is the one call ``create_app`` makes. Per request, in order:

1. a ``Bearer`` token on ``/api/`` authenticates the request (and only such a request
   skips CSRF); an invalid token is refused at once, never silently downgraded to the
   cookie;
2. otherwise the browser session cookie is checked against its sessions-table row
   (Flask-Login's user loader), so logout, revocation, password change and
   deactivation end it for real;
3. every route not marked :func:`~lts.security.authz.public` needs a user (anonymous
   calls are refused before anything else, so they learn nothing from CSRF errors);
4. CSRF is checked on every unsafe method, JSON calls riding on the cookie included.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, Request, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import current_user, session_protected
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest

from lts.extensions import csrf, login_manager
from lts.models import User, UserSession
from lts.plugins.aaa import EXTENSION_KEY, build_aaa_plugin, current_aaa
from lts.plugins.aaa.base import neutralise
from lts.security.authz import (
    audit,
    client_ip,
    is_api_request,
    unauthenticated,
)
from lts.security.headers import set_security_headers
from lts.security.limits import skip_limiter_hooks_unless_post
from lts.security.tokens import init_token_cache, token_cache

SESSION_KEY = "lts_sid"
PUBLIC_ENDPOINTS = frozenset({"static"})


def init_security(app: Flask) -> None:
    """Load the aaa plugin and install the login manager and request hooks."""
    from lts.plugins.registry import get_registry

    settings = app.config["LTS"]
    app.extensions[EXTENSION_KEY] = build_aaa_plugin(
        get_registry(app), settings, app.config["SECRET_KEY"], clock=app.config.get("LTS_CLOCK"))

    # CSRF is checked by our own hook, after bearer authentication has been decided.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["SESSION_PROTECTION"] = "strong"
    if settings["remember_me_days"] > 0:
        # Only remember-me sessions are permanent cookies; same flags as the session.
        app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=settings["remember_me_days"])
    app.config.update(REMEMBER_COOKIE_SECURE=settings["session_cookie_secure"],
                      REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")

    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.user_loader(_load_user_from_session)
    login_manager.unauthorized_handler(unauthenticated)
    session_protected.connect(_end_hijacked_session, app)

    init_token_cache(app)
    skip_limiter_hooks_unless_post(app)
    app.session_interface = CookieOnlyWhenSent()
    app.before_request(_authenticate_bearer)
    app.before_request(enforce_authentication)
    app.before_request(_check_csrf)
    app.after_request(set_security_headers)
    app.register_error_handler(CSRFError, _csrf_refused)
    for name in ("lts", "lts.audit"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NeutraliseFilter) for f in logger.filters):
            logger.addFilter(NeutraliseFilter())


class CookieOnlyWhenSent(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests without one.

    A bearer-token API call sends no cookie: its empty session then costs nothing to
    open (Flask built an itsdangerous serializer on every request to read nothing).
    Saving is unchanged (Flask's ``save_session`` builds its own signer when a
    session was actually written).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request carries no session cookie."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


class NeutraliseFilter(logging.Filter):
    """Escape CR/LF in log messages: request data must not forge extra log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, escaped; tracebacks (``exc_info``) are untouched."""
        message = record.getMessage()
        if any(ord(c) < 32 for c in message):
            record.msg, record.args = neutralise(message, limit=None), None
        return True


def _load_user_from_session(user_id: str) -> User | None:
    """Flask-Login's loader: the cookie's secret must match a live sessions row."""
    raw = session.get(SESSION_KEY)
    row = current_aaa().verify_session(raw) if raw else None
    if row is None or str(row.user_id) != str(user_id):
        # Drop the dead login but keep the CSRF secret: a form built earlier in this
        # request already carries a token derived from it.
        for key in (SESSION_KEY, "_user_id", "_fresh", "_id"):
            session.pop(key, None)
        return None
    g.lts_auth_row = row
    g.lts_auth_method = "web"
    return row.user


def _end_hijacked_session(sender: Flask, **_: Any) -> None:
    """Flask-Login saw the cookie from another address/browser: revoke its row too."""
    raw = session.pop(SESSION_KEY, None)
    row = current_aaa().verify_session(raw) if raw else None
    if row is not None:
        current_aaa().revoke_token(row.id)
        audit("session.hijack_suspected", f"session:{row.id}", None, "denied", user=row.user)


def _authenticate_bearer() -> Any:
    """Authenticate ``/api/`` requests carrying ``Authorization: Bearer <token>``."""
    # ``g`` belongs to the app context, which a caller (a test, a CLI command) may share
    # between requests: never let one request inherit another's user.
    for key in ("_login_user", "lts_auth_row", "lts_auth_method", "csrf_token", "csrf_valid"):
        g.pop(key, None)
    header = request.headers.get("Authorization", "")
    if not header or not is_api_request():
        return None
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    row = _verified_token(raw.strip())
    if row is None:
        audit("token.rejected", request.path, None, "denied", user=None)
        return unauthenticated(audited=True)
    # Flask-Login reads the request's user from g; the cookie session is never consulted.
    g._login_user = row.user
    g.lts_auth_row = row
    g.lts_auth_method = "token"
    return None


def _verified_token(raw: str) -> UserSession | None:
    """The live token row for ``raw``: from the worker's cache, else from the aaa plugin.

    See :mod:`lts.security.tokens` for how long a cached token is trusted.
    """
    aaa = current_aaa()
    cache = token_cache()
    row = cache.get(raw, aaa.clock())
    if row is not None:
        return row
    generation = cache.generation()
    row = aaa.verify_token(raw)
    if row is not None:
        cache.put(raw, row, generation, aaa.clock())
    return row


def _check_csrf() -> None:
    """CSRF on every unsafe method, except bearer-token calls and JSON credential posts."""
    if request.method not in current_app.config.get(
            "WTF_CSRF_METHODS", ("POST", "PUT", "PATCH", "DELETE")):
        return
    if not request.endpoint or g.get("lts_auth_method") == "token":
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "_lts_csrf_json_exempt", False) and request.is_json:
        return
    csrf.protect()


def enforce_authentication() -> Any:
    """Refuse anonymous requests to every route not marked public."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None  # 404/405 are answered by the error handlers
    view = current_app.view_functions.get(endpoint)
    if getattr(view, "_lts_public", False):
        return None
    if not current_user.is_authenticated:
        return unauthenticated()
    return None


def _csrf_refused(exc: CSRFError) -> Any:
    """Audit a missing or wrong CSRF token, then answer 400 like any bad request.

    The answer comes from the app's own handler of HTTP errors (JSON or page), found
    through Flask rather than imported: security knows no blueprint module.
    """
    audit("csrf.refused", request.path, {"method": request.method, "reason": exc.description},
          "denied")
    return current_app.handle_http_exception(BadRequest(exc.description))


def login_browser_session(user: User, *, remember: bool = False) -> None:
    """Start a browser session: rotate the cookie and bind it to a new sessions row."""
    from flask_login import login_user

    aaa = current_aaa()
    old = session.get(SESSION_KEY)
    if old:
        previous = aaa.verify_session(old)
        if previous is not None:
            aaa.revoke_token(previous.id)
    session.clear()  # rotation: nothing of the anonymous session survives the login
    g.pop("csrf_token", None)  # Flask-WTF caches the old session's token per request
    issued = aaa.open_session(user, ip=client_ip(), remember=remember)
    session[SESSION_KEY] = issued.raw
    session.permanent = bool(remember and current_app.config["LTS"]["remember_me_days"] > 0)
    login_user(user, fresh=True)
    g.lts_auth_row = issued.row
    g.lts_auth_method = "web"


def logout_browser_session() -> None:
    """End the browser session for real: revoke its row and clear the cookie."""
    from flask_login import logout_user

    row = g.get("lts_auth_row")
    if row is not None and g.get("lts_auth_method") == "web":
        current_aaa().revoke_token(row.id)
    logout_user()
    session.clear()
