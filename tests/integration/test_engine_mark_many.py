"""The engine's batched marks (issue 16): one ``mark_many`` call per broker instance.

A broker overriding :meth:`BrokerPlugin.mark_many` is asked once for a portfolio's
assets (in chunks of at most ``MARK_CHUNK``); an asset its answer fails fails alone, a
malformed answer fails the chunk's assets, never silently drops them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from lts.plugins.base import AssetInfo, Fill, MarketSnapshot, PositionInfo
from lts.trading import engine as engine_module
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import BookBroker, fake_source

pytestmark = pytest.mark.usefixtures("fresh_book")


class BatchedBroker(BookBroker):
    """The book broker with a ``mark_many`` that records its batches.

    Marking asset ``BAD`` fails (handed back as its answer); ``short=True`` in the config
    answers one entry too few.
    """

    name = "batched"
    batches: ClassVar[list[list[str]]] = []
    singles: ClassVar[list[str]] = []

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo]) -> list[Fill]:
        """Record a per-asset call (the engine should not make one)."""
        type(self).singles.append(asset.symbol)
        return []

    def mark_many(self, requests: Sequence[tuple[AssetInfo, MarketSnapshot,
                                                 Sequence[PositionInfo]]]
                  ) -> list[list[Fill] | Exception]:
        """Answer every asset, ``BAD`` with an exception."""
        type(self).batches.append([asset.symbol for asset, _, _ in requests])
        answers: list[list[Fill] | Exception] = [
            RuntimeError("book unreadable") if asset.symbol == "BAD" else []
            for asset, _, _ in requests]
        return answers[:-1] if self.config.get("short") else answers


@pytest.fixture
def batched_engine(app, db, walk_clock):  # type: ignore[no-untyped-def]
    BatchedBroker.batches.clear()
    BatchedBroker.singles.clear()
    source = fake_source()
    source.factories[("broker", "batched")] = lambda config: BatchedBroker(config)
    engine = Engine(app, plugins=source, clock=walk_clock)
    yield engine
    engine.close()


def portfolio_of(symbols: Sequence[str], broker_config: dict[str, Any] | None = None):
    portfolio = gen_portfolio(gen_user(), portfolio_plugin="split", portfolio_latency=1,
                              total_capital=10_000.0)
    return [gen_asset(portfolio, symbol, pipeline_plugin="walk", strategy_plugin="momentum",
                      broker_plugin="batched", broker_config=broker_config or {})
            for symbol in symbols]


def test_one_call_per_portfolio_and_a_failing_asset_fails_alone(db, batched_engine):
    assets = portfolio_of(["AAA", "BAD", "CCC"])
    db.session.commit()
    report = batched_engine.tick()
    assert BatchedBroker.batches == [["AAA", "BAD", "CCC"]]
    assert BatchedBroker.singles == []
    by_id = {o.asset_id: o for o in report.outcomes}
    good, bad, other = (by_id[a.id] for a in assets)
    assert good.ok and other.ok
    assert not bad.ok and "book unreadable" in bad.error and "mark" in bad.error


def test_chunks_and_a_short_answer_fails_its_chunk(db, batched_engine, monkeypatch):
    monkeypatch.setattr(engine_module, "MARK_CHUNK", 2)
    assets = portfolio_of(["AAA", "BBB", "CCC"], {"short": True})
    db.session.commit()
    report = batched_engine.tick()
    assert BatchedBroker.batches == [["AAA", "BBB"], ["CCC"]]
    outcomes = {o.asset_id: o for o in report.outcomes}
    assert all(not outcomes[a.id].ok and "mark_many answered" in outcomes[a.id].error
               for a in assets)
