"""LTS, the Live Trading System: the application factory.

Nothing here reads configuration at import time and no global ``app`` exists: every
process (gunicorn worker, CLI command, test) builds its own app with
:func:`create_app`, passing its configuration in.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from lts.config import ConfigSources, merge_config
from lts.json_provider import FastJSONProvider
from lts.logging_setup import configure_logging
from lts.version import __version__ as __version__  # the package's conventional attribute

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    instance_path: str | os.PathLike[str] | None = None,
    start_loop: bool = False,
) -> Flask:
    """Build a configured LTS application.

    ``config`` is an already merged configuration (the CLI merges its layers once and
    passes the result); without it, defaults and the ``LTS_*`` environment are merged
    here. ``overrides`` go on top: lower-case keys are LTS settings, validated like any
    other layer; upper-case keys are raw Flask settings such as ``TESTING``.

    ``start_loop`` starts the trading loop in this process when ``loop_enabled`` is on.
    Only server processes ask for it (gunicorn workers, ``wsgi.py``): CLI commands and
    tests never run a background loop unless they start it themselves.
    """
    from lts.plugins.registry import EXTENSION_KEY as PLUGINS_KEY
    from lts.plugins.registry import SettingsDiscovery

    overrides = dict(overrides or {})
    flask_overrides = {k: v for k, v in overrides.items() if k.isupper()}
    setting_overrides = {k: v for k, v in overrides.items() if not k.isupper()}
    # Keys no LTS setting names may be settings a plugin declares: discovery decides.
    plugins = SettingsDiscovery()
    if config is None:
        settings = merge_config(ConfigSources(environ=os.environ), setting_overrides,
                                plugin_settings=plugins)
    else:
        settings = merge_config(ConfigSources(), {**config, **setting_overrides},
                                plugin_settings=plugins)

    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
    )
    app.json = FastJSONProvider(app)
    _remember_sync_wrappers(app)
    _apply_settings(app, settings)
    app.config.update(flask_overrides)
    if plugins.registry is not None:
        app.extensions[PLUGINS_KEY] = plugins.registry
    configure_logging(settings["log_format"], settings["log_level"], settings["log_file"])

    _init_extensions(app)
    _init_write_mode(app)
    _register_blueprints(app)
    _init_security(app)
    _init_request_ids(app)
    if start_loop and settings["loop_enabled"]:
        from lts.trading.loop import start_loop as start_trading_loop

        start_trading_loop(app)
    return app


def _apply_settings(app: Flask, settings: dict[str, Any]) -> None:
    """Translate LTS settings into the Flask and extension settings they drive."""
    from lts.database import engine_options, resolve_database_url

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    database_url = resolve_database_url(settings["database_url"], PROJECT_ROOT)
    settings = {**settings, "database_url": database_url}
    app.config["LTS"] = settings
    app.config.update(
        SECRET_KEY=settings["secret_key"] or _instance_secret_key(Path(app.instance_path)),
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url, settings),
        MAX_CONTENT_LENGTH=settings["max_content_length"],
        SESSION_COOKIE_SECURE=settings["session_cookie_secure"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="lts_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["session_lifetime_hours"]),
        # Shared counters in Redis when configured: in memory, each gunicorn worker would
        # count alone and N workers would allow N times the rate (lts.security.limits).
        RATELIMIT_STORAGE_URI=settings["redis_url"] or "memory://",
        RATELIMIT_KEY_PREFIX=settings["redis_key_prefix"],
        # Redis down: count per worker in memory meanwhile (weaker, never wide open), and
        # /readyz reports Redis unreachable.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=bool(settings["redis_url"]),
        RATELIMIT_HEADERS_ENABLED=True,
        # The IETF RateLimit field names (not X-RateLimit-*), on every limited answer.
        RATELIMIT_HEADER_LIMIT="RateLimit-Limit",
        RATELIMIT_HEADER_REMAINING="RateLimit-Remaining",
        RATELIMIT_HEADER_RESET="RateLimit-Reset",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (server-side) session
    )


def _register_aaa_blueprints(app: Flask) -> None:
    """Register the login pages, the admin pages and the JSON API."""
    from lts.blueprints.admin import bp as admin_bp
    from lts.blueprints.api import init_api
    from lts.blueprints.auth import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    init_api(app)


def _instance_secret_key(instance: Path) -> str:
    """Read the instance folder's secret key, creating it (mode 0600) on first run."""
    path = instance / SECRET_KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


