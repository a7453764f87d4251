"""Closed trades (filters, pages), the streamed CSV exports, and flatten now.

Thin: the filters are read and checked by :mod:`lts.services.trades`, the CSV is made
by :mod:`lts.services.exports`; the export streams inside the request's context
(``stream_with_context``), so its database session stays open while rows go out.
"""

from __future__ import annotations

from flask import Response, flash, request, stream_with_context
from flask.typing import ResponseReturnValue

from lts.blueprints.dashboard import bp
from lts.errors import ValidationFailed
from lts.security.authz import client_ip
from lts.services import exports, portfolios, trades
from lts.services.flatten import flatten_portfolio
from lts.services.trades import EXIT_REASONS
from lts.trading.clock import system_clock
from lts.web.display import viewer_zone
from lts.web.htmx import hx_redirect, render_page
from lts.web.request import actor, is_htmx, redirect_back, same_site

TRADES_PER_PAGE = 25
FILTER_NAMES = ("portfolio_id", "asset_id", "side", "reason", "date_from", "date_to")


@bp.get("/trades", endpoint="trades")
def trades_page() -> ResponseReturnValue:
    """Closed trades, newest exit first: filter by portfolio, asset, dates, side, reason."""
    args = {name: request.args.get(name, "").strip() for name in FILTER_NAMES}
    args = {k: v for k, v in args.items() if v}
    page_number = max(request.args.get("page", 1, type=int) or 1, 1)
    error = None
    try:
        filters = trades.parse_filters(args, viewer_zone())
    except ValidationFailed as exc:
        error = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items()) or exc.message
        filters, args = trades.TradeFilters(), {}
    page = trades.list_trades(actor(), filters, page=page_number, per_page=TRADES_PER_PAGE)
    mine = portfolios.list_portfolios(actor(), per_page=200).items
    return render_page("trades/index.html", {"trades-table": "trades/_table.html"},
                       page=page, args=args, error=error, portfolios=mine,
                       assets=[a for p in mine for a in p.assets], reasons=EXIT_REASONS)


@bp.get("/export/<kind>.csv", endpoint="export")
def export(kind: str) -> ResponseReturnValue:
    """The CSV of ``kind`` (trades, orders, positions) under the page's filters, streamed."""
    made = exports.export_csv(actor(), kind, request.args, tz=viewer_zone(),
                              now=system_clock())
    return Response(stream_with_context(made.lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{made.filename}"',
                             "Cache-Control": "no-store"})


@bp.post("/portfolios/<int:portfolio_id>/flatten", endpoint="flatten")
def flatten(portfolio_id: int) -> ResponseReturnValue:
    """Close every open position of the portfolio; the outcome as a toast, page reloaded."""
    result = flatten_portfolio(actor(), portfolio_id, ip=client_ip())
    flash(result.summary(), "warning" if result.refused else "success")
    back = request.headers.get("HX-Current-URL") if is_htmx() else None
    if back and same_site(back):
        return hx_redirect(back)
    return redirect_back("portfolios.detail", portfolio_id=portfolio_id)
