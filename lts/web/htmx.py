"""Page or fragment: one view answers a direct link with the page and htmx with a partial.

A page template includes its partials (``lts/templates/partials/_*.html``); an htmx
request names the element it will swap in ``HX-Target``, and the view renders only
the partial drawing that element, with the same context. A page and its refresh can
therefore never drift apart. ``Vary: HX-Request`` is set on every page response by
:func:`lts.security.headers.set_security_headers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import make_response, render_template, request
from flask.typing import ResponseReturnValue

from lts.web.request import is_htmx


def hx_target() -> str | None:
    """The id of the element htmx will swap (``HX-Target``), if any."""
    return request.headers.get("HX-Target") if is_htmx() else None


def render_page(template: str, partials: Mapping[str, str], status: int = 200,
                **context: Any) -> ResponseReturnValue:
    """Render ``template``, or for htmx the partial of ``partials`` keyed by ``HX-Target``.

    An htmx request without a known target (a boosted link, a history restore) gets
    the whole page: the partial would not fit where it lands.
    """
    partial = partials.get(hx_target() or "")
    if partial is None:
        return render_template(template, **context), status
    return render_partial(partial, **context), status


def render_partial(template: str, **context: Any) -> str:
    """Render a partial plus any flashed messages as out-of-band toasts."""
    return render_template(template, **context) + render_template("partials/_oob_toasts.html")


def hx_redirect(url: str) -> ResponseReturnValue:
    """Send htmx to ``url`` with a full page load (``HX-Redirect``); a plain 303 otherwise."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    response = make_response("", 303)
    response.headers["Location"] = url
    return response
