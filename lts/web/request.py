"""Request helpers of every view, page and API alike: who acts, what the client is.

One definition each, so the pages and the API cannot drift apart (four private
``actor()`` helpers did, before this module).
"""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from lts.models import User
from lts.security.authz import is_htmx_request

#: The htmx event that makes a page's polled order and position sections refresh at once.
ORDERS_CHANGED = "lts-orders-changed"


def actor() -> User:
    """The signed-in user making the request (browser session or bearer token).

    Views behind the login check only: an anonymous request never reaches them.
    """
    return current_user._get_current_object()  # type: ignore[no-any-return]


def optional_actor() -> User | None:
    """The signed-in user, or None for an anonymous request (public pages, errors)."""
    return actor() if current_user.is_authenticated else None


def is_htmx() -> bool:
    """Whether htmx sent the request (``HX-Request: true``)."""
    return is_htmx_request()


def same_site(url: str | None) -> bool:
    """Whether ``url`` (a Referer) points at this site."""
    return bool(url) and url.startswith(request.host_url)  # type: ignore[union-attr]


def back_url(endpoint: str, **values: Any) -> str:
    """Where a form post goes back to: the page it came from, else ``endpoint``."""
    referrer = request.referrer
    return referrer if same_site(referrer) else url_for(endpoint, **values)  # type: ignore[return-value]


def redirect_back(endpoint: str, **values: Any) -> ResponseReturnValue:
    """Redirect to the page the post came from (same site only), else to ``endpoint``."""
    return redirect(back_url(endpoint, **values))


def submitted_reason() -> str | None:
    """The reason typed for a risk action: the form's ``reason`` or htmx's prompt answer."""
    return request.form.get("reason") or request.headers.get("HX-Prompt") or None


def with_trigger(body: Any, status: int = 200, trigger: str = ORDERS_CHANGED
                 ) -> ResponseReturnValue:
    """Answer htmx with ``body`` and an ``HX-Trigger`` event (polled sections refresh)."""
    response = make_response(body, status)
    response.headers["HX-Trigger"] = trigger
    return response
