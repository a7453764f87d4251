"""Display-only queries of the dashboard that the service layer does not offer (yet).

Nothing here changes data, and nothing here decides who sees what: every function
takes an object the view already loaded through a service (which checked ownership).
docs/DASHBOARD_NEEDS.md lists what the dashboard asked of the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from lts.extensions import db
from lts.models import (
    Asset,
    AssetDecision,
    AuditLog,
    Order,
    Portfolio,
    Position,
    Statistic,
    User,
)
from lts.models.statistic_keys import (
    CAPITAL_CHANGE,
    EQUITY,
    UNREALIZED_PNL,
    asset_key,
    portfolio_key,
)
from lts.services.access import scoped
from lts.services.error_display import ErrorView, error_view, report_unrecorded
from lts.services.forecast_chart import forecast_data
from lts.trading.chart import CHART_BARS, TIMEFRAMES, chart_candles, epoch
from lts.trading.order_state import OPEN_STATUSES


@dataclass(frozen=True)
class AssetChart:
    """Candles and annotations for the asset page, ready for charts.js (``data``)."""

    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    as_of: datetime | None = None
    timeframe: str = ""

    @property
    def timeframes(self) -> list[tuple[str, str]]:
        """``(value, label)`` of each timeframe the selector offers, the pipeline's first."""
        return [(key, key or "pipeline bars") for key in TIMEFRAMES]


def _bar_time(moment: datetime, times: list[int]) -> int | None:
    """The time of the bar containing ``moment`` (markers must sit on a bar)."""
    stamp = epoch(moment)
    best = None
    for bar_time in times:
        if bar_time <= stamp:
            best = bar_time
        else:
            break
    return best


def asset_chart(asset: Asset, now: datetime, bars: int = CHART_BARS,
                timeframe: str = "") -> AssetChart:
    """The pipeline's recent bars, fills as markers, SL/TP and resting orders as lines.

    The candles come from :func:`lts.trading.chart.chart_candles` (the loop's timeout
    and isolation, one worker per app), resampled there to ``timeframe``; a failing or
    slow pipeline gives a chart with ``error`` set, never an error page. The app is
    handed to its worker thread.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    candles = chart_candles(app, asset, now, bars, timeframe)
    if candles.snapshot is None:
        return AssetChart(error=report_unrecorded(f"asset {asset.id} chart",
                                                  candles.error or "no snapshot"),
                          timeframe=timeframe)
    times = candles.times
    return AssetChart(data={"bars": candles.bars, "markers": _markers(asset.id, times),
                            "lines": _sl_tp_lines(asset.id) + _resting_order_lines(asset.id),
                            "volume": candles.volume, "indicators": candles.indicators,
                            "forecast": forecast_data(candles.snapshot)},
                      as_of=candles.snapshot.as_of, timeframe=timeframe)


def _markers(asset_id: int, times: list[int]) -> list[dict[str, Any]]:
    """Entry (arrow) and exit (circle) markers of the asset's filled orders in range."""
    if not times:
        return []
    orders = db.session.scalars(
        select(Order).where(Order.asset_id == asset_id, Order.filled_at.is_not(None))
        .order_by(Order.filled_at.desc()).limit(200)).all()
    closing = set(db.session.scalars(select(Position.close_order_id).where(
        Position.asset_id == asset_id, Position.close_order_id.is_not(None))))
    markers = []
    for order in orders:
        bar_time = _bar_time(order.filled_at, times)
        if bar_time is None:
            continue
        exit_ = order.id in closing
        buy = order.side == "buy"
        markers.append({
            "time": bar_time,
            "position": "belowBar" if buy else "aboveBar",
            "color": "#6c757d" if exit_ else ("#198754" if buy else "#dc3545"),
            "shape": "circle" if exit_ else ("arrowUp" if buy else "arrowDown"),
            # No text: labels of several fills piled up over the newest candles; the
            # shape and colour say entry/exit and side, the orders table the rest.
        })
    return sorted(markers, key=lambda m: m["time"])


