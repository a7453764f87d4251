"""Statistics rows written by the loop: equity, P&L and tick duration.

Key names come from :mod:`lts.models.statistic_keys`; each row also stores the
portfolio or asset its key was built for, which is what authorization reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, func, insert, select
from sqlalchemy.orm import Session

from lts.models import Asset, Position, Statistic
from lts.models import statistic_keys as keys

_STATISTICS = Statistic.__table__
# Statements built once: building and cache-keying a select cost ~0.6 ms, ten times the
# SQL itself, and the engine runs these two or three times per portfolio and tick.
_PORTFOLIO_PNL = (
    select(Position.asset_id, func.coalesce(func.sum(Position.realized_pnl), 0.0),
           func.coalesce(func.sum(case((Position.status == "open",
                                        Position.unrealized_pnl), else_=0.0)), 0.0))
    .join(Asset, Asset.id == Position.asset_id)
    .where(Asset.portfolio_id == bindparam("pid"))
    .group_by(Position.asset_id))
_PEAK = select(func.max(Statistic.value)).where(Statistic.key == bindparam("key"))
_PEAK_SINCE = _PEAK.where(Statistic.timestamp >= bindparam("since"))


def tick_seconds_key() -> str:
    """Key of the tick-duration series."""
    return keys.global_key(keys.TICK_SECONDS)


def equity_key(portfolio_id: int) -> str:
    """Key of a portfolio's equity series."""
    return keys.portfolio_key(portfolio_id, keys.EQUITY)


def realized_key(portfolio_id: int) -> str:
    """Key of a portfolio's realized P&L series."""
    return keys.portfolio_key(portfolio_id, keys.REALIZED_PNL)


def unrealized_key(asset_id: int) -> str:
    """Key of an asset's unrealized P&L series."""
    return keys.asset_key(asset_id, keys.UNREALIZED_PNL)


def record(session: Session | Connection, samples: Iterable[tuple[str, float]],
           now: datetime) -> None:
    """Insert samples in one statement, in the caller's transaction.

    A Core insert into the table: the ORM bulk-insert path costs more and returns nothing
    we use. Keys built by :mod:`lts.models.statistic_keys` carry their owner's id,
    stored with the row; a plain string key is stored without one (administrators only).
    """
    rows = [{"key": str(key), "value": float(value), "timestamp": now,
             "portfolio_id": getattr(key, "portfolio_id", None),
             "asset_id": getattr(key, "asset_id", None)} for key, value in samples]
    if rows:
        session.execute(insert(_STATISTICS), rows)


def portfolio_pnl(session: Session | Connection, portfolio_id: int
                  ) -> tuple[float, float, dict[int, float]]:
    """(realized, unrealized, unrealized per asset) over the portfolio's positions.

    One grouped query: realized over all positions, unrealized over open ones.
    """
    rows = session.execute(_PORTFOLIO_PNL, {"pid": portfolio_id}).all()
    per_asset = {int(asset_id): float(unrealized) for asset_id, _, unrealized in rows}
    return (float(sum(r[1] for r in rows)), float(sum(per_asset.values())), per_asset)


def capital_change_key(portfolio_id: int) -> str:
    """Key of a portfolio's deposits (+) and withdrawals (-): changes of total_capital."""
    return keys.portfolio_key(portfolio_id, keys.CAPITAL_CHANGE)


def peak_equity(session: Session | Connection, portfolio_id: int, floor: float,
                since: datetime | None = None) -> float:
    """Highest equity recorded for the portfolio, at least ``floor`` (its capital).

    ``since`` (when its capital last changed) restarts the peak: samples before a
    deposit or withdrawal measure another amount of money (SPEC 2a "Drawdown").
    """
    key = equity_key(portfolio_id)
    value = session.scalar(_PEAK, {"key": key}) if since is None else \
        session.scalar(_PEAK_SINCE, {"key": key, "since": since})
    return max(float(value), floor) if value is not None else floor
