"""Portfolio and asset pages: lists, detail pages, forms with generated plugin configs."""

from flask import Blueprint

bp = Blueprint("portfolios", __name__)

from lts.blueprints.portfolios import assets, routes  # noqa: E402,F401  (routes attach to bp)
