"""The momentum plugin passes LTS's strategy contract, and trades momentum."""

from __future__ import annotations

import numpy as np
from lts_momentum import Momentum

from lts.testing.base_contract import make_snapshot
from lts.testing.strategy_contract import StrategyContract


class TestMomentumContract(StrategyContract):
    """Every check LTS makes of a strategy, in one line."""

    plugin_factory = Momentum


def test_rising_prices_open_long():
    """Ten bars of steady gains: buy."""
    snapshot = make_snapshot(list(np.linspace(100, 110, 30)))
    decision = Momentum({"lookback": 10}).decide(snapshot, None, 1000.0)
    assert (decision.action, decision.side) == ("open", "buy")


def test_falling_prices_open_short_unless_shorts_are_off():
    """Steady losses: sell short, or wait when shorts are off."""
    snapshot = make_snapshot(list(np.linspace(110, 100, 30)))
    assert Momentum({"lookback": 10}).decide(snapshot, None, 1000.0).side == "sell"
    held = Momentum({"lookback": 10, "allow_short": False}).decide(snapshot, None, 1000.0)
    assert held.action == "hold"
