"""The dashboard pages (overview first; the dashboard issue grows it)."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from lts.blueprints.dashboard import routes  # noqa: E402,F401  (routes attach to bp)
