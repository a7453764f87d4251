"""What the loop and scale benchmarks share: the bulk-inserted book they tick.

Kept free of LTS imports at module level: ``loop_bench.py`` measures other checkouts
too (``--tree``), and passes in the ``db`` and ``models`` of the tree it imported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def seed(db: Any, models: Any, assets: int, per_portfolio: int,
         pipeline: str = "synthetic") -> None:
    """One user, ``assets`` assets in portfolios of ``per_portfolio``, bulk-inserted."""
    from sqlalchemy import insert, select

    now = datetime.now(UTC)
    db.session.execute(insert(models.User), [{
        "username": "bench", "email": "bench@example.com", "password_hash": "x",
        "role": "user", "created_at": now}])
    user_id = db.session.scalar(select(models.User.id))
    portfolios = max(1, assets // per_portfolio)
    db.session.execute(insert(models.Portfolio), [
        {"user_id": user_id, "name": f"bench {p}", "total_capital": 100_000.0,
         "portfolio_plugin": "equal_weight", "portfolio_config": {}, "portfolio_latency": 1,
         "created_at": now, "updated_at": now, "description": "", "is_active": True,
         "risk_state": "active"} for p in range(portfolios)])
    ids = db.session.scalars(select(models.Portfolio.id).order_by(models.Portfolio.id)).all()
    db.session.execute(insert(models.Asset), [
        {"portfolio_id": pid, "symbol": f"SYM{p:03d}{a}", "name": "",
         "pipeline_plugin": pipeline, "pipeline_config": {"lookback": 500},
         "strategy_plugin": "prediction_threshold", "strategy_config": {},
         "broker_plugin": "paper", "broker_config": {}, "allocated_capital": 0.0,
         "is_active": True, "created_at": now, "updated_at": now}
        for p, pid in enumerate(ids) for a in range(per_portfolio)][:assets])
    db.session.commit()
