"""The in-memory paper book answers exactly as the paper broker's table does.

Each scenario runs on :class:`PaperBroker` (its ``paper_orders`` table, a real SQLite
file) and on :class:`MemoryPaperBroker` (dictionaries), and every answer, statuses,
fills (price, time, commission, reason) and messages, must be identical: a backtest on
the memory book fills what the live paper broker fills.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lts.plugins.base import AssetInfo, BrokerResult
from lts.plugins.broker.paper import PaperBroker
from lts.plugins.broker.paper_memory import MemoryPaperBroker
from tests.unit.plugins.test_paper_broker import T0, bars, held, order, snap

COSTS = {"spread_bps": 10.0, "slippage_bps": 5.0, "commission_fixed": 1.0,
         "commission_pct": 0.1}


def answer(result: BrokerResult | list[Any]) -> Any:
    """What a caller sees of an answer, without the book's own row ids."""
    if isinstance(result, list):
        return [(f.client_order_id, f.quantity, f.price, f.time, f.commission, f.position_id,
                 f.reason) for f in result]
    return (result.status, result.message, answer(list(result.fills)))


def market_then_duplicate(broker: PaperBroker, asset: AssetInfo) -> list[Any]:
    placed = snap(bars((100, 100, 100, 100)))
    first = broker.submit(order(asset, placed))
    again = broker.submit(order(asset, placed))  # the same client id: no second trade
    return [answer(first), answer(again), answer(broker.lookup(asset, "lts-1-1-0"))]


def limit_rests_then_fills(broker: PaperBroker, asset: AssetInfo) -> list[Any]:
    placed = bars((100, 100, 100, 100))
    answers = [answer(broker.submit(order(asset, snap(placed), order_type="limit",
                                          price=99.0, cid="limit-1")))]
    later = bars((100, 100, 100, 100), (100, 100.5, 99.5, 100), (98.8, 99.2, 98.0, 98.5))
    answers.append(answer(broker.mark(asset, snap(later.iloc[:2]), [])))  # not through yet
    answers.append(answer(broker.mark(asset, snap(later), [])))  # opens below the limit
    answers.append(answer(broker.mark(asset, snap(later), [])))  # nothing twice
    answers.append(answer(broker.lookup(asset, "limit-1")))
    return answers


def stop_exit_reported_until_booked(broker: PaperBroker, asset: AssetInfo) -> list[Any]:
    position = held(asset)
    candles = bars((100, 100, 100, 100), (100, 100.4, 99.6, 100), (99.5, 100, 98.0, 98.2))
    answers = [answer(broker.mark(asset, snap(candles.iloc[:2]), [position]))]
    answers.append(answer(broker.mark(asset, snap(candles), [position])))  # the stop
    answers.append(answer(broker.mark(asset, snap(candles), [position])))  # again, same fill
    closing = order(asset, snap(candles), "sell", cid="close-1", closes_position_id=7)
    answers.append(answer(broker.close(position, closing)))  # already closed by its stop
    return answers


def cancel_a_resting_order(broker: PaperBroker, asset: AssetInfo) -> list[Any]:
    placed = bars((100, 100, 100, 100))
    broker.submit(order(asset, snap(placed), order_type="stop", price=101.0, cid="stop-1"))
    answers = [answer(broker.cancel(asset, "stop-1"))]
    through = bars((100, 100, 100, 100), (100, 102, 100, 101.5))
    answers.append(answer(broker.mark(asset, snap(through), [])))
    answers.append(answer(broker.lookup(asset, "missing")))
    return answers


def refusals(broker: PaperBroker, asset: AssetInfo) -> list[Any]:
    placed = snap(bars((100, 100, 100, 100)))
    return [answer(broker.submit(order(asset, placed, quantity=1e9, cid="big"))),
            answer(broker.submit(order(asset, placed, order_type="limit", cid="no-price")))]


def late_snapshot_checks_every_bar_since_opening(broker: PaperBroker,
                                                 asset: AssetInfo) -> list[Any]:
    position = held(asset, opened_at=T0 + timedelta(minutes=1), target=None)
    candles = bars((100, 100, 100, 100), (100, 100, 98.5, 99), (99, 99.5, 99, 99.2),
                   (99.2, 99.4, 99.1, 99.3))
    return [answer(broker.mark(asset, snap(candles), [position]))]


@pytest.mark.parametrize("scenario", [
    market_then_duplicate, limit_rests_then_fills, stop_exit_reported_until_booked,
    cancel_a_resting_order, refusals, late_snapshot_checks_every_bar_since_opening])
def test_memory_book_answers_as_the_table_does(db, asset_info,
                                               scenario: Callable[..., list[Any]]):
    live = scenario(PaperBroker(COSTS), asset_info)
    memory = scenario(MemoryPaperBroker(COSTS), asset_info)
    assert memory == live
    assert any(item for item in live), "the scenario must produce answers"


def test_like_copies_the_validated_config():
    memory = MemoryPaperBroker.like(PaperBroker(COSTS))
    assert memory.config == PaperBroker(COSTS).config
    assert memory.book == {}
