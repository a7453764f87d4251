"""Statistics rows written by the loop: equity, P&L and tick duration."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from lts.models import Asset, Position, Statistic


def tick_seconds_key() -> str:
    """Key of the tick-duration series."""
    return "loop.tick_seconds"


def equity_key(portfolio_id: int) -> str:
    """Key of a portfolio's equity series."""
    return f"portfolio.{portfolio_id}.equity"


def realized_key(portfolio_id: int) -> str:
    """Key of a portfolio's realized P&L series."""
    return f"portfolio.{portfolio_id}.realized_pnl"


def unrealized_key(asset_id: int) -> str:
    """Key of an asset's unrealized P&L series."""
    return f"asset.{asset_id}.unrealized_pnl"


def record(session: Session, samples: Iterable[tuple[str, float]], now: datetime) -> None:
    """Insert samples in one statement, in the caller's transaction."""
    rows = [{"key": key, "value": float(value), "timestamp": now} for key, value in samples]
    if rows:
        session.execute(insert(Statistic), rows)


def portfolio_pnl(session: Session, portfolio_id: int) -> tuple[float, float]:
    """(realized, unrealized) P&L over all positions of the portfolio's assets."""
    row = session.execute(
        select(func.coalesce(func.sum(Position.realized_pnl), 0.0),
               func.coalesce(func.sum(case((Position.status == "open",
                                            Position.unrealized_pnl), else_=0.0)), 0.0))
        .join(Asset, Asset.id == Position.asset_id)
        .where(Asset.portfolio_id == portfolio_id)
    ).one()
    return float(row[0]), float(row[1])


def asset_unrealized(session: Session, portfolio_id: int) -> dict[int, float]:
    """Unrealized P&L of open positions per asset of the portfolio."""
    rows = session.execute(
        select(Position.asset_id, func.sum(Position.unrealized_pnl))
        .join(Asset, Asset.id == Position.asset_id)
        .where(Asset.portfolio_id == portfolio_id, Position.status == "open")
        .group_by(Position.asset_id)
    ).all()
    return {int(asset_id): float(value or 0.0) for asset_id, value in rows}


def peak_equity(session: Session, portfolio_id: int, floor: float) -> float:
    """Highest equity recorded for the portfolio, at least ``floor`` (its capital)."""
    value = session.scalar(select(func.max(Statistic.value))
                           .where(Statistic.key == equity_key(portfolio_id)))
    return max(float(value), floor) if value is not None else floor
