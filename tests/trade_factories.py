"""Closed trades as the engine leaves them: an opening order, a closing order, a position."""

from __future__ import annotations

import itertools
from datetime import datetime

from lts.extensions import db
from lts.models import Asset, Order, Position

_ids = itertools.count(1)

# How the engine and the services write the closing order of each exit reason.
CLOSE_ORDERS = {
    "stop": {"source": "risk", "reason": "stop_loss", "order_type": "stop"},
    "target": {"source": "risk", "reason": "take_profit", "order_type": "limit"},
    "signal": {"source": "strategy", "reason": "predicted fall 0.3%", "order_type": "market"},
    "manual": {"source": "manual", "reason": "manual close", "order_type": "market"},
    "risk": {"source": "risk", "reason": "kill switch: flatten", "order_type": "market"},
}


def gen_trade(asset: Asset, *, opened: datetime, closed: datetime, entry: float, exit: float,
              quantity: float = 1.0, side: str = "long", fees: float = 0.0,
              reason: str = "signal", commit: bool = True) -> Position:
    """A closed position with its two filled orders; P&L net of ``fees`` as the engine books it."""
    n = next(_ids)
    opening = Order(asset_id=asset.id, side="buy" if side == "long" else "sell",
                    quantity=quantity, status="filled", filled_quantity=quantity,
                    fill_price=entry, client_order_id=f"t-{asset.id}-{n}-open",
                    created_at=opened, filled_at=opened, source="strategy")
    closing = Order(asset_id=asset.id, side="sell" if side == "long" else "buy",
                    quantity=quantity, status="filled", filled_quantity=quantity,
                    fill_price=exit, client_order_id=f"t-{asset.id}-{n}-close",
                    created_at=closed, filled_at=closed, **CLOSE_ORDERS[reason])
    db.session.add_all([opening, closing])
    db.session.flush()
    sign = 1.0 if side == "long" else -1.0
    position = Position(asset_id=asset.id, order_id=opening.id, close_order_id=closing.id,
                        side=side, quantity=quantity, entry_price=entry, exit_price=exit,
                        current_price=exit, status="closed", opened_at=opened,
                        closed_at=closed, commission=fees,
                        realized_pnl=sign * (exit - entry) * quantity - fees)
    db.session.add(position)
    if commit:
        db.session.commit()
    return position
