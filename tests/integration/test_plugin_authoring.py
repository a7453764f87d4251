"""``flask lts plugin new``: every kind's skeleton installs, loads and passes its suite.

Each skeleton is written into ``tmp_path``, made importable the way ``pip install -e``
would (its ``src`` on sys.path and a dist-info built from its own pyproject), found by
the registry through its entry point, and its generated tests run through pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lts.cli import lts
from lts.plugins.authoring import AuthoringError, new_plugin
from lts.plugins.base import PLUGIN_KINDS
from lts.plugins.registry import PluginRegistry
from tests.helpers import forget_modules_under, install_package_metadata

# The skeletons are generated and installed once per process (module-scoped): one xdist
# group keeps the tests reading them on one worker.
pytestmark = pytest.mark.xdist_group("plugin-authoring")


class Outcomes:
    """A pytest plugin keeping each test's outcome by node id."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the call phase, or any phase that did not pass."""
        if report.when == "call" or report.outcome != "passed":
            if self.outcomes.get(report.nodeid) != "failed":
                self.outcomes[report.nodeid] = report.outcome
            if report.failed:
                self.failures[report.nodeid] = str(report.longrepr)


@pytest.fixture(scope="module")
def skeletons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One generated package per kind, importable as if installed."""
    root = tmp_path_factory.mktemp("authoring")
    packages = {kind: new_plugin(kind, f"demo_{kind}", root).root for kind in PLUGIN_KINDS}
    with pytest.MonkeyPatch.context() as patch:
        for package in packages.values():
            install_package_metadata(package / "src", package / "pyproject.toml")
            patch.syspath_prepend(str(package / "src"))
        yield packages
    forget_modules_under(root)


def test_every_kind_loads_through_its_entry_point(skeletons: dict[str, Path]) -> None:
    registry = PluginRegistry.discover({})
    assert [e for e in registry.errors if e.name.startswith("demo_")] == []
    for kind in PLUGIN_KINDS:
        info = registry.info(kind, f"demo_{kind}")
        assert info.origin == f"entry point lts-demo-{kind.replace('_', '-')}"
        assert (info.version, info.interface_version) == ("0.1.0", "1.0")
        assert info.config_fields, f"{kind}: the skeleton's schema declares no field"


def test_the_generated_tests_pass(skeletons: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    outcomes = Outcomes()
    tests = [str(package / "tests") for package in skeletons.values()]
    code = pytest.main([*tests, "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)],
                       plugins=[outcomes])
    assert outcomes.failures == {}
    assert code == pytest.ExitCode.OK
    for kind in PLUGIN_KINDS:
        ran = [node for node in outcomes.outcomes if f"test_demo_{kind}.py" in node]
        assert len(ran) >= 5, f"{kind}: only {ran} ran"
        assert all(outcomes.outcomes[node] == "passed" for node in ran)
    # The pipeline skeleton runs the look-ahead checks on fed data, not skipped.
    assert outcomes.outcomes[next(node for node in outcomes.outcomes if node.endswith(
        "TestDemoPipelineContract::test_no_value_after_now_reaches_the_snapshot"))] == "passed"


def test_the_skeleton_is_a_complete_package(skeletons: dict[str, Path]) -> None:
    package = skeletons["strategy"]
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points."lts.strategy"]' in pyproject
    assert 'demo_strategy = "lts_demo_strategy.plugin:DemoStrategy"' in pyproject
    assert '"lts-live-trading>=' in pyproject
    plugin = (package / "src/lts_demo_strategy/plugin.py").read_text()
    assert 'interface_version = "1.0"' in plugin and "marshmallow.Schema" in plugin
    init = (package / "src/lts_demo_strategy/__init__.py").read_text()
    assert "\nimport " not in init and "\nfrom " not in init


def test_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(AuthoringError, match="unknown plugin kind 'signal'"):
        new_plugin("signal", "x", tmp_path)
    with pytest.raises(AuthoringError, match="plugin name 'Bad-Name'"):
        new_plugin("strategy", "Bad-Name", tmp_path)
    new_plugin("strategy", "taken", tmp_path)
    with pytest.raises(AuthoringError, match="exists and is not empty"):
        new_plugin("strategy", "taken", tmp_path)


def test_the_command_writes_the_package(runner, tmp_path: Path) -> None:
    result = runner.invoke(lts, ["plugin", "new", "portfolio", "risk_parity",
                                 "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "entry point risk_parity = lts_risk_parity.plugin:RiskParity" in result.output
    assert (tmp_path / "lts-risk-parity/tests/test_risk_parity.py").is_file()
    again = runner.invoke(lts, ["plugin", "new", "portfolio", "risk_parity",
                                "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "exists and is not empty" in again.output
    wrong = runner.invoke(lts, ["plugin", "new", "signal", "x", "--dir", str(tmp_path)])
    assert wrong.exit_code == 2 and "'signal' is not one of" in wrong.output


def test_every_flask_lts_command_in_the_plugin_docs_exists() -> None:
    """docs/plugins.md shows real commands: each `flask lts a b` resolves to a command."""
    import re

    import click

    text = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    shown = set(re.findall(r"flask lts ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", text))
    assert {"plugin new", "portfolio create", "asset add"} <= shown
    context = click.Context(lts)
    for words in shown:
        first, *rest = words.split()
        command = lts.get_command(context, first)
        assert command is not None, f"docs show `flask lts {words}`: no command {first!r}"
        if isinstance(command, click.Group) and rest:
            assert command.get_command(context, rest[0]) is not None, (
                f"docs show `flask lts {words}`: {first} has no command {rest[0]!r}")
