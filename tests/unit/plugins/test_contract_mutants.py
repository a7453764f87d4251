"""Mutation tests of the contract suites: deliberately wrong plugins must fail them.

One generated test module subclasses the suites for plugins each carrying one classic
mistake (look-ahead in values, a forming bar, a grid that moves with ``now``, a
closed-right resampler, an inherited ``interface_version``) and for the built-ins; it
runs through pytest itself, as a plugin author's own test module would, and each
mutant must show the failure its mistake deserves while the built-ins pass.
"""

from __future__ import annotations

import textwrap

import pytest

# The generated module runs once per process (the module-scoped ``outcomes``, ~60 s of
# contract suites): one xdist group keeps all its readers on one worker, else each worker
# ran it again for the tests it was handed.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("contract-mutants")]

MUTANTS = textwrap.dedent('''
    """Plugins with one mistake each, under the contract suites (generated)."""

    from datetime import timedelta

    import pandas as pd
    import pytest

    from lts.plugins.bars import complete_bars, resample, utc
    from lts.plugins.base import MarketSnapshot
    from lts.plugins.pipeline.csv import CsvPipeline
    from lts.plugins.pipeline.synthetic import SyntheticPipeline
    from lts.plugins.strategy.sma_cross import SmaCross
    from lts.testing.base_contract import SAMPLE_NOW
    from lts.testing.pipeline_contract import PipelineContract, sample_bars, write_csv
    from lts.testing.strategy_contract import StrategyContract

    AGGREGATE = {"open": "first", "high": "max", "low": "min", "close": "last",
                 "volume": "sum"}


    class Peeking(CsvPipeline):
        """Reads five minutes past now, stamps those bars five minutes early."""

        name = "peeking"
        interface_version = "1.0"

        def snapshot(self, asset, now):
            ahead = super().snapshot(asset, now + timedelta(minutes=5)).candles.copy()
            ahead.index = ahead.index - pd.Timedelta(minutes=5)
            return MarketSnapshot(asset.symbol, ahead, now)


    class ClosedRight(CsvPipeline):
        """Resamples bins closed on the right: a 7-minute bar holds the minute after it."""

        name = "closed_right"
        interface_version = "1.0"

        def _resampled(self, source, now):
            target = self._target_period()
            ahead = source[source.index < utc(now) + target]
            out = ahead.resample(target, label="left", closed="right").agg(AGGREGATE)
            out = out.dropna(subset=["open"])
            return out[out.index + target <= utc(now)]


    class ShiftedGrid(CsvPipeline):
        """Resamples on a grid anchored at now: every later now moves every bar."""

        name = "shifted_grid"
        interface_version = "1.0"

        def _resampled(self, source, now):
            done = complete_bars(source, now, self.period(source))
            return resample(done, self._target_period(), now, origin=utc(now))


    class Forming(CsvPipeline):
        """Returns the bars stamped up to now: the last one is still forming."""

        name = "forming"
        interface_version = "1.0"

        def snapshot(self, asset, now):
            bars = self.all_bars(asset)
            return MarketSnapshot(asset.symbol, bars[bars.index <= utc(now)].iloc[-200:],
                                  now)


    class Inherited(CsvPipeline):
        """Wraps csv but claims whatever interface version csv has."""

        name = "inherited"


    class InheritedStrategy(SmaCross):
        """Wraps sma_cross but claims whatever interface version it has."""

        name = "inherited_strategy"


    class CsvBased(PipelineContract):
        """The suite over a pipeline reading a sample TEST.csv."""

        plugin_factory = CsvPipeline

        @pytest.fixture
        def plugin(self, tmp_path):
            write_csv(sample_bars(SAMPLE_NOW, pd.Timedelta(minutes=1), before=600,
                                  after=120), tmp_path / "TEST.csv")
            factory = self.plugin_factory
            config = factory.config_schema().load(dict(self.plugin_config))
            return factory(config, {"data_dir": str(tmp_path)})


    class TestPeeking(CsvBased):
        plugin_factory = Peeking


    class TestClosedRight(CsvBased):
        plugin_factory = ClosedRight
        plugin_config = {"resample_minutes": 7, "lookback": 20}


    class TestShiftedGrid(CsvBased):
        plugin_factory = ShiftedGrid
        plugin_config = {"resample_minutes": 7, "lookback": 20}


    class TestForming(CsvBased):
        plugin_factory = Forming


    class TestInherited(CsvBased):
        plugin_factory = Inherited


    class TestInheritedStrategy(StrategyContract):
        plugin_factory = InheritedStrategy


    class TestBuiltinCsv(CsvBased):
        pass


    class TestBuiltinCsvResampled(CsvBased):
        plugin_config = {"resample_minutes": 7, "lookback": 20}


    class TestBuiltinSynthetic(PipelineContract):
        plugin_factory = SyntheticPipeline
        symbols = ("TEST", "EUR/USD")
        cannot_read_fed_data = "generated from a seed"


    class TestBuiltinSmaCross(StrategyContract):
        plugin_factory = SmaCross
''')