def _sl_tp_lines(asset_id: int) -> list[dict[str, Any]]:
    """Entry, stop-loss and take-profit price lines of the asset's open positions."""
    lines = []
    for position in db.session.scalars(select(Position).where(
            Position.asset_id == asset_id, Position.status == "open")):
        lines.append({"price": position.entry_price, "color": "#0d6efd",
                      "title": f"entry {position.side}", "kind": "entry"})
        if position.stop_loss:
            lines.append({"price": position.stop_loss, "color": "#dc3545", "title": "SL",
                          "kind": "stop_loss"})
        if position.take_profit:
            lines.append({"price": position.take_profit, "color": "#198754", "title": "TP",
                          "kind": "take_profit"})
    return lines


def _resting_order_lines(asset_id: int) -> list[dict[str, Any]]:
    """A line at the price of each order still resting at the broker (limit/stop orders).

    Market orders have no price to rest at and are left out; so are orders already
    filled or cancelled.
    """
    lines = []
    for order in db.session.scalars(select(Order).where(
            Order.asset_id == asset_id, Order.status.in_(OPEN_STATUSES),
            Order.price.is_not(None), Order.order_type != "market").order_by(Order.id)
            .limit(50)):
        lines.append({"price": order.price, "color": "#6f42c1", "kind": "order",
                      "title": f"{order.order_type} {order.side} {order.quantity:g}"})
    return lines


@dataclass(frozen=True)
class AssetDebug:
    """What the plugins of an asset last did, from what the engine records."""

    last_snapshot_at: datetime | None
    last_decision: str | None
    last_decision_at: datetime | None
    last_error: ErrorView | None
    last_error_at: datetime | None


def asset_debug(asset: Asset) -> AssetDebug:
    """Last snapshot time, last decision with its reason, last plugin error of an asset."""
    last_sample = db.session.scalar(
        select(Statistic.timestamp).where(Statistic.key == asset_key(asset.id, UNREALIZED_PNL),
                                          Statistic.asset_id == asset.id)
        .order_by(Statistic.timestamp.desc()).limit(1))
    portfolio = db.session.get(Portfolio, asset.portfolio_id)
    snapshot_at = last_sample or (portfolio.last_execution if portfolio else None)
    decided = asset.decision
    error = db.session.scalar(
        select(AuditLog).where(AuditLog.action.in_(("trading.asset_failed",
                                                    "trading.bars_missing")),
                               AuditLog.resource == f"asset:{asset.id}")
        .order_by(AuditLog.id.desc()).limit(1))
    return AssetDebug(
        last_snapshot_at=snapshot_at,
        last_decision=describe_decision(decided) if decided else None,
        last_decision_at=decided.decided_at if decided else None,
        last_error=error_view(error) if error else None,
        last_error_at=error.timestamp if error else None,
    )


def describe_decision(decided: AssetDecision) -> str:
    """``hold: no signal`` / ``open buy (1 order): prediction above threshold``."""
    what = decided.action if decided.side is None else f"{decided.action} {decided.side}"
    if decided.orders_placed:
        what += f" ({decided.orders_placed} order{'s' if decided.orders_placed > 1 else ''})"
    return f"{what}: {decided.reason or 'no reason given'}"


def allocation(portfolio: Portfolio) -> list[dict[str, Any]]:
    """Allocated capital per active asset plus the unallocated rest, for a doughnut."""
    assets = [a for a in portfolio.assets if a.is_active]
    series = [{"label": a.symbol, "v": round(a.allocated_capital, 2)} for a in assets]
    rest = portfolio.total_capital - sum(a.allocated_capital for a in assets)
    if rest > 0.005:
        series.append({"label": "unallocated", "v": round(rest, 2)})
    return series


def portfolio_owner_names(portfolios: list[Portfolio]) -> dict[int, str]:
    """Usernames of the owners of ``portfolios`` (admins see everyone's)."""
    ids = {p.user_id for p in portfolios}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


SERIES_NAMES = {"equity": "equity", "realized_pnl": "realized P&L",
                "unrealized_pnl": "unrealized P&L", "tick_seconds": "tick duration (s)"}


