"""Figures for the overview page, limited to what the viewer may see.

A user sees their own portfolios and what hangs from them; an administrator sees
everyone's. Equity is computed the way the engine does (capital + realized +
unrealized P&L, see docs/ENGINE_NOTES.md), so the page agrees with the statistics
the loop records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from lts.extensions import db
from lts.models import Asset, AuditLog, Order, Portfolio, Position, Statistic, User
from lts.models.statistic_keys import EQUITY, portfolio_key
from lts.services.access import is_admin, list_scope, scoped
from lts.services.error_display import ErrorView, error_view
from lts.services.loop_control import get_status
from lts.trading.status import ERROR_ACTIONS, LoopStatus

RECENT_ORDERS = 20
OPEN_POSITIONS = 50
RECENT_ERRORS = 10
EQUITY_POINTS = 500


@dataclass(frozen=True)
class PortfolioFigures:
    """Money figures of one portfolio right now."""

    capital: float
    realized: float
    unrealized: float

    @property
    def equity(self) -> float:
        """Capital plus realized and unrealized P&L."""
        return self.capital + self.realized + self.unrealized


class Overview:
    """Everything the overview page shows, computed on first use.

    Each section of the page refreshes on its own (an htmx poll renders one partial),
    so each figure is a cached property: a refresh of the orders table runs the orders
    query only, not the equity history.
    """

    def __init__(self, actor: User, now: datetime, days: int = 7) -> None:
        self.actor = actor
        self.now = now
        self.days = days

    @cached_property
    def portfolio_ids(self) -> list[int]:
        """Ids of the portfolios the viewer sees."""
        return visible_portfolio_ids(self.actor)

    @cached_property
    def figures(self) -> dict[int, PortfolioFigures]:
        """Money figures per visible portfolio."""
        return portfolio_figures(self.portfolio_ids)

    @cached_property
    def counts(self) -> dict[str, int | None]:
        """Portfolios, assets, open positions, orders (and users for admins)."""
        return overview_counts(self.actor)

    @cached_property
    def currency(self) -> str:
        """The one currency of the visible portfolios, or "" when they differ (or none).

        Totals across currencies are sums of unlike units; the page then shows no code
        rather than a wrong one.
        """
        if not self.portfolio_ids:
            return ""
        codes = set(db.session.scalars(select(Portfolio.currency).where(
            Portfolio.id.in_(self.portfolio_ids)).distinct()))
        return codes.pop() if len(codes) == 1 else ""

    @property
    def total_capital(self) -> float:
        """Capital of every visible portfolio."""
        return sum(fig.capital for fig in self.figures.values())

    @property
    def total_equity(self) -> float:
        """Equity of every visible portfolio."""
        return sum(fig.equity for fig in self.figures.values())

    @cached_property
    def today_pnl(self) -> float:
        """Equity change since midnight UTC."""
        return today_pnl(self.figures, self.now)

    @cached_property
    def open_positions(self) -> list[Position]:
        """The newest open positions (through the positions service)."""
        from lts.services.positions import list_positions

        return list_positions(self.actor, status="open", per_page=OPEN_POSITIONS).items

    @cached_property
    def recent_orders(self) -> list[Order]:
        """The last orders (through the orders service)."""
        from lts.services.orders import list_orders

        return list_orders(self.actor, per_page=RECENT_ORDERS).items

    @cached_property
    def errors(self) -> list[AuditLog]:
        """Recent failed plugin steps of the viewer's portfolios."""
        return _recent_errors(self.actor, self.portfolio_ids, RECENT_ERRORS)

    @cached_property
    def error_views(self) -> list[ErrorView]:
        """The recent errors as people see them: a message and an error id, no internals."""
        return [error_view(row) for row in self.errors]

    @cached_property
    def is_admin(self) -> bool:
        """Whether the viewer may open an error's details (the admin error page)."""
        return is_admin(self.actor)

    @cached_property
    def loop(self) -> LoopStatus:
        """The loop's status as the viewer may see it."""
        return get_status(self.actor, self.now)

    @cached_property
    def equity_series(self) -> list[dict[str, Any]]:
        """Total equity over the last ``days``."""
        return combined_equity(self.portfolio_ids, self.now - timedelta(days=self.days))

    @cached_property
    def equity_steps(self) -> list[dict[str, Any]]:
        """Capital steps in the total equity curve (a portfolio added, a deposit): markers."""
        from lts.services.dashboard_queries import equity_steps

        return equity_steps(self.portfolio_ids, self.equity_series)


def visible_portfolio_ids(actor: User) -> list[int]:
    """Ids of the portfolios ``actor`` may see."""
    return list(db.session.scalars(scoped(select(Portfolio.id), actor, "portfolio")))


