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


def test_pipeline_suite_catches_bars_that_leak_the_end_bar_or_are_missing():
    from lts.plugins.base import PipelinePlugin
    from lts.plugins.pipeline.synthetic import SyntheticPipeline
    from lts.testing.base_contract import SAMPLE_NOW
    from lts.testing.pipeline_contract import PipelineContract

    class Leaky(SyntheticPipeline):
        """bars() includes the bar stamped at ``end``: a look-ahead."""

        def bars(self, asset, start, end):  # type: ignore[no-untyped-def]
            return super().bars(asset, start, end + (end - start) / 10)

    class Absent(SyntheticPipeline):
        """Keeps the contract's refusing default."""

        bars = PipelinePlugin.bars

    suite = PipelineContract()
    asset = sample_asset()
    with pytest.raises(AssertionError):
        suite.test_bars_never_reach_end(Leaky(), asset)
    with pytest.raises(AssertionError):
        suite.test_bars_are_the_snapshot_bars_of_the_range(Leaky(), asset)
    with pytest.raises(AssertionError, match="does not implement bars"):
        suite.test_bars_is_implemented(Absent())
    suite.test_bars_never_reach_end(SyntheticPipeline(), asset)
    assert suite.now == SAMPLE_NOW


def test_check_decision_allows_a_reversal_but_not_a_second_position():
    from datetime import timedelta

    from lts.plugins.base import PositionInfo
    from lts.testing.base_contract import SAMPLE_NOW

    snapshot = make_snapshot([100.0] * 5)
    long = PositionInfo(id=1, asset_id=1, side="long", quantity=1.0, entry_price=100.0,
                        opened_at=SAMPLE_NOW - timedelta(hours=1))
    with pytest.raises(AssertionError, match="only a reversal"):
        check_decision(Decision(action="open", side="buy", reason="more"), snapshot, long)
    check_decision(Decision(action="open", side="sell", reason="reverse"), snapshot, long)


def test_pipeline_suite_catches_a_pipeline_returning_the_forming_bar():
    from datetime import timedelta

    from lts.plugins.base import MarketSnapshot
    from lts.plugins.pipeline.synthetic import SyntheticPipeline
    from lts.testing.pipeline_contract import PipelineContract

    class Forming(SyntheticPipeline):
        """Stamps <= now, as the csv pipeline once did: the last bar is still forming."""

        def snapshot(self, asset, now):  # type: ignore[no-untyped-def]
            ahead = super().snapshot(asset, now + timedelta(minutes=1))
            return MarketSnapshot(asset.symbol, ahead.candles, now)

    with pytest.raises(AssertionError, match="still forming"):
        PipelineContract().test_never_returns_a_bar_from_the_future(Forming(), sample_asset())


def test_every_assert_of_every_suite_carries_a_message():
    """A failing contract says what was expected and what came, never a bare ``assert x``."""
    import ast
    from pathlib import Path

    import lts.testing

    bare = []
    for path in sorted(Path(lts.testing.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert) and node.msg is None:
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []
