"""MemoryBooks keeps each asset's figures until one of its records changes: never stale."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from lts.trading.books import MemoryBooks

T0 = datetime(2026, 1, 5, tzinfo=UTC)
ORDER_STATUSES = ("pending", "submitted", "unknown", "partially_filled", "filled",
                  "cancelled", "rejected", "error")


def figures(books: MemoryBooks, asset_ids: list[int], now: datetime) -> list[object]:
    """Every figure the rules read of the books: risk subjects and the portfolios' P&L."""
    found: list[object] = [books.portfolio_pnl(1), books.portfolio_pnl(2)]
    for asset_id in asset_ids:
        found.append(books.risk_subject(asset_id, now))
        found.append(books.risk_subject(asset_id, now, closing=True))
    return found


def test_kept_figures_equal_figures_worked_out_afresh_after_any_change():
    rng = random.Random(15)
    books = MemoryBooks()
    books.add_portfolio(1, total_capital=10_000.0)
    books.add_portfolio(2, total_capital=5_000.0)
    asset_ids = [1, 2, 3, 4]
    for asset_id in asset_ids:
        books.add_asset(asset_id, 1 if asset_id < 4 else 2, allocated_capital=1_000.0,
                        broker_config={"leverage": 1 + asset_id % 2})
    now = T0
    changed_figures = 0
    for step in range(600):
        now += timedelta(seconds=rng.choice([0, 5, 30]))
        asset_id = rng.choice(asset_ids)
        action = rng.random()
        if action < 0.2:
            books.new_order(asset_id=asset_id, order_type="market",
                            side=rng.choice(["buy", "sell"]), quantity=rng.uniform(1, 5),
                            price=rng.choice([None, rng.uniform(90, 110)]),
                            status=rng.choice(ORDER_STATUSES[:4]),
                            client_order_id=f"c{step}", created_at=now, updated_at=now)
        elif action < 0.35:
            books.new_position(asset_id=asset_id, side=rng.choice(["long", "short"]),
                               quantity=rng.uniform(1, 5), entry_price=rng.uniform(90, 110),
                               status="open", opened_at=now, order_id=None)
        elif action < 0.5:
            books.mark(asset_id, rng.uniform(80, 120), now)
        else:
            records = [r for r in (*books.orders.values(), *books.positions.values())
                       if r.asset_id == asset_id]
            if not records:
                continue
            record = rng.choice(records)
            if record in books.positions.values():
                name, value = rng.choice([
                    ("status", "closed"), ("realized_pnl", rng.uniform(-50, 50)),
                    ("unrealized_pnl", rng.uniform(-50, 50)),
                    ("quantity", rng.uniform(1, 5)), ("entry_price", rng.uniform(90, 110)),
                    ("close_order_id", rng.choice([None, *books.orders]))])
            else:
                name, value = rng.choice([
                    ("status", rng.choice(ORDER_STATUSES)), ("price", rng.uniform(90, 110)),
                    ("quantity", rng.uniform(1, 5))])
            setattr(record, name, value)
        kept = figures(books, asset_ids, now)
        before = dict(books._figures)
        books._figures.clear()  # worked out afresh from the records
        fresh = figures(books, asset_ids, now)
        assert kept == fresh, f"step {step}"
        changed_figures += before != books._figures
    assert changed_figures == 0  # the kept tuples were the fresh ones, bit for bit
    assert any(p.status == "closed" for p in books.positions.values())
    assert sum(1 for o in books.orders.values() if o.status in ORDER_STATUSES[:4]) > 5
