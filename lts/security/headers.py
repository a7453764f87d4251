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


def set_security_headers(response: Response) -> Response:
    """Add CSP, nosniff, Referrer-Policy and friends (HSTS over HTTPS only)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        # Pages and API answers carry personal data: never kept by shared caches.
        headers.setdefault("Cache-Control", "no-store")
        response.vary.add("HX-Request")  # a page and its htmx fragment differ
    return response
