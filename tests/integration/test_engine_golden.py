"""Golden scenario: two portfolios, three assets, 50 one-minute ticks, exact results.

Setup: seed 7 walk pipeline (one-minute bars, closes move by -1, -0.5, 0, +0.5 or +1),
momentum strategy (open in the direction of the last move, close when it turns),
book broker (fills at the last close, commission 1.00 per fill), equal split.
Portfolio 1 "fast" (latency 1 min, 10,000): assets 1 AAA and 2 BBB (5,000 each).
Portfolio 2 "slow" (latency 3 min, 10,000): asset 3 CCC (10,000).
Ticks at EPOCH + 10 min, + 11 min, ... (bar index 10, 11, ...); epoch 1767571800 is
the first tick.

Computed by hand for the first four ticks (closes by bar index 9..14):
AAA[9..14] = 100.0, 100.5, 100.5, 101.5, 101.5, 102.5;
BBB[9..14] = 100.5, 100.5, 101.0, 101.5, 100.5, 100.0;
CCC[9..14] = 101.0, 101.5, 101.5, 102.5, 102.0, 101.0.

- tick 1 (index 10, t=1767571800): AAA 100.0 -> 100.5 up: buy floor(5000 / 100.5) = 49
  at 100.5 (``lts-1-1767571800-1``); BBB flat: hold; CCC 101.0 -> 101.5 up: buy
  floor(10000 / 101.5) = 98 at 101.5 (``lts-3-1767571800-1``).
- tick 2 (index 11, +60 s): AAA flat, long: hold; BBB 100.5 -> 101.0 up: buy
  floor(5000 / 101.0) = 49 at 101.0 (``lts-2-1767571860-1``); CCC not due (3 min).
- tick 3 (index 12): AAA and BBB up, both long: hold.
- tick 4 (index 13, +180 s): BBB 101.5 -> 100.5 down: close 49 at 100.5, realized
  (100.5 - 101.0) x 49 - 2 x 1.00 = -26.50; CCC due again, 102.5 -> 102.0 down: close
  98 at 102.0, realized (102.0 - 101.5) x 98 - 2.00 = 47.00.
- tick 5 (index 14): BBB 100.5 -> 100.0 down, flat: sell (short) floor(5000 / 100) = 50.

Sizing splits the current equity, not the original capital (SPEC 2a): when CCC buys
again at 100.5 (``lts-3-1767573780-1``) the slow portfolio's equity is
10,000 + 47.00 + 47.00 - 244.50 = 9,849.50, so floor(9849.5 / 100.5) = 98, not the 99
that 10,000 would buy.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.models import Order, Position, Statistic
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, fake_source

EXPECTED_ORDERS = [
    ('lts-1-1767571800-1', 'buy', 49.0, 100.5, 'filled'),
    ('lts-3-1767571800-1', 'buy', 98.0, 101.5, 'filled'),
    ('lts-2-1767571860-1', 'buy', 49.0, 101.0, 'filled'),
    ('lts-2-1767571980-1', 'sell', 49.0, 100.5, 'filled'),
    ('lts-3-1767571980-1', 'sell', 98.0, 102.0, 'filled'),
    ('lts-2-1767572040-1', 'sell', 50.0, 100.0, 'filled'),
    ('lts-1-1767572100-1', 'sell', 49.0, 102.0, 'filled'),
    ('lts-1-1767572160-1', 'sell', 49.0, 101.5, 'filled'),
    ('lts-2-1767572160-1', 'buy', 50.0, 99.5, 'filled'),
    ('lts-3-1767572160-1', 'sell', 98.0, 101.5, 'filled'),
    ('lts-2-1767572220-1', 'buy', 50.0, 100.0, 'filled'),
    ('lts-1-1767572340-1', 'buy', 49.0, 100.5, 'filled'),
    ('lts-3-1767572340-1', 'buy', 98.0, 101.0, 'filled'),
    ('lts-1-1767572460-1', 'sell', 50.0, 99.5, 'filled'),
    ('lts-2-1767572460-1', 'sell', 50.0, 100.5, 'filled'),
    ('lts-2-1767572580-1', 'buy', 49.0, 101.5, 'filled'),
    ('lts-2-1767572700-1', 'sell', 49.0, 100.5, 'filled'),
    ('lts-1-1767572820-1', 'buy', 50.0, 99.0, 'filled'),
    ('lts-2-1767572820-1', 'buy', 49.0, 101.5, 'filled'),
    ('lts-3-1767572880-1', 'buy', 97.0, 102.5, 'filled'),
    ('lts-1-1767572940-1', 'sell', 51.0, 98.0, 'filled'),
    ('lts-2-1767573000-1', 'sell', 49.0, 102.5, 'filled'),
    ('lts-2-1767573120-1', 'buy', 48.0, 103.5, 'filled'),
    ('lts-2-1767573180-1', 'sell', 48.0, 103.0, 'filled'),
    ('lts-2-1767573240-1', 'buy', 48.0, 103.5, 'filled'),
    ('lts-2-1767573420-1', 'sell', 48.0, 104.0, 'filled'),
    ('lts-2-1767573480-1', 'sell', 48.0, 103.5, 'filled'),
    ('lts-3-1767573600-1', 'sell', 97.0, 100.0, 'filled'),
    ('lts-2-1767573660-1', 'buy', 48.0, 102.0, 'filled'),
    ('lts-2-1767573720-1', 'buy', 48.0, 102.5, 'filled'),
    ('lts-3-1767573780-1', 'buy', 98.0, 100.5, 'filled'),
    ('lts-1-1767573840-1', 'buy', 51.0, 93.0, 'filled'),
    ('lts-2-1767573840-1', 'sell', 48.0, 102.5, 'filled'),
    ('lts-1-1767573900-1', 'buy', 53.0, 94.0, 'filled'),
    ('lts-1-1767573960-1', 'sell', 53.0, 93.5, 'filled'),
    ('lts-2-1767573960-1', 'sell', 49.0, 101.5, 'filled'),
    ('lts-3-1767573960-1', 'sell', 98.0, 100.5, 'filled'),
    ('lts-1-1767574020-1', 'buy', 52.0, 94.5, 'filled'),
    ('lts-1-1767574080-1', 'sell', 52.0, 94.0, 'filled'),
    ('lts-1-1767574140-1', 'sell', 53.0, 93.0, 'filled'),
    ('lts-2-1767574140-1', 'buy', 49.0, 100.5, 'filled'),
    ('lts-1-1767574200-1', 'buy', 53.0, 93.5, 'filled'),
    ('lts-2-1767574200-1', 'sell', 50.0, 99.5, 'filled'),
    ('lts-1-1767574260-1', 'sell', 53.0, 93.0, 'filled'),
    ('lts-1-1767574320-1', 'buy', 53.0, 93.5, 'filled'),
    ('lts-2-1767574320-1', 'buy', 50.0, 99.5, 'filled'),
    ('lts-3-1767574320-1', 'sell', 100.0, 98.0, 'filled'),
    ('lts-1-1767574380-1', 'buy', 53.0, 94.0, 'filled'),
    ('lts-2-1767574380-1', 'buy', 50.0, 100.0, 'filled'),
    ('lts-2-1767574440-1', 'sell', 50.0, 99.0, 'filled'),
    ('lts-1-1767574500-1', 'sell', 53.0, 94.0, 'filled'),
    ('lts-3-1767574500-1', 'buy', 100.0, 97.5, 'filled'),
    ('lts-1-1767574560-1', 'buy', 52.0, 94.5, 'filled'),
    ('lts-2-1767574560-1', 'buy', 50.0, 99.5, 'filled'),
    ('lts-3-1767574680-1', 'buy', 99.0, 99.5, 'filled'),
    ('lts-1-1767574740-1', 'sell', 52.0, 95.5, 'filled'),
]
EXPECTED_POSITIONS = [
    (1, 'long', 49.0, 100.5, 102.0, 71.5, 'closed'),
    (3, 'long', 98.0, 101.5, 102.0, 47.0, 'closed'),
    (2, 'long', 49.0, 101.0, 100.5, -26.5, 'closed'),
    (2, 'short', 50.0, 100.0, 99.5, 23.0, 'closed'),
    (1, 'short', 49.0, 101.5, 100.5, 47.0, 'closed'),
    (3, 'short', 98.0, 101.5, 101.0, 47.0, 'closed'),
    (2, 'long', 50.0, 100.0, 100.5, 23.0, 'closed'),
    (1, 'short', 50.0, 99.5, 99.0, 23.0, 'closed'),
    (2, 'long', 49.0, 101.5, 100.5, -51.0, 'closed'),
    (2, 'long', 49.0, 101.5, 102.5, 47.0, 'closed'),
    (3, 'long', 97.0, 102.5, 100.0, -244.5, 'closed'),
    (1, 'short', 51.0, 98.0, 93.0, 253.0, 'closed'),
    (2, 'long', 48.0, 103.5, 103.0, -26.0, 'closed'),
    (2, 'long', 48.0, 103.5, 104.0, 22.0, 'closed'),
    (2, 'short', 48.0, 103.5, 102.0, 70.0, 'closed'),
    (2, 'long', 48.0, 102.5, 102.5, -2.0, 'closed'),
    (3, 'long', 98.0, 100.5, 100.5, -2.0, 'closed'),
    (1, 'long', 53.0, 94.0, 93.5, -28.5, 'closed'),
    (2, 'short', 49.0, 101.5, 100.5, 47.0, 'closed'),
    (1, 'long', 52.0, 94.5, 94.0, -28.0, 'closed'),
    (1, 'short', 53.0, 93.0, 93.5, -28.5, 'closed'),
    (2, 'short', 50.0, 99.5, 99.5, -2.0, 'closed'),
    (1, 'short', 53.0, 93.0, 93.5, -28.5, 'closed'),
    (3, 'short', 100.0, 98.0, 97.5, 48.0, 'closed'),
    (1, 'long', 53.0, 94.0, 94.0, -2.0, 'closed'),
    (2, 'long', 50.0, 100.0, 99.0, -52.0, 'closed'),
    (1, 'long', 52.0, 94.5, 95.5, 50.0, 'closed'),
    (2, 'long', 50.0, 99.5, None, 0.0, 'open'),
    (3, 'long', 99.0, 99.5, None, 0.0, 'open'),
]
EXPECTED_EQUITY = {1: 10500.5, 2: 9894.5}


pytestmark = pytest.mark.usefixtures("fresh_book")


def test_golden_scenario_orders_positions_and_equity(app, db):
    user = gen_user("golden")
    fast = gen_portfolio(user, "fast", portfolio_plugin="split", portfolio_latency=1,
                         total_capital=10_000.0)
    slow = gen_portfolio(user, "slow", portfolio_plugin="split", portfolio_latency=3,
                         total_capital=10_000.0)
    assets = [gen_asset(fast, "AAA", **FAKE_ASSET), gen_asset(fast, "BBB", **FAKE_ASSET),
              gen_asset(slow, "CCC", **FAKE_ASSET)]
    assert [a.id for a in assets] == [1, 2, 3] and (fast.id, slow.id) == (1, 2)
    clock = ManualClock(EPOCH + timedelta(minutes=10))
    engine = Engine(app, plugins=fake_source(), clock=clock)
    runs = {1: 0, 2: 0}
    try:
        for _ in range(50):
            for portfolio_id in engine.tick().portfolios_run:
                runs[portfolio_id] += 1
            clock.advance(minutes=1)
    finally:
        engine.close()

    assert runs == {1: 50, 2: 17}  # every minute; every third minute (0, 3, ..., 48)
    orders = [(o.client_order_id, o.side, o.quantity, o.fill_price, o.status)
              for o in db.session.scalars(select(Order).order_by(Order.id))]
    assert orders[:5] == [
        ("lts-1-1767571800-1", "buy", 49.0, 100.5, "filled"),
        ("lts-3-1767571800-1", "buy", 98.0, 101.5, "filled"),
        ("lts-2-1767571860-1", "buy", 49.0, 101.0, "filled"),
        ("lts-2-1767571980-1", "sell", 49.0, 100.5, "filled"),
        ("lts-3-1767571980-1", "sell", 98.0, 102.0, "filled"),
    ]
    assert orders == EXPECTED_ORDERS
    positions = [(p.asset_id, p.side, p.quantity, p.entry_price, p.exit_price,
                  round(p.realized_pnl, 2), p.status)
                 for p in db.session.scalars(select(Position).order_by(Position.id))]
    assert positions[2] == (2, "long", 49.0, 101.0, 100.5, -26.5, "closed")
    assert positions[1] == (3, "long", 98.0, 101.5, 102.0, 47.0, "closed")
    assert positions == EXPECTED_POSITIONS
    for portfolio_id, equity in EXPECTED_EQUITY.items():
        last = db.session.scalar(
            select(Statistic.value).where(Statistic.key == f"portfolio.{portfolio_id}.equity")
            .order_by(Statistic.timestamp.desc(), Statistic.id.desc()).limit(1))
        assert round(last, 2) == equity
