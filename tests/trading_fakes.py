"""Small deterministic plugins for engine tests: prices, strategy, broker, allocation."""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pandas as pd
from marshmallow import fields

from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    BrokerResult,
    BrokerState,
    Decision,
    Fill,
    MarketSnapshot,
    OrderRequest,
    PipelinePlugin,
    PortfolioInfo,
    PortfolioPlugin,
    PositionInfo,
    StrategyPlugin,
)
from lts.plugins.broker.paper import PaperBroker, PaperConfig
from lts.plugins.pipeline.synthetic import SyntheticConfig, SyntheticPipeline
from lts.trading.plugin_source import FactoryPluginSource

EPOCH = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)

class WalkPipeline(PipelinePlugin):
    """One-minute bars of a seeded walk; the last bar is the one at ``now``."""

    name = "walk"
    interface_version = "1.0"

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, app_config)
        self.seed = int(self.config.get("seed", 7))
        self._cache: dict[str, list[float]] = {}

    def closes(self, symbol: str, upto: int) -> list[float]:
        """Closes of bars 0..upto (cached, extended as needed)."""
        series = self._cache.setdefault(symbol, [])
        if len(series) <= upto:
            rng = random.Random(self.seed * 1_000_003 + zlib.crc32(symbol.encode()))
            price = 100.0
            series.clear()
            for _ in range(upto + 1):
                price = round(price + rng.choice((-1.0, -0.5, 0.0, 0.5, 1.0)), 2)
                series.append(price)
        return series[:upto + 1]

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Return the last 5 bars up to ``now``."""
        index = int((now - EPOCH).total_seconds() // 60)
        closes = self.closes(asset.symbol, index)[-5:]
        times = [EPOCH + timedelta(minutes=index - len(closes) + 1 + i)
                 for i in range(len(closes))]
        frame = pd.DataFrame({"open": closes, "high": closes, "low": closes,
                              "close": closes, "volume": [1.0] * len(closes)},
                             index=pd.DatetimeIndex(times, tz=UTC))
        return MarketSnapshot(symbol=asset.symbol, candles=frame, as_of=now)

class MomentumStrategy(StrategyPlugin):
    """Open in the direction of the last move; close when the market turns against it."""

    name = "momentum"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Follow the sign of the last close-to-close move."""
        closes = snapshot.candles["close"]
        if len(closes) < 2:
            return Decision.hold("warming up")
        move = float(closes.iloc[-1] - closes.iloc[-2])
        if position is None:
            if move > 0:
                return Decision(action="open", side="buy", reason="up")
            if move < 0:
                return Decision(action="open", side="sell", reason="down")
            return Decision.hold("flat")
        if (position.side == "long" and move < 0) or (position.side == "short" and move > 0):
            return Decision(action="close", reason="turned")
        return Decision.hold("riding")

class FixedDecisionStrategy(StrategyPlugin):
    """Always returns the decision given in its config (``action``, ``side``, ``quantity``)."""

    name = "fixed"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Return the configured decision."""
        return Decision(action=self.config.get("action", "hold"), side=self.config.get("side"),
                        quantity=self.config.get("quantity"),
                        reason=self.config.get("reason", ""))

class RaisingStrategy(StrategyPlugin):
    """A broken strategy."""

    name = "raising"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Raise."""
        raise RuntimeError("strategy exploded")

class HangingStrategy(StrategyPlugin):
    """A strategy that blocks until ``RELEASE`` is set (the test sets it at the end)."""

    name = "hanging"
    interface_version = "1.0"
    RELEASE = threading.Event()

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Block."""
        self.RELEASE.wait(30)
        return Decision.hold("released")

class EqualSplit(PortfolioPlugin):
    """Equal capital per asset."""

    name = "split"
    interface_version = "1.0"

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Split the total equally."""
        if not assets:
            return {}
        share = portfolio.total_capital / len(assets)
        return {a.id: share for a in assets}

