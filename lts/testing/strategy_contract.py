"""Contract suite for strategy plugins: :class:`StrategyContract`."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.testing.base_contract import SAMPLE_NOW, PluginContract, make_snapshot

ACTIONS = ("open", "close", "hold")


def _scenarios() -> dict[str, MarketSnapshot]:
    """Up, down, flat, noisy and nearly empty markets."""
    return {
        "uptrend": make_snapshot(trend=0.003, volatility=0.0005),
        "downtrend": make_snapshot(trend=-0.003, volatility=0.0005),
        "flat": make_snapshot([100.0] * 200),
        "noisy": make_snapshot(trend=0.0, volatility=0.01, seed=3),
        "two_bars": make_snapshot([100.0, 101.0]),
        "one_bar": make_snapshot([100.0]),
    }


def _position(side: str, price: float) -> PositionInfo:
    """An open position opened an hour before the sample time."""
    return PositionInfo(id=1, asset_id=1, side=side,  # type: ignore[arg-type]
                        quantity=10.0, entry_price=price,
                        opened_at=SAMPLE_NOW - timedelta(hours=1), current_price=price)


def check_decision(decision: Decision, snapshot: MarketSnapshot,
                   position: PositionInfo | None) -> None:
    """Fail unless ``decision`` is well formed for this situation."""
    assert isinstance(decision, Decision), (
        f"expected a Decision, came {type(decision).__name__}")
    assert decision.action in ACTIONS, (
        f"expected an action among {ACTIONS}, came {decision.action!r}")
    assert decision.reason.strip(), (
        f"every decision says why: expected a reason, came {decision.reason!r}")
    if decision.action == "close":
        assert position is not None, "close without a position: expected hold or open"
    if decision.action == "open":
        assert decision.side in ("buy", "sell"), (
            f"expected side 'buy' or 'sell', came {decision.side!r}")
        # Opening the other way while holding is a reversal (the engine closes first);
        # opening the held side again is not: one position per asset.
        held = {"long": "buy", "short": "sell"}.get(position.side) if position else None
        assert decision.side != held, (
            f"open {decision.side} while a {position.side if position else ''} position "
            f"is held (only a reversal may open while holding)")
        assert decision.order_type in ("market", "limit", "stop"), (
            f"expected order type market, limit or stop, came {decision.order_type!r}")
        if decision.order_type != "market":
            assert decision.price is not None and decision.price > 0, (
                f"expected a positive price for a {decision.order_type} order, came "
                f"{decision.price!r}")
        assert decision.quantity is None or decision.quantity > 0, (
            f"expected no quantity or a positive one, came {decision.quantity!r}")
        price = decision.price or snapshot.last_price
        below, above = ((decision.stop_loss, decision.take_profit) if decision.side == "buy"
                        else (decision.take_profit, decision.stop_loss))
        if below is not None:
            assert 0 < below < price, (
                f"expected the {decision.side}'s exit below {price} in (0, {price}), came "
                f"{below!r}")
        if above is not None:
            assert above > price, (
                f"expected the {decision.side}'s exit above {price}, came {above!r}")


class StrategyContract(PluginContract):
    """Well-formed decisions in every market, with or without a position."""

    kind = "strategy"

    @pytest.mark.parametrize("market", list(_scenarios()))
    @pytest.mark.parametrize("holding", [None, "long", "short"])
    def test_decision_is_well_formed(self, plugin: StrategyPlugin, market: str,
                                     holding: str | None) -> None:
        """Action, side, prices and reason are consistent in every scenario."""
        snapshot = _scenarios()[market]
        position = _position(holding, snapshot.last_price) if holding else None
        decision = plugin.decide(snapshot, position, 10_000.0)
        try:
            check_decision(decision, snapshot, position)
        except AssertionError as exc:
            raise AssertionError(f"{market} market, holding {holding or 'nothing'}: {exc} "
                                 f"(decision {decision})") from None

    def test_does_not_modify_the_snapshot(self, plugin: StrategyPlugin) -> None:
        """Snapshots may be shared: a strategy only reads them."""
        snapshot = make_snapshot(trend=0.002)
        before = snapshot.candles.copy()
        plugin.decide(snapshot, None, 10_000.0)
        pd.testing.assert_frame_equal(snapshot.candles, before)

    def test_is_deterministic(self, plugin: StrategyPlugin) -> None:
        """The same inputs give the same decision."""
        snapshot = make_snapshot(trend=0.001, seed=11)
        first = plugin.decide(snapshot, None, 5_000.0)
        second = plugin.decide(snapshot, None, 5_000.0)
        assert first == second, f"expected the same decision twice, came {first} then {second}"

    def test_without_capital_does_not_open(self, plugin: StrategyPlugin) -> None:
        """Nothing allocated, nothing opened (unless the strategy sizes it itself)."""
        for snapshot in _scenarios().values():
            decision = plugin.decide(snapshot, None, 0.0)
            assert decision.action != "open" or decision.quantity is not None, (
                f"expected no open without capital (or a quantity of its own), came "
                f"{decision}")