def series_labels(keys: list[str]) -> dict[str, str]:
    """Readable names of statistics keys: ``portfolio.3.equity`` -> ``FX majors · equity``."""
    portfolio_ids, asset_ids = set(), set()
    for key in keys:
        kind, _, rest = key.partition(".")
        number = rest.partition(".")[0]
        if number.isdigit():
            (portfolio_ids if kind == "portfolio" else asset_ids).add(int(number))
    portfolios = dict(db.session.execute(select(Portfolio.id, Portfolio.name).where(
        Portfolio.id.in_(portfolio_ids))).all()) if portfolio_ids else {}
    assets = {row[0]: f"{row[1]} ({row[2]})" for row in db.session.execute(
        select(Asset.id, Asset.symbol, Portfolio.name).join(Portfolio)
        .where(Asset.id.in_(asset_ids)))} if asset_ids else {}
    labels = {}
    for key in keys:
        kind, _, rest = key.partition(".")
        number, _, series = rest.partition(".")
        owner = None
        if number.isdigit():
            owner = (portfolios if kind == "portfolio" else assets).get(int(number))
        else:
            series = rest
        name = SERIES_NAMES.get(series, series.replace("_", " "))
        labels[key] = f"{owner} · {name}" if owner else f"{kind} · {name}"
    return labels


def equity_steps(portfolio_ids: list[int], series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where a summed equity curve jumps by capital, not by trading: markers for the chart.

    A portfolio whose first equity sample falls inside the plotted ``series`` adds its
    whole capital at once (a 5,000 portfolio shows as +50 % on a 10,000 total), and a
    deposit or withdrawal moves equity the same way. Each such step is returned as
    ``{"t": iso, "v": amount, "label": why}`` so charts.js marks it as a capital change
    instead of letting it read as a gain. ``portfolio_ids`` must already be the viewer's.
    """
    if not portfolio_ids or not series:
        return []
    start = datetime.fromisoformat(series[0]["t"])
    end = datetime.fromisoformat(series[-1]["t"])
    equity_keys = {portfolio_key(pid, EQUITY): pid for pid in portfolio_ids}
    first = db.session.execute(
        select(Statistic.key, func.min(Statistic.timestamp))
        .where(Statistic.key.in_(list(equity_keys)), Statistic.portfolio_id.in_(portfolio_ids))
        .group_by(Statistic.key)).all()
    steps: list[dict[str, Any]] = []
    names = dict(db.session.execute(select(Portfolio.id, Portfolio.name).where(
        Portfolio.id.in_(portfolio_ids))).all())
    for key, moment in first:
        if start < moment <= end:
            value = db.session.scalar(select(Statistic.value).where(
                Statistic.key == key, Statistic.timestamp == moment).limit(1))
            name = names.get(equity_keys[key])
            steps.append({"t": moment.isoformat(), "v": round(float(value or 0.0), 2),
                          "label": f"Portfolio {name} added" if name else "Portfolio added"})
    change_keys = [portfolio_key(pid, CAPITAL_CHANGE) for pid in portfolio_ids]
    for moment, value in db.session.execute(
            select(Statistic.timestamp, Statistic.value)
            .where(Statistic.key.in_(change_keys), Statistic.portfolio_id.in_(portfolio_ids),
                   Statistic.timestamp > start, Statistic.timestamp <= end)):
        steps.append({"t": moment.isoformat(), "v": round(float(value), 2),
                      "label": "Deposit" if value >= 0 else "Withdrawal"})
    return sorted(steps, key=lambda step: step["t"])


def asset_choices(actor: User) -> list[tuple[int, str]]:
    """``(asset id, "SYMBOL · portfolio")`` of the assets ``actor`` may see, for filters."""
    statement = scoped(select(Asset.id, Asset.symbol, Portfolio.name).join(Portfolio),
                       actor, "asset")
    return [(asset_id, f"{symbol} · {name}") for asset_id, symbol, name in
            db.session.execute(statement.order_by(Asset.symbol, Portfolio.name).limit(500))]
