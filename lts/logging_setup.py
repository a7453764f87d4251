"""Log lines for people (text) or for machines (one JSON object per line), with ids.

Every record gets ``request_id``, ``tick`` and ``portfolio_id`` attributes from
:func:`log_context` (context variables: per request thread, per tick, per portfolio),
so a line logged anywhere while a request or a tick runs says which one it belongs to.
With ``log_format=json`` each line is one object: ``time``, ``level``, ``logger``,
``message``, the ids that are set, and ``exception`` when there is one. gunicorn's
access lines become objects too, their fields taken from gunicorn's atoms.

A foundation module: it imports nothing of ``lts``, so the app factory, the trading
loop and ``gunicorn.conf.py`` all use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

#: The ids a line may carry, in the order JSON lines show them.
CONTEXT_KEYS = ("request_id", "tick", "portfolio_id")
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "lts_log_context", default={})  # noqa: B039  (never mutated: replaced whole)

# An incoming X-Request-ID is kept when it is this (a proxy's UUID, a trace id...):
# short, printable, no spaces or quotes that could forge a log line or a header.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
HANDLER_NAME = "lts-log-format"
FILE_HANDLER_NAME = "lts-log-file"
TEXT_FORMAT = ("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
               "%(context_suffix)s")


def current_context() -> Mapping[str, Any]:
    """The ids set for this thread of work (request, tick, portfolio)."""
    return _CONTEXT.get()


@contextlib.contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Add ``ids`` (request_id, tick, portfolio_id) to every line logged inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **ids})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def set_context(**ids: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Like :func:`log_context` for code that cannot wrap a block (request hooks)."""
    return _CONTEXT.set({**_CONTEXT.get(), **ids})


def reset_context(token: contextvars.Token[Mapping[str, Any]]) -> None:
    """Undo :func:`set_context`."""
    _CONTEXT.reset(token)


def request_id_from(header: str | None) -> str:
    """The incoming ``X-Request-ID`` when it is sane, else a new random id."""
    if header and REQUEST_ID_RE.match(header):
        return header
    return uuid.uuid4().hex


#: The header a request's id comes in on (from a proxy) and goes back out on.
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
#: Where the id is kept in the WSGI environ for code that wants it (``request.environ``).
REQUEST_ID_ENVIRON_KEY = "lts.request_id"


class RequestIds:
    """WSGI middleware: every request gets an id, on its log lines and in its answer.

    The caller's sane ``X-Request-ID`` is kept, else a new one is made; it is set on
    every log line of the request (:func:`log_context`) and echoed in the response's
    ``X-Request-ID`` (gunicorn's access line logs it). Outermost, so even an answer
    refused before Flask's hooks (bad Host, body too large, 401) carries it.

    Why a middleware and not three Flask hooks: each hook cost a dispatch and a few
    ``g``/``request`` proxy lookups per request, ~4 % of ``/auth/me`` (issue 12).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Run the request with its id in the log context; add the id to the headers."""
        request_id = request_id_from(environ.get(_REQUEST_ID_ENVIRON))
        environ[REQUEST_ID_ENVIRON_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        token = _CONTEXT.set({**_CONTEXT.get(), "request_id": request_id})
        try:
            return self.app(environ, start)
        finally:
            _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copy the context ids onto each record (``None`` when unset) for any formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the ids and a text suffix on ``record``; never drops it."""
        context = _CONTEXT.get()
        for key in CONTEXT_KEYS:
            if not hasattr(record, key):
                setattr(record, key, context.get(key))
        record.context_suffix = "".join(
            f" {key}={getattr(record, key)}" for key in CONTEXT_KEYS
            if getattr(record, key) is not None)
        return True


# gunicorn access-log atoms worth a field of their own (see gunicorn.glogging).
_ACCESS_ATOMS = {"h": "remote", "m": "method", "U": "path", "q": "query", "s": "status",
                 "B": "bytes", "M": "duration_ms", "a": "user_agent",
                 "{x-request-id}o": "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _CONTEXT.get()
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            value = context.get(key) if value is None else value
            if value is not None:
                body[key] = value
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            for atom, field in _ACCESS_ATOMS.items():
                value = record.args.get(atom)
                if value not in (None, "-", ""):
                    body[field] = _number(value) if field in ("status", "bytes",
                                                               "duration_ms") else value
        body["process"] = record.process
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def _number(value: Any) -> Any:
    """Gunicorn hands numbers over as text; JSON gets them as numbers when they are."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: str, level: str = "INFO", log_file: str | None = None
                      ) -> None:
    """Set the ``lts`` level; with ``json``, every record goes to stderr as one object.

    Idempotent: one handler, replaced when called again (every app built in a process
    calls it). ``text`` installs nothing: CLI commands stay quiet, and server processes
    get the trading loop's text handler as before. ``log_file`` adds a handler writing
    JSON lines there whatever ``log_format`` is: the admin log viewer parses them.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() in (HANDLER_NAME, FILE_HANDLER_NAME):
            root.removeHandler(handler)
            if handler.get_name() == FILE_HANDLER_NAME:
                handler.close()
    logging.getLogger("lts").setLevel(level)
    if log_file:
        to_file = logging.FileHandler(log_file, encoding="utf-8", delay=True)
        to_file.set_name(FILE_HANDLER_NAME)
        to_file.setFormatter(JsonFormatter())
        to_file.addFilter(ContextFilter())
        root.addHandler(to_file)
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)  # other libraries keep the root's level (WARNING)


def gunicorn_logconfig(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logconfig_dict`` for gunicorn: its error and access lines in ``log_format``."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json"
        else {"format": TEXT_FORMAT.replace("%(context_suffix)s", "")})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lts": formatter},
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "lts",
                        "filters": ["context"], "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "lts",
                       "filters": ["context"], "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"],
                                "propagate": False},
        },
        # Libraries (alembic, apscheduler) say only what matters; lts sets its own level.
        "root": {"level": "WARNING", "handlers": []},
    }
