"""Dashboard views: overview, orders, positions, statistics. Parse, call a service, render.

Each page is one template made of partials; an htmx request naming one of them in
``HX-Target`` gets that partial alone (see :mod:`lts.web.htmx`). A broken rule raises
and the app-wide handler answers it (:mod:`lts.web.errors`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import flash, request
from flask.typing import ResponseReturnValue

from lts.blueprints.dashboard import bp
from lts.blueprints.dashboard.tables import table_state
from lts.errors import ServiceError, ValidationFailed
from lts.security.authz import client_ip
from lts.services import dashboard_queries, orders, portfolios, positions, statistics
from lts.services.overview import build_overview
from lts.trading.clock import system_clock
from lts.web.display import viewer_zone
from lts.web.htmx import render_page, render_partial
from lts.web.request import actor, is_htmx, redirect_back, with_trigger

OVERVIEW_PARTIALS = {
    "overview-figures": "partials/_overview_figures.html",
    "overview-equity": "partials/_overview_equity.html",
    "overview-loop": "partials/_overview_loop.html",
    "overview-positions": "partials/_overview_positions.html",
    "overview-orders": "partials/_overview_orders.html",
    "overview-errors": "partials/_overview_errors.html",
}
TABLE_PER_PAGE = 25
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
          "30d": timedelta(days=30), "all": None}


def my_portfolios() -> list[Any]:
    """The viewer's portfolios (admins: all) for filter selects."""
    return portfolios.list_portfolios(actor(), per_page=200).items


@bp.get("/")
def overview() -> ResponseReturnValue:
    """The overview: equity, today's P&L, positions, orders, loop status, errors."""
    now = system_clock()
    return render_page("dashboard/overview.html", OVERVIEW_PARTIALS,
                       ov=build_overview(actor(), now), now=now)


def _day_range(filters: dict[str, str]) -> dict[str, datetime | None]:
    """``from``/``to`` dates (YYYY-MM-DD, viewer's days, both included) as since/until.

    Days of the viewer's time zone, as the closed-trades filters read them.
    ``to`` is a whole day: the range ends at the next midnight (the services' ``until``
    is exclusive). A date that does not parse is a ValidationFailed naming the field.
    """
    bounds: dict[str, datetime | None] = {"since": None, "until": None}
    errors: dict[str, list[str]] = {}
    for name, key, shift in (("from", "since", 0), ("to", "until", 1)):
        text = filters.get(name)
        if not text:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            errors[name] = ["must be a date, YYYY-MM-DD"]
            continue
        bounds[key] = datetime.combine(day + timedelta(days=shift), time(0),
                                       tzinfo=viewer_zone()).astimezone(UTC)
    if errors:
        raise ValidationFailed("invalid filter", errors)
    return bounds


def _table_page(kind: str) -> ResponseReturnValue:
    """The orders or positions page: filters, sortable headers, pager."""
    sorted_rows = orders.list_orders if kind == "orders" else positions.list_positions
    default_sort = "created_at" if kind == "orders" else "opened_at"
    state = table_state(f"dashboard.{kind}", f"{kind}-table",
                        ("portfolio_id", "asset_id", "status", "side", "from", "to"),
                        default_sort)
    error = None
    try:
        page = sorted_rows(actor(), portfolio_id=request.args.get("portfolio_id", type=int),
                           asset_id=request.args.get("asset_id", type=int),
                           status=state.filters.get("status"), side=state.filters.get("side"),
                           **_day_range(state.filters),
                           sort=state.sort, direction=state.direction, page=state.page,
                           per_page=TABLE_PER_PAGE)
    except ValidationFailed as exc:
        error = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items()) or exc.message
        page = sorted_rows(actor(), page=1, per_page=TABLE_PER_PAGE)
    return render_page(f"dashboard/{kind}.html", {f"{kind}-table": f"partials/_{kind}_table.html"},
                       page=page, table=state, error=error, portfolios=my_portfolios(),
                       asset_choices=dashboard_queries.asset_choices(actor()))


@bp.get("/orders", endpoint="orders")
def orders_page() -> ResponseReturnValue:
    """Every order the viewer may see: filter by portfolio, status, side; sort; page."""
    return _table_page("orders")


@bp.get("/positions", endpoint="positions")
def positions_page() -> ResponseReturnValue:
    """Every position the viewer may see, with a close button on open ones."""
    return _table_page("positions")



@bp.post("/positions/<int:position_id>/close")
def close_position(position_id: int) -> ResponseReturnValue:
    """Close an open position at market (the same service as the API)."""
    result = positions.close_position(actor(), position_id, ip=client_ip())
    if result.rejected_by:
        flash(f"Close refused by the {result.rejected_by} check: {result.message}", "warning")
    else:
        flash(f"Closing: {result.summary()}", "success")
    if is_htmx():
        position = positions.get_position(actor(), position_id)
        return render_partial("partials/_position_row.html", position=position,
                              show_asset=request.form.get("show_asset") != "0")
    return redirect_back("dashboard.positions")


@bp.post("/orders/<int:order_id>/cancel")
def cancel_order(order_id: int) -> ResponseReturnValue:
    """Cancel a live order through its broker (the same service as the API)."""
    order = orders.cancel_order(actor(), order_id, via="dashboard", ip=client_ip())
    flash(orders.describe_order(order), "success")
    if is_htmx():
        order = orders.get_order(actor(), order_id)
        return with_trigger(render_partial("partials/_order_row.html", order=order,
                                           show_asset=request.form.get("show_asset") != "0"))
    return redirect_back("dashboard.orders")


@bp.get("/statistics", endpoint="statistics")
def statistics_page() -> ResponseReturnValue:
    """A chart of any statistics key the viewer may read, over a chosen time range."""
    keys = statistics.list_keys(actor())
    equity_keys = [k for k in keys if k.endswith(".equity")]
    key = request.args.get("key") or (equity_keys or keys or [""])[0]
    span = request.args.get("range", "7d")
    if span not in RANGES:
        span = "7d"
    series, error = None, None
    if key:
        delta = RANGES[span]
        since = system_clock() - delta if delta else None
        try:
            series = statistics.get_series(actor(), key, since=since, ip=client_ip())
        except ServiceError as exc:
            error = exc.message
    points = [{"t": ts.isoformat(), "v": value} for ts, value in series.points] if series else []
    return render_page("dashboard/statistics.html", {"stats-chart": "partials/_stats_chart.html"},
                       keys=keys, labels=dashboard_queries.series_labels(keys), key=key,
                       span=span, ranges=list(RANGES), series=series,
                       points=points, error=error)

