"""The dashboard pages: overview, orders, positions and statistics."""

from flask import Blueprint

from lts.blueprints.dashboard.filters import register_filters

bp = Blueprint("dashboard", __name__)
register_filters(bp)

from lts.blueprints.dashboard import backtests, routes  # noqa: E402,F401  (routes attach to bp)
