"""A CSV export of 100,000 trades is streamed: Python's peak memory stays bounded.

Measured with :mod:`tracemalloc` (memory, never time: the machine's load would make a
timing flaky). Holding the rows would cost far more than the whole CSV text; streaming
holds one chunk of rows (plus SQLAlchemy's statement caches), so the peak must stay under
a quarter of the file's size.
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from lts.extensions import db
from lts.models import Order, Position, User
from lts.services import exports
from lts.services.trades import TradeFilters, list_trades
from tests.factories import gen_asset, gen_portfolio, gen_user

ROWS = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _insert_trades(asset_id: int, order_id: int) -> None:
    """ROWS closed positions, in batches through Core (no ORM objects kept)."""
    for start in range(0, ROWS, 10_000):
        db.session.execute(insert(Position), [
            {"asset_id": asset_id, "order_id": order_id, "close_order_id": order_id,
             "side": "long", "quantity": 1.0 + i % 7, "entry_price": 100.0,
             "exit_price": 100.0 + (i % 11) - 5, "current_price": 100.0, "status": "closed",
             "opened_at": T0 + timedelta(minutes=i), "closed_at": T0 + timedelta(minutes=i + 5),
             "updated_at": T0, "realized_pnl": float((i % 11) - 5), "commission": 0.1}
            for i in range(start, start + 10_000)])
    db.session.commit()


def test_exporting_100k_trades_keeps_peak_memory_bounded(db):
    user = gen_user("bulk")
    asset = gen_asset(gen_portfolio(user, "Bulk"), "EUR_USD")
    order = Order(asset_id=asset.id, side="sell", quantity=1.0, status="filled",
                  client_order_id="bulk-close", source="strategy", reason="signal")
    db.session.add(order)
    db.session.commit()
    user_id = user.id
    _insert_trades(asset.id, order.id)
    db.session.expunge_all()
    user = db.session.get(User, user_id)

    made = exports.export_csv(user, "trades", {}, now=T0)
    tracemalloc.start()
    try:
        total_bytes, lines, first, last = 0, 0, "", ""
        for chunk in made.lines:
            total_bytes += len(chunk)
            lines += chunk.count("\r\n")
            first = first or chunk
            last = chunk or last
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == ROWS + 1  # the header and every trade
    assert total_bytes > 10_000_000
    assert peak < total_bytes / 4, (peak, total_bytes)  # measured: ~1.4 MB of ~12.4 MB
    header, newest = list(csv.reader(io.StringIO(first)))[:2]
    assert header[0] == "id" and newest[header.index("exit_reason")] == "signal"
    assert newest[header.index("exit_time")] == (T0 + timedelta(minutes=ROWS - 1 + 5)
                                                 ).isoformat()
    assert list_trades(user, TradeFilters(), per_page=1).total == ROWS
