"""``/api/docs``: Swagger UI over the generated document (logged-in users only)."""

from __future__ import annotations

from flask import Flask, render_template, url_for

from lts.blueprints.api import URL_PREFIX


def api_docs() -> str:
    """The Swagger UI page (vendored assets, no inline script)."""
    return render_template("api/docs.html", spec_url=url_for("api_openapi"))


def register_docs_page(app: Flask) -> None:
    """Serve the page at ``/api/docs`` (outside the versioned prefix, like a manual)."""
    app.add_url_rule(f"{URL_PREFIX.rsplit('/', 1)[0]}/docs", "api_docs", api_docs)
