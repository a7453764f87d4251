"""The strategy's latest decision per asset (``asset_decisions``), written once per tick.

One row per asset, overwritten: the dashboard shows what each strategy last decided and
why, holds included, without a table that grows with every tick. All of a tick's
decisions are written together, three statements per thousand assets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from lts.models import Asset, AssetDecision
from lts.plugins.base import AssetOutcome

REASON_LENGTH = 500
SLICE = 1000
_DECISIONS = AssetDecision.__table__
_ASSETS = Asset.__table__
# Which of the tick's assets still exist and which already have a row: an asset deleted
# during the tick gets no row (its foreign key would refuse it).
_KNOWN = (select(_ASSETS.c.id, _DECISIONS.c.asset_id)
          .outerjoin(_DECISIONS, _DECISIONS.c.asset_id == _ASSETS.c.id)
          .where(_ASSETS.c.id.in_(bindparam("ids", expanding=True))))
_UPDATE = (update(_DECISIONS).where(_DECISIONS.c.asset_id == bindparam("b_asset_id"))
           .values(action=bindparam("b_action"), side=bindparam("b_side"),
                   reason=bindparam("b_reason"), orders_placed=bindparam("b_orders_placed"),
                   decided_at=bindparam("b_decided_at")))
_INSERT = insert(_DECISIONS)


def _reason(outcome: AssetOutcome) -> str:
    """The decision's reason, followed by the step's warnings (e.g. bars not checked)."""
    assert outcome.decision is not None
    return "; ".join(part for part in (outcome.decision.reason, *outcome.warnings) if part)


def decision_rows(outcomes: Iterable[AssetOutcome], now: datetime) -> list[dict[str, Any]]:
    """The row of every asset whose step reached a decision (failed steps keep theirs)."""
    return [{"asset_id": o.asset_id, "action": o.decision.action, "side": o.decision.side,
             "reason": _reason(o)[:REASON_LENGTH],
             "orders_placed": len(o.order_ids), "decided_at": now}
            for o in outcomes if o.ok and o.decision is not None]


def record_decisions(session: Session, outcomes: Iterable[AssetOutcome], now: datetime
                     ) -> int:
    """Write the tick's decisions (in the caller's transaction); return how many.

    In slices of :data:`SLICE` assets, all in the caller's one transaction: a
    10,000-asset tick never holds every row's parameters at once (issue 16, memory).
    """
    outcomes = list(outcomes)
    written = 0
    for start in range(0, len(outcomes), SLICE):
        written += _record_slice(session, decision_rows(outcomes[start:start + SLICE], now))
    return written


def _record_slice(session: Session, rows: list[dict[str, Any]]) -> int:
    """Update or insert ``rows`` (three statements at most)."""
    if not rows:
        return 0
    known = session.execute(_KNOWN, {"ids": [row["asset_id"] for row in rows]}).all()
    existing = {asset_id for asset_id, decided in known if decided is not None}
    alive = {asset_id for asset_id, _ in known}
    updates = [{f"b_{key}": value for key, value in row.items()}
               for row in rows if row["asset_id"] in existing]
    inserts = [row for row in rows if row["asset_id"] in alive - existing]
    if updates:
        session.execute(_UPDATE, updates)
    if inserts:
        session.execute(_INSERT, inserts)
    return len(updates) + len(inserts)
