"""Which Host headers LTS answers, and the links it builds for people outside a request.

A request's ``Host`` header is chosen by whoever sends it. Links built from it
(``url_for(..., _external=True)``) once mailed ``http://evil.example.com/reset/<token>``
to a real user (issue 11, finding 1). So:

* every absolute link comes from the ``public_url`` setting (:func:`public_link`);
* requests whose Host is not trusted are refused with 400 before any view or hook
  runs (:func:`init_trusted_hosts`, on top of Flask's ``TRUSTED_HOSTS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.exceptions import SecurityError

from lts.config import split_host_list
from lts.http_errors import error_response, wants_json

LOCAL_HOSTS = ("localhost", "127.0.0.1")
UNTRUSTED_HOST_MESSAGE = ("this server does not answer to that host name (see the "
                          "trusted_hosts and public_url settings)")
# Addresses that mean "every interface": not a name a client can put in a Host header.
_WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")  # noqa: S104  (compared, never bound)


class PublicUrlMissing(RuntimeError):
    """A link for outside the request was asked for, but ``public_url`` is empty."""


def trusted_hosts(settings: Mapping[str, Any]) -> list[str]:
    """The host names LTS answers to.

    ``trusted_hosts`` when set; otherwise the host of ``public_url``, the address the
    server listens on (when it is one address) and the local names, so ``make run``,
    the test client (``localhost``) and the system tests (``127.0.0.1``) work unchanged.
    """
    explicit = split_host_list(settings.get("trusted_hosts") or "")
    if explicit:
        return explicit
    names: list[str] = []
    public = urlsplit(settings.get("public_url") or "").hostname
    if public:
        names.append(public.lower())
    listen = str(settings.get("host") or "").lower()
    if listen not in _WILDCARD_ADDRESSES and ":" not in listen:
        names.append(listen)
    names.extend(LOCAL_HOSTS)
    return list(dict.fromkeys(names))


def _refuse_untrusted_host() -> Any:
    """Answer 400 at once when Flask found the Host header untrusted.

    Flask records the refusal as the routing exception, raised only at dispatch: the
    ``before_request`` hooks (authentication, rate limits) would run first and could
    build URLs from the bad host. The plain-text answer needs no URL building.
    """
    if not isinstance(request.routing_exception, SecurityError):
        return None
    current_app.logger.warning("refused a request for untrusted host %r (trusted_hosts: %s)",
                               request.environ.get("HTTP_HOST", "")[:100],
                               ", ".join(current_app.config["TRUSTED_HOSTS"]))
    if wants_json():
        return error_response(400, UNTRUSTED_HOST_MESSAGE, code="untrusted_host")
    return UNTRUSTED_HOST_MESSAGE, 400, {"Content-Type": "text/plain; charset=utf-8"}


def init_trusted_hosts(app: Flask) -> None:
    """Refuse untrusted hosts before every other ``before_request`` hook."""
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["LTS"])
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_untrusted_host)


def public_link(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` on ``public_url``, whatever the request's Host.

    Works without a request (a mail worker, the CLI). Raises :class:`PublicUrlMissing`
    when ``public_url`` is empty, so no link is ever guessed.
    """
    base = current_app.config["LTS"].get("public_url") or ""
    if not base:
        raise PublicUrlMissing("public_url is not set: LTS does not know its own address")
    return link_on(base, endpoint, **values)


def link_on(base_url: str, endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` under ``base_url`` (no request context needed)."""
    parts = urlsplit(base_url)
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/",
                                       url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)