def portfolio_figures(portfolio_ids: list[int]) -> dict[int, PortfolioFigures]:
    """Capital, realized and unrealized P&L per portfolio, in two queries."""
    if not portfolio_ids:
        return {}
    capitals = dict(db.session.execute(
        select(Portfolio.id, Portfolio.total_capital).where(Portfolio.id.in_(portfolio_ids))
    ).all())
    pnl = {row[0]: (float(row[1]), float(row[2])) for row in db.session.execute(
        select(Asset.portfolio_id,
               func.coalesce(func.sum(Position.realized_pnl), 0.0),
               func.coalesce(func.sum(case((Position.status == "open",
                                            Position.unrealized_pnl), else_=0.0)), 0.0))
        .join(Asset, Asset.id == Position.asset_id)
        .where(Asset.portfolio_id.in_(portfolio_ids))
        .group_by(Asset.portfolio_id))}
    return {pid: PortfolioFigures(float(capital), *pnl.get(pid, (0.0, 0.0)))
            for pid, capital in capitals.items()}


def combined_equity(portfolio_ids: list[int], since: datetime | None = None,
                    limit: int = EQUITY_POINTS) -> list[dict[str, Any]]:
    """Total equity over time: each portfolio's last known equity, summed at every sample.

    Portfolios run at different intervals, so at each timestamp a portfolio counts
    with its latest sample so far (forward fill); one that has no sample yet adds
    nothing. Returns ``[{"t": iso, "v": value}]``, oldest first, at most ``limit``.
    """
    if not portfolio_ids:
        return []
    keys = {portfolio_key(pid, EQUITY): pid for pid in portfolio_ids}
    statement = select(Statistic.key, Statistic.timestamp, Statistic.value).where(
        Statistic.key.in_(list(keys)), Statistic.portfolio_id.in_(portfolio_ids))
    if since is not None:
        statement = statement.where(Statistic.timestamp >= since)
    rows = db.session.execute(
        statement.order_by(Statistic.timestamp.desc(), Statistic.id.desc())
        .limit(limit * max(1, len(keys)))).all()
    latest: dict[str, float] = {}
    points: dict[datetime, float] = {}
    for key, timestamp, value in reversed(rows):
        latest[key] = float(value)
        points[timestamp] = sum(latest.values())
    series = [{"t": ts.isoformat(), "v": round(v, 2)} for ts, v in sorted(points.items())]
    return series[-limit:]


def _equity_at(portfolio_ids: list[int], moment: datetime) -> dict[int, float]:
    """Each portfolio's last recorded equity at or before ``moment``."""
    if not portfolio_ids:
        return {}
    keys = {portfolio_key(pid, EQUITY): pid for pid in portfolio_ids}
    newest = (select(Statistic.key, func.max(Statistic.timestamp).label("ts"))
              .where(Statistic.key.in_(list(keys)), Statistic.portfolio_id.in_(portfolio_ids),
                     Statistic.timestamp <= moment)
              .group_by(Statistic.key).subquery())
    rows = db.session.execute(
        select(Statistic.key, Statistic.value)
        .join(newest, (newest.c.key == Statistic.key) & (newest.c.ts == Statistic.timestamp))
    ).all()
    return {keys[key]: float(value) for key, value in rows}


def today_pnl(figures: dict[int, PortfolioFigures], now: datetime) -> float:
    """Equity now minus equity at the start of today (UTC).

    The start-of-day equity of a portfolio is its last sample before midnight; a
    portfolio with no sample before today starts from its capital.
    """
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    start = _equity_at(list(figures), midnight)
    return sum(fig.equity - start.get(pid, fig.capital) for pid, fig in figures.items())


def _recent_errors(actor: User, portfolio_ids: list[int], limit: int) -> list[AuditLog]:
    """Failed plugin steps of the actor's portfolios and assets (admins: all, loop too)."""
    statement = select(AuditLog).where(AuditLog.action.in_(ERROR_ACTIONS))
    if not list_scope(actor, "audit").everything:
        asset_ids = list(db.session.scalars(
            select(Asset.id).where(Asset.portfolio_id.in_(portfolio_ids))))
        resources = [f"portfolio:{pid}" for pid in portfolio_ids] + [
            f"asset:{aid}" for aid in asset_ids]
        if not resources:
            return []
        statement = statement.where(or_(AuditLog.resource.in_(resources)))
    return list(db.session.scalars(statement.order_by(AuditLog.id.desc()).limit(limit)))


def overview_counts(actor: User) -> dict[str, int | None]:
    """Portfolios, assets, open positions and orders the actor sees; users for admins."""

    def count(statement: Select[Any], kind: str) -> int:
        return int(db.session.scalar(scoped(statement, actor, kind)) or 0)

    return {
        "portfolios": count(select(func.count(Portfolio.id)), "portfolio"),
        "assets": count(select(func.count(Asset.id)), "asset"),
        "open_positions": count(
            select(func.count(Position.id)).where(Position.status == "open"), "position"),
        "orders": count(select(func.count(Order.id)), "order"),
        "users": count(select(func.count(User.id)), "user")
        if list_scope(actor, "user").everything else None,
    }


def build_overview(actor: User, now: datetime, days: int = 7) -> Overview:
    """The overview page for ``actor`` at ``now`` (equity chart: last ``days``), lazily."""
    return Overview(actor, now, days)
