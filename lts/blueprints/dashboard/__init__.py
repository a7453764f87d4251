"""The dashboard pages: overview, orders, positions, statistics, performance, trades."""

from flask import Blueprint

from lts.blueprints.dashboard.filters import register_filters
from lts.web.display import register_display_filters

bp = Blueprint("dashboard", __name__)
register_filters(bp)
register_display_filters(bp)

from lts.blueprints.dashboard import (  # noqa: E402,F401  (routes attach to bp)
    backtests,
    performance,
    preferences,
    routes,
    trades,
)
