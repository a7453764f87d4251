"""The contract suites themselves: their checks catch the mistakes they promise to."""

from __future__ import annotations

import pytest

from lts.plugins.base import Decision, EmptyConfig, StrategyPlugin
from lts.testing.base_contract import PluginContract, make_snapshot, sample_asset
from lts.testing.portfolio_contract import check_allocation, sample_portfolio
from lts.testing.strategy_contract import check_decision


def test_check_decision_refuses_a_missing_reason():
    with pytest.raises(AssertionError):
        check_decision(Decision(action="hold"), make_snapshot(), None)


def test_check_decision_refuses_exits_on_the_wrong_side():
    snapshot = make_snapshot([100.0] * 5)
    wrong = Decision(action="open", side="buy", stop_loss=101.0, reason="oops")
    with pytest.raises(AssertionError):
        check_decision(wrong, snapshot, None)
    right = Decision(action="open", side="sell", stop_loss=101.0, take_profit=98.0,
                     reason="fine")
    check_decision(right, snapshot, None)


def test_check_decision_refuses_closing_nothing():
    with pytest.raises(AssertionError, match="close without a position"):
        check_decision(Decision(action="close", reason="x"), make_snapshot(), None)


def test_check_allocation_refuses_over_allocation_and_strangers():
    assets = [sample_asset("A", asset_id=1), sample_asset("B", asset_id=2)]
    portfolio = sample_portfolio(100.0)
    with pytest.raises(AssertionError):
        check_allocation({1: 60.0, 2: 50.0}, portfolio, assets)
    with pytest.raises(AssertionError):
        check_allocation({1: -1.0}, portfolio, assets)
    with pytest.raises(AssertionError):
        check_allocation({3: 1.0}, portfolio, assets)
    check_allocation({1: 60.0, 2: 40.0}, portfolio, assets)


def test_plugin_factory_may_be_a_callable():
    class Tiny(StrategyPlugin):
        """Holds."""

        name = "tiny"
        interface_version = "1.0"
        config_schema = EmptyConfig

        def decide(self, snapshot, position, allocation):  # type: ignore[no-untyped-def]
            return Decision.hold("always")

    class Suite(PluginContract):
        kind = "strategy"
        plugin_factory = staticmethod(lambda: Tiny({"x": 1}))  # type: ignore[assignment]

    assert Suite.make_plugin().config == {"x": 1}

    class Unset(PluginContract):
        kind = "strategy"

    with pytest.raises(TypeError, match="plugin_factory"):
        Unset.make_plugin()
