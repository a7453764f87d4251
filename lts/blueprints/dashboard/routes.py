"""Dashboard views: parse, call a service, render."""

from __future__ import annotations

from flask import render_template

from lts.blueprints.dashboard import bp
from lts.services.overview import overview_counts


@bp.get("/")
def overview() -> str:
    """The overview page: what is in the database right now."""
    return render_template("dashboard/overview.html", counts=overview_counts())
