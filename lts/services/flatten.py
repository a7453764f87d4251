"""Flatten now: close every open position of one portfolio at market, in one action.

Each position goes through the manual close service
(:func:`lts.services.positions.close_position`), so every pre-trade check, broker call
and per-position audit row is the one a single "Close" button gets; one more audit row,
``portfolio.flatten``, records the action as a whole and what became of each position.
A refused or failed close does not stop the others: flattening is what a trader reaches
for when something is wrong, so it closes all it can and reports the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from lts.database import write_transaction
from lts.errors import ServiceError
from lts.extensions import db
from lts.models import Asset, Portfolio, Position, User
from lts.services import positions
from lts.services.access import load_owned, record


@dataclass(frozen=True)
class FlattenResult:
    """Per position: the closing order sent, or why it was not."""

    portfolio_id: int
    sent: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """``ok`` when every close was sent, else ``error``."""
        return "error" if self.refused else "ok"

    def summary(self) -> str:
        """One sentence for the trader's toast."""
        if not self.sent and not self.refused:
            return "No open position to close."
        text = f"Flatten: {len(self.sent)} closing order(s) sent"
        if self.refused:
            text += f", {len(self.refused)} refused (" + "; ".join(
                f"position {pid}: {why}" for pid, why in self.refused.items()) + ")"
        return text + "."


def flatten_portfolio(actor: User, portfolio_id: int, *, now: datetime | None = None,
                      ip: str | None = None) -> FlattenResult:
    """Close every open position of the portfolio (its owner or an admin), audited."""
    portfolio = load_owned(Portfolio, portfolio_id, actor, "update", ip=ip)
    open_ids = list(db.session.scalars(
        select(Position.id).join(Asset, Asset.id == Position.asset_id)
        .where(Asset.portfolio_id == portfolio.id, Position.status == "open")
        .order_by(Position.id)))
    result = FlattenResult(portfolio_id=portfolio.id)
    for position_id in open_ids:
        try:
            closed = positions.close_position(actor, position_id, now=now, ip=ip)
        except ServiceError as exc:
            db.session.rollback()
            result.refused[position_id] = exc.message
            continue
        if closed.rejected_by:
            result.refused[position_id] = f"{closed.rejected_by} check: {closed.message}"
        else:
            result.sent[position_id] = closed.client_order_id
    with write_transaction(db.session()):
        record(actor, "portfolio.flatten", f"portfolio:{portfolio.id}",
               {"sent": {str(k): v for k, v in result.sent.items()},
                "refused": {str(k): v for k, v in result.refused.items()}},
               result.outcome, ip=ip, commit=False)
    return result