class Outcomes:
    """A pytest plugin keeping each test's outcome and failure text by class and name."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, tuple[str, str]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record the call phase, or any phase that did not pass."""
        if report.when != "call" and report.outcome == "passed":
            return
        parts = report.nodeid.split("::")
        name = parts[-1].split("[", 1)[0]
        text = str(report.longrepr) if report.failed else ""
        tests = self.results.setdefault(parts[-2], {})
        if tests.get(name, ("passed", ""))[0] != "failed":
            tests[name] = (report.outcome, text)

    def failed(self, suite: str) -> dict[str, str]:
        """The failing tests of ``suite`` (class name) with their failure text."""
        return {name: text for name, (outcome, text) in self.results[suite].items()
                if outcome == "failed"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    """Run the generated module once through pytest (in this process) and keep results."""
    folder = tmp_path_factory.mktemp("mutants")
    (folder / "test_generated_mutants.py").write_text(MUTANTS)
    (folder / "pytest.ini").write_text("[pytest]\n")
    result = Outcomes()
    code = pytest.main([str(folder), "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "-c", str(folder / "pytest.ini"), "--rootdir", str(folder)],
                       plugins=[result])
    assert code == pytest.ExitCode.TESTS_FAILED, f"expected failures, came exit code {code}"
    return result


@pytest.mark.parametrize("suite", ["TestBuiltinCsv", "TestBuiltinCsvResampled",
                                   "TestBuiltinSynthetic", "TestBuiltinSmaCross"])
def test_the_built_ins_pass(outcomes: Outcomes, suite: str) -> None:
    assert outcomes.results[suite], f"no test of {suite} ran"
    assert outcomes.failed(suite) == {}


def test_a_pipeline_reading_past_now_fails_on_the_absurd_values(outcomes: Outcomes) -> None:
    failed = outcomes.failed("TestPeeking")
    assert "test_no_value_after_now_reaches_the_snapshot" in failed, failed.keys()
    assert "1e+09" in failed["test_no_value_after_now_reaches_the_snapshot"]
    # Its stamps look right: the stamp check alone would have let it through.
    assert "test_never_returns_a_bar_from_the_future" not in failed


def test_a_closed_right_resampler_fails_on_the_absurd_values(outcomes: Outcomes) -> None:
    failed = outcomes.failed("TestClosedRight")
    assert "test_no_value_after_now_reaches_the_snapshot" in failed, failed.keys()
    assert "test_never_returns_a_bar_from_the_future" not in failed


def test_a_grid_moving_with_now_fails_on_history(outcomes: Outcomes) -> None:
    failed = outcomes.failed("TestShiftedGrid")
    for name in ("test_a_later_now_does_not_rewrite_history",
                 "test_a_later_now_does_not_rewrite_history_on_any_grid"):
        assert name in failed, failed.keys()
        assert "expected bars in common, came none" in failed[name]


def test_a_pipeline_returning_the_forming_bar_fails(outcomes: Outcomes) -> None:
    failed = outcomes.failed("TestForming")
    assert "still forming" in failed["test_never_returns_a_bar_from_the_future"]
    assert "test_no_value_after_now_reaches_the_snapshot" in failed


@pytest.mark.parametrize("suite", ["TestInherited", "TestInheritedStrategy"])
def test_an_inherited_interface_version_fails(outcomes: Outcomes, suite: str) -> None:
    failed = outcomes.failed(suite)
    message = failed["test_passes_the_registry_load_checks"]
    assert "declare interface_version" in message
    assert set(failed) == {"test_passes_the_registry_load_checks"}


def test_every_failure_says_what_was_expected_and_what_came(outcomes: Outcomes) -> None:
    """The look-ahead failures explain themselves (no bare ``assert x``)."""
    for suite in ("TestPeeking", "TestClosedRight", "TestShiftedGrid", "TestForming"):
        for name, text in outcomes.failed(suite).items():
            last = text.strip().splitlines()[-1]
            assert "expected" in text or "still forming" in text or "not complete" in text, (
                f"{suite}.{name} failed without saying what was expected: {last}")
