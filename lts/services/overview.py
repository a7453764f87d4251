"""Figures for the overview page."""

from __future__ import annotations

from sqlalchemy import func, select

from lts.extensions import db
from lts.models import Asset, Order, Portfolio, Position, User


def overview_counts() -> dict[str, int]:
    """Count users, portfolios, assets, open positions and orders in one round trip each."""

    def count(statement) -> int:  # type: ignore[no-untyped-def]
        return int(db.session.scalar(statement) or 0)

    return {
        "users": count(select(func.count(User.id))),
        "portfolios": count(select(func.count(Portfolio.id))),
        "assets": count(select(func.count(Asset.id))),
        "open_positions": count(
            select(func.count(Position.id)).where(Position.status == "open")
        ),
        "orders": count(select(func.count(Order.id))),
    }
