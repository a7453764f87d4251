"""``/healthz``: is the database reachable and migrated; which version runs."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from lts.blueprints.health import routes  # noqa: E402,F401  (routes attach to bp)
