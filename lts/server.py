"""Run LTS under gunicorn from Python, so `flask lts run` serves like production does."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication


class LTSServer(BaseApplication):
    """A gunicorn application whose workers each build the app from the merged settings.

    The app is created in each worker (no preload): database connections and scheduler
    threads must never be shared across a fork.
    """

    def __init__(self, settings: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        """Hand our options to gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        """Build the WSGI app inside the worker, with the trading loop if enabled.

        Every worker starts a scheduler; the database lease lets one of them tick.
        """
        from lts import create_app

        app = create_app(config=self.settings, start_loop=True)
        freeze_startup_objects()
        return app


def freeze_startup_objects() -> None:
    """Keep the worker's startup objects out of the garbage collector's way.

    Everything built before the first request (modules, the app, plugins, SQLAlchemy's
    mappers: ~150,000 objects) lives as long as the worker. A full collection walked
    them all (~70 ms: a latency spike, and throughput lost under load); frozen,
    collections only visit what requests create. Garbage
    left from startup is collected first, so nothing is kept that would have been freed.
    """
    gc.collect()
    gc.freeze()


# How long a stopping worker waits for queued mail (web_graceful_timeout: 30 s default).
OUTBOX_DRAIN_SECONDS = 10.0


def stop_worker_loop(_server: Any, worker: Any) -> None:
    """Gunicorn ``worker_exit`` hook: stop the worker's loop, release its lease, send mail."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from lts.services.outbox import EXTENSION_KEY
        from lts.trading.loop import stop_loop

        stop_loop(app)
        box = app.extensions.get(EXTENSION_KEY)
        if box is not None:
            box.wait_idle(OUTBOX_DRAIN_SECONDS)


# The access line: who, what, status, size, duration and the request id LTS echoed.
ACCESS_LOG_FORMAT = ('%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s '
                     '"%(a)s"')


def gunicorn_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Gunicorn options derived from LTS settings (``flask lts run`` and gunicorn.conf.py)."""
    from lts.http_errors import install_gunicorn_json_errors
    from lts.logging_setup import gunicorn_logconfig

    log_format = settings.get("log_format", "text")
    level = settings["log_level"]
    return {
        "bind": f"{settings['host']}:{settings['port']}",
        "workers": settings["web_workers"],
        "threads": settings["web_threads"],
        "worker_class": "gthread",
        "timeout": settings.get("web_timeout", 60),
        "graceful_timeout": settings.get("web_graceful_timeout", 30),
        "keepalive": settings.get("web_keepalive", 5),
        "forwarded_allow_ips": settings.get("forwarded_allow_ips", "127.0.0.1,::1"),
        "limit_request_line": settings.get("limit_request_line", 4094),
        "accesslog": "-" if settings.get("access_log", True) else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": level.lower(),
        "logconfig_dict": gunicorn_logconfig(log_format, level),
        "preload_app": False,
        "worker_exit": stop_worker_loop,
        # gunicorn's own refusals (414 request line too long, 400...) in the API's JSON.
        "post_worker_init": install_gunicorn_json_errors,
    }


def serve(settings: Mapping[str, Any]) -> None:
    """Serve until interrupted."""
    LTSServer(settings, gunicorn_options(settings)).run()