class BookBroker(BrokerPlugin):
    """Fills market orders at the last close with a flat commission; keeps a shared book.

    ``book`` (class attribute reset by tests) survives engine "restarts" like the paper
    broker's table does. ``crash_after_record`` makes submit record the order and then
    raise SystemExit, as if the process died before the engine heard back.
    """

    name = "book"
    interface_version = "1.0"
    book: dict[str, BrokerResult] = {}
    crash_after_record = False
    fail_submit: Exception | None = None
    submits: list[str] = []

    def _fill(self, request: OrderRequest) -> BrokerResult:
        """Record and fill ``request`` at the snapshot's last close."""
        if request.client_order_id in self.book:
            return self.book[request.client_order_id]
        assert request.snapshot is not None
        commission = float(self.config.get("commission", 1.0))
        fill = Fill(client_order_id=request.client_order_id, quantity=request.quantity,
                    price=request.snapshot.last_price, time=request.snapshot.as_of,
                    commission=commission)
        result = BrokerResult(status="filled", broker_order_id=f"B-{request.client_order_id}",
                              fills=(fill,))
        self.book[request.client_order_id] = result
        type(self).submits.append(request.client_order_id)
        if self.crash_after_record:
            raise SystemExit("process died after the broker recorded the order")
        if self.fail_submit is not None:
            raise self.fail_submit
        return result

    def submit(self, request: OrderRequest) -> BrokerResult:
        """Fill at market."""
        return self._fill(request)

    def close(self, position: PositionInfo, request: OrderRequest) -> BrokerResult:
        """Close at market."""
        return self._fill(request)

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo]) -> list[Fill]:
        """No resting orders: nothing to report."""
        return []

    def lookup(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Answer from the book."""
        return self.book.get(client_order_id, BrokerResult(status="not_found"))

    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Everything in the book."""
        return BrokerState(orders=dict(self.book))

class HoldStrategy(StrategyPlugin):
    """Never trades: every exit comes from the broker (register it on the test's app)."""

    name = "hold"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Hold."""
        return Decision.hold("holding")


class KeyedPaperConfig(PaperConfig):
    """Paper settings plus an API key, as a real broker has."""

    api_key = fields.String(load_default="", metadata={"secret": True,
                                                       "description": "Broker API key."})


class KeyedPaper(PaperBroker):
    """A paper broker needing an API key; remembers every asset view it is handed."""

    name = "keyed_paper"
    interface_version = "1.0"
    config_schema = KeyedPaperConfig
    seen: ClassVar[list[Any]] = []

    def mark(self, asset, snapshot, positions):  # type: ignore[no-untyped-def]
        KeyedPaper.seen.append(asset)
        return super().mark(asset, snapshot, positions)


class KeyedSyntheticConfig(SyntheticConfig):
    """Synthetic settings plus a data-vendor key."""

    api_key = fields.String(load_default="", metadata={"secret": True,
                                                       "description": "Data API key."})


class KeyedSynthetic(SyntheticPipeline):
    """A pipeline needing a data-vendor key; remembers every asset view it is handed."""

    name = "keyed_synthetic"
    interface_version = "1.0"
    config_schema = KeyedSyntheticConfig
    seen: ClassVar[list[Any]] = []

    def snapshot(self, asset, now):  # type: ignore[no-untyped-def]
        KeyedSynthetic.seen.append(asset)
        return super().snapshot(asset, now)


def fake_source() -> FactoryPluginSource:
    """A plugin source with every fake above."""
    return FactoryPluginSource({
        ("pipeline", "walk"): lambda c: WalkPipeline(c),
        ("strategy", "momentum"): lambda c: MomentumStrategy(c),
        ("strategy", "fixed"): lambda c: FixedDecisionStrategy(c),
        ("strategy", "raising"): lambda c: RaisingStrategy(c),
        ("strategy", "hanging"): lambda c: HangingStrategy(c),
        ("portfolio", "split"): lambda c: EqualSplit(c),
        ("broker", "book"): lambda c: BookBroker(c),
    })

def reset_book() -> None:
    """Empty the shared broker book and its switches."""
    BookBroker.book = {}
    BookBroker.submits = []
    BookBroker.crash_after_record = False
    BookBroker.fail_submit = None

FAKE_ASSET = {"pipeline_plugin": "walk", "strategy_plugin": "momentum",
              "broker_plugin": "book"}