_SYNC_WRAPPERS_MAX = 4096


def _remember_sync_wrappers(app: Flask) -> None:
    """Decide once per hook or view whether it is a coroutine (Flask asks on every call).

    Flask passes each before/after/teardown hook and the view through ``ensure_sync``
    on every request, and each time ``inspect.iscoroutinefunction`` unwraps it: ~20
    times a request, ~4 % of a small API call. The answer never changes for a
    registered function, so it is kept (functions registered later are simply added).
    """
    original = app.ensure_sync
    known: dict[Any, Any] = {}

    def ensure_sync(func: Any) -> Any:
        try:
            return known[func]
        except KeyError:
            wrapped = original(func)
            if len(known) < _SYNC_WRAPPERS_MAX:
                known[func] = wrapped
            return wrapped
        except TypeError:  # an unhashable callable: ask Flask every time
            return original(func)

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


def _init_extensions(app: Flask) -> None:
    """Bind the extension objects to this app."""
    from lts import models  # noqa: F401  (every table registered before Alembic looks)
    from lts.database import install_sqlite_pragmas
    from lts.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _init_write_mode(app: Flask) -> None:
    """Begin every transaction of an unsafe request IMMEDIATE on SQLite (SPEC 2a).

    A request that may write takes the write lock with its first statement, so
    concurrent writers queue on the busy timeout instead of one failing with "database
    is locked" when its read transaction upgrades. GET requests keep deferred (shared)
    reads; their few writes (audit rows, session bookkeeping) run in write units of
    their own (:func:`lts.database.write_unit`). The hook runs before every other one:
    authentication already reads the database.
    """
    from flask import g, request

    from lts.database import reset_immediate_writes, set_immediate_writes

    def begin_write_mode() -> None:
        g.lts_write_mode = set_immediate_writes(request.method in UNSAFE_METHODS)

    def end_write_mode(_exc: BaseException | None) -> None:
        token = g.pop("lts_write_mode", None)
        if token is None:
            return
        reset_immediate_writes(token)
        if request.method in UNSAFE_METHODS:
            release_write_lock()

    def release_write_lock() -> None:
        # A transaction begun after the request's last commit (a lazy load while
        # rendering) holds SQLite's write lock until the session ends. The app context
        # usually ends with the request and rolls it back; where it outlives the request
        # (a CLI command, a test), end it here, as that teardown would.
        from lts.extensions import db

        session = db.session()
        if session.in_transaction():
            session.rollback()

    app.before_request_funcs.setdefault(None, []).insert(0, begin_write_mode)
    app.teardown_request(end_write_mode)


def _init_request_ids(app: Flask) -> None:
    """Give every request an id (:class:`lts.logging_setup.RequestIds`, outermost).

    Installed last, so it wraps every other WSGI layer (the body limit): even a request
    refused there has its id.
    """
    from lts.logging_setup import RequestIds

    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]


def _init_security(app: Flask) -> None:
    """Install authentication, authorization, CSRF and security headers (lts.security)."""
    from lts.security import init_security
    from lts.security.hosts import init_trusted_hosts

    init_security(app)
    init_trusted_hosts(app)


def _register_blueprints(app: Flask) -> None:
    """Register every blueprint, the error handlers and the navigation context.

    The bounded id converter goes first: a rule binds its converters when it is added.
    The body limit wraps the WSGI app so streamed (chunked) bodies obey it too.
    """
    from lts.blueprints.dashboard import bp as dashboard_bp
    from lts.blueprints.health import bp as health_bp
    from lts.blueprints.portfolios import bp as portfolios_bp
    from lts.navigation import register_navigation
    from lts.routing import install_converters
    from lts.security.body_limit import install_body_limit
    from lts.web.errors import register_error_handlers

    install_converters(app)
    install_body_limit(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(portfolios_bp)
    _register_aaa_blueprints(app)
    register_error_handlers(app)
    register_navigation(app)
