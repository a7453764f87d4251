"""Security headers on pages, API answers and errors; HSTS only over HTTPS."""

from __future__ import annotations

import pytest

from lts.security.headers import CONTENT_SECURITY_POLICY

EXPECTED_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                "img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'; form-action 'self'")


def test_csp_is_exactly_the_documented_policy():
    assert CONTENT_SECURITY_POLICY == EXPECTED_CSP


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/auth/me", "/nope", "/"])
def test_security_headers_on_every_answer(client, path):
    response = client.get(path)
    headers = response.headers
    assert headers["Content-Security-Policy"] == EXPECTED_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers
    assert headers["Cache-Control"] == "no-store"


def test_hsts_only_over_https(client):
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_static_files_get_security_headers_but_may_be_cached(client):
    response = client.get("/static/js/app.js")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers.get("Cache-Control") != "no-store"
    response.close()


def test_pages_have_no_inline_scripts_styles_or_handlers(client, db, login_as):
    import re

    from tests.factories import gen_user

    login_as(gen_user("root", role="admin"))
    for path in ("/login", "/profile", "/admin/users", "/admin/audit", "/"):
        html = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_a_header_the_view_set_is_kept_and_none_is_doubled(app):
    from flask import Response

    from lts.security.headers import set_security_headers

    with app.test_request_context("/api/v1/auth/me", base_url="https://localhost"):
        response = Response("x", headers={"Cache-Control": "private, max-age=5",
                                          "x-frame-options": "SAMEORIGIN"})
        headers = set_security_headers(response).headers
        assert headers.getlist("Cache-Control") == ["private, max-age=5"]
        assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
        assert headers.getlist("Content-Security-Policy") == [EXPECTED_CSP]
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        again = set_security_headers(response).headers  # idempotent
        assert len(again.getlist("Content-Security-Policy")) == 1
