"""Audit a forecast model's fallback once per episode, not once per tick.

Pipelines that forecast (``arima``...) cannot write to the database; they mark the
first snapshot of an asset whose model fell back to a naive forecast
(``predictions.attrs["fallback_started"]``, see :mod:`lts.plugins.pipeline._wrapping`).
The engine hands the tick's snapshots here, and each marked one becomes a
``trading.forecast_fallback`` audit row naming the model and why it failed. The next
ticks of the same episode are not marked, so a model that keeps failing is audited once;
the asset page shows the status every tick through the strategy's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lts.database import write_transaction
from lts.plugins.base import MarketSnapshot
from lts.trading.orders import audit

ACTION = "trading.forecast_fallback"


def fallback_details(snapshot: MarketSnapshot) -> dict[str, Any] | None:
    """Model and reason when ``snapshot`` starts a fallback episode; else None."""
    predictions = snapshot.predictions
    if predictions is None:
        return None
    attrs = predictions.attrs
    if not attrs.get("fallback_started"):
        return None
    return {"model": str(attrs.get("model") or "unknown"),
            "error": str(attrs.get("fit_message") or "")[:500]}


def audit_forecast_fallbacks(session: Session, snapshots: Mapping[int, MarketSnapshot],
                             portfolio_id: int, now: datetime) -> int:
    """Write one audit row per asset whose forecast fallback starts now; how many."""
    rows = [(asset_id, details) for asset_id, snapshot in snapshots.items()
            if (details := fallback_details(snapshot)) is not None]
    if not rows:
        return 0
    with write_transaction(session):
        for asset_id, details in rows:
            audit(session, ACTION, f"asset:{asset_id}", now, outcome="error",
                  portfolio_id=portfolio_id, symbol=snapshots[asset_id].symbol, **details)
    return len(rows)
