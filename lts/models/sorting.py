"""The columns each list may be sorted by, named as the API and the pages name them.

One table per list, read by both sides: the schemas refuse a sort name not in it (a
422 naming ``sort``), the services order by its column. It sits with the tables it
points into, below both, so the schemas import no service.
"""

from __future__ import annotations

from lts.models.portfolio import Asset
from lts.models.trading import Order, Position

ORDER_SORTS = {"created_at": Order.created_at, "status": Order.status, "side": Order.side,
               "symbol": Asset.symbol, "quantity": Order.quantity,
               "order_type": Order.order_type}
POSITION_SORTS = {"opened_at": Position.opened_at, "closed_at": Position.closed_at,
                  "status": Position.status, "side": Position.side, "symbol": Asset.symbol,
                  "quantity": Position.quantity, "realized_pnl": Position.realized_pnl,
                  "unrealized_pnl": Position.unrealized_pnl}
