"""The performance page: one portfolio's or one asset's figures, profit table, heat map.

Parse the choice, call :mod:`lts.services.performance`, render. Without a choice the
viewer's first portfolio is shown; an asset choice wins over a portfolio choice.
"""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from lts.blueprints.dashboard import bp
from lts.services import performance, portfolios
from lts.web.display import viewer_zone
from lts.web.htmx import render_page
from lts.web.request import actor

PERIODS = ("daily", "weekly", "monthly")


@bp.get("/performance", endpoint="performance")
def performance_page() -> ResponseReturnValue:
    """Win rate, profit factor, drawdown, Sharpe, profit per period, cumulative profit."""
    mine = portfolios.list_portfolios(actor(), per_page=200).items
    asset_id = request.args.get("asset_id", type=int)
    portfolio_id = request.args.get("portfolio_id", type=int)
    period = request.args.get("period", "daily")
    if period not in PERIODS:
        period = "daily"
    result = None
    if asset_id is not None:
        result = performance.asset_performance(actor(), asset_id, tz=viewer_zone())
    elif portfolio_id is not None or mine:
        portfolio_id = portfolio_id if portfolio_id is not None else mine[0].id
        result = performance.portfolio_performance(actor(), portfolio_id, tz=viewer_zone())
    assets = [a for p in mine for a in p.assets]
    return render_page("performance/index.html", {"performance-body": "performance/_body.html"},
                       perf=result, portfolios=mine, assets=assets, portfolio_id=portfolio_id,
                       asset_id=asset_id, period=period, periods=PERIODS)
