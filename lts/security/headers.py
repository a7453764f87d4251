"""Security headers on every response.

The CSP allows only this origin's scripts, styles, fonts and images (vendored assets;
no inline scripts, no ``style=`` attributes), and forbids plugins, ``<base>`` and
framing. HSTS is only sent over HTTPS: on plain-HTTP local use it would be ignored.
"""

from __future__ import annotations

from flask import Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


#: Sent on every answer unless a view set the header itself: (name, lower-case name, value).
_ALWAYS = tuple((name, name.lower(), value) for name, value in (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
))


def set_security_headers(response: Response) -> Response:
    """Add CSP, nosniff, Referrer-Policy and friends (HSTS over HTTPS only).

    A header a view set is kept (``setdefault`` semantics). The present names are read
    once: a ``setdefault`` per header scanned the whole header list each time, a
    measurable share of every API call (issue 12).
    """
    headers = response.headers
    present = {key.lower() for key, _ in headers.items()}
    for name, lower, value in _ALWAYS:
        if lower not in present:
            headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        # Pages and API answers carry personal data: never kept by shared caches.
        if "cache-control" not in present:
            headers.add("Cache-Control", "no-store")
        response.vary.add("HX-Request")  # a page and its htmx fragment differ
    return response
