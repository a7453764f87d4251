"""The request-body limit (``max_content_length``) for streamed, chunked bodies too.

Werkzeug refuses a declared ``Content-Length`` over the limit, but a chunked body has
none: it only stops *reading* at the limit, so a 1.2 MB JSON body padded with spaces
was cut to 1 MB, still parsed, and created a portfolio (201 instead of 413). This WSGI
middleware reads a chunked body up to one byte past the limit before Flask sees it:
within the limit it becomes an ordinary body with a ``Content-Length``; over it, the
request declares ``limit + 1`` bytes and carries none, so the first read of the body
answers 413 through the app's own error handler (JSON for the API, a page otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.wsgi import get_content_length

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_READ_SIZE = 64 * 1024


def _read_at_most(stream: Any, size: int) -> bytes:
    """Read up to ``size`` bytes (servers may return fewer per read)."""
    parts, remaining = [], size
    while remaining > 0:
        part = stream.read(min(_READ_SIZE, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


class StreamedBodyLimit:
    """Wrap a WSGI app so a body without ``Content-Length`` obeys ``MAX_CONTENT_LENGTH``.

    Only bodies the server de-chunks (``wsgi.input_terminated``) are read here: without
    that flag werkzeug gives the app an empty stream anyway. The limit is read from the
    app's config on every request, so a test or a later setting change applies.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        """Buffer a streamed body up to the limit, or mark the request as too large."""
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        # werkzeug ignores Content-Length on a chunked request: its length is unknown.
        if (limit is not None and get_content_length(environ) is None
                and environ.get("wsgi.input_terminated")):
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                environ["CONTENT_LENGTH"], body = str(limit + 1), b""
            else:
                environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # now an ordinary, sized body
            environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)


def install_body_limit(app: Flask) -> None:
    """Enforce ``MAX_CONTENT_LENGTH`` on streamed request bodies of ``app``."""
    app.wsgi_app = StreamedBodyLimit(app, app.wsgi_app)  # type: ignore[method-assign]
