"""Third-party plugins through entry points: found, checked, refused by name when broken.

Each test writes a throw-away distribution (a module plus ``<name>.dist-info`` with
METADATA and entry_points.txt) into ``tmp_path`` and puts it on ``sys.path``, exactly
what ``pip install`` leaves behind.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lts.config import ConfigError
from lts.plugins.base import MarketSnapshot
from lts.plugins.registry import PluginRegistry, get_registry
from lts.testing.base_contract import make_snapshot
from tests.conftest import make_test_app

GOOD = '''
"""A tiny third-party strategy."""
from lts.plugins.base import Decision, StrategyPlugin
import marshmallow
from marshmallow import fields


class Config(marshmallow.Schema):
    """Settings."""

    class Meta:
        unknown = marshmallow.RAISE

    size = fields.Float(load_default=1.0, metadata={"description": "Units to buy."})


class AlwaysBuy(StrategyPlugin):
    """Buys whenever flat."""

    name = "always_buy"
    interface_version = "1.0"
    config_schema = Config

    def decide(self, snapshot, position, allocation):
        if position is None:
            return Decision(action="open", side="buy", quantity=self.config["size"],
                            reason="always buy")
        return Decision.hold("holding")
'''

BROKEN = {
    "import_error": "import definitely_missing_module\n",
    "missing_method": '''
from lts.plugins.base import StrategyPlugin
class NoDecide(StrategyPlugin):
    """Forgot decide."""
    name = "missing_method"
    interface_version = "1.0"
''',
    "bad_schema": '''
from lts.plugins.base import Decision, StrategyPlugin
class BadSchema(StrategyPlugin):
    """Schema is a dict."""
    name = "bad_schema"
    interface_version = "1.0"
    config_schema = {"threshold": 1}
    def decide(self, snapshot, position, allocation):
        return Decision.hold("x")
''',
    "exploding_schema": '''
import marshmallow
from lts.plugins.base import Decision, StrategyPlugin
class Exploding(marshmallow.Schema):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("boom")
class ExplodingSchema(StrategyPlugin):
    """Schema cannot be built."""
    name = "exploding_schema"
    interface_version = "1.0"
    config_schema = Exploding
    def decide(self, snapshot, position, allocation):
        return Decision.hold("x")
''',
    "wrong_base": '''
class NotAPlugin:
    """Just a class."""
    name = "wrong_base"
''',
    "old_interface": '''
from lts.plugins.base import Decision, StrategyPlugin
class Old(StrategyPlugin):
    """Built for interface 0."""
    name = "old_interface"
    interface_version = "0.9"
    def decide(self, snapshot, position, allocation):
        return Decision.hold("x")
''',
}


def install_distribution(root: Path, dist: str, module: str, source: str,
                         entry_points: dict[str, dict[str, str]]) -> None:
    """Write ``module`` and a dist-info declaring ``entry_points`` under ``root``."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, targets in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in targets.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh site folder on sys.path; modules imported from it are forgotten after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if module is not None and str(getattr(module, "__file__", "")).startswith(str(folder)):
            del sys.modules[name]


def unique(prefix: str) -> str:
    """A module name no other test uses (modules are cached per process)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_entry_point_strategy_is_found_validated_and_usable(site: Path):
    module = unique("lts_demo_strategy")
    install_distribution(site, "lts-demo-strategy", module, GOOD,
                         {"lts.strategy": {"always_buy": f"{module}:AlwaysBuy"}})
    registry = PluginRegistry.discover({})
    info = registry.info("strategy", "always_buy")
    assert info.origin == "entry point lts-demo-strategy"
    assert info.config_fields == ("size",)
    assert registry.validate_config("strategy", "always_buy", {}) == {"size": 1.0}
    plugin = registry.create("strategy", "always_buy", {"size": 3})
    decision = plugin.decide(make_snapshot(), None, 1000.0)  # type: ignore[attr-defined]
    assert (decision.action, decision.quantity) == ("open", 3.0)
    assert registry.config_json_schema("strategy", "always_buy")["properties"]["size"] == {
        "type": "number", "default": 1.0, "description": "Units to buy."}


def test_safe_mode_loads_no_entry_points(site: Path):
    module = unique("lts_demo_strategy")
    install_distribution(site, "lts-demo-strategy", module, GOOD,
                         {"lts.strategy": {"always_buy": f"{module}:AlwaysBuy"}})
    registry = PluginRegistry.discover({"safe_mode": True})
    assert "always_buy" not in registry.names("strategy")
    assert registry.errors == []
    assert "always_buy" in PluginRegistry.discover({"LTS": {"safe_mode": False}}).names(
        "strategy")


def test_broken_plugins_are_reported_by_name_and_never_crash(site: Path):
    targets = {}
    for name, source in BROKEN.items():
        module = unique(f"broken_{name}")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        attribute = {"import_error": "Anything", "missing_method": "NoDecide",
                     "bad_schema": "BadSchema", "exploding_schema": "ExplodingSchema",
                     "wrong_base": "NotAPlugin", "old_interface": "Old"}[name]
        targets[name] = f"{module}:{attribute}"
    good = unique("lts_demo_strategy")
    (site / f"{good}.py").write_text(textwrap.dedent(GOOD))
    targets["always_buy"] = f"{good}:AlwaysBuy"
    targets["name_mismatch"] = f"{good}:AlwaysBuy"
    install_distribution(site, "lts-broken-plugins", unique("unused"), "",
                         {"lts.strategy": targets,
                          "lts.broker": {"not_a_broker": f"{good}:AlwaysBuy"}})
    registry = PluginRegistry.discover({})

    errors = {(e.kind, e.name): e.message for e in registry.errors}
    assert "definitely_missing_module" in errors[("strategy", "import_error")]
    assert "decide" in errors[("strategy", "missing_method")]
    assert "not a marshmallow Schema" in errors[("strategy", "bad_schema")]
    assert "boom" in errors[("strategy", "exploding_schema")]
    assert "does not subclass StrategyPlugin" in errors[("strategy", "wrong_base")]
    assert "interface" in errors[("strategy", "old_interface")]
    assert "differs" in errors[("strategy", "name_mismatch")]
    assert "does not subclass BrokerPlugin" in errors[("broker", "not_a_broker")]
    assert all(e.origin == "entry point lts-broken-plugins" for e in registry.errors)
    assert all(str(e).startswith(f"{e.kind} plugin '{e.name}'") for e in registry.errors)
    # The good one and every built-in still load.
    assert "always_buy" in registry.names("strategy")
    assert {"prediction_threshold", "sma_cross"} <= set(registry.names("strategy"))
    assert registry.names("broker") == ["oanda", "paper"]


@pytest.mark.parametrize(("source", "line", "error"), [
    ("import definitely_missing_module\n", 1, "ModuleNotFoundError"),
    ("\n\nvalue = 1\nbroken = undefined_name\n", 4, "NameError"),
    ("def ok():\n    return (\n", 2, "SyntaxError"),
])
def test_an_import_error_names_the_file_and_line(site: Path, source: str, line: int,
                                                 error: str):
    """A plugin author reads where the module broke, not just what broke."""
    module = unique("broken_import")
    (site / f"{module}.py").write_text(source)
    install_distribution(site, "lts-broken-import", unique("unused"), "",
                         {"lts.strategy": {"broken": f"{module}:Anything"}})
    (failure,) = [e for e in PluginRegistry.discover({}).errors if e.name == "broken"]
    assert failure.message.startswith(f"import failed: {error}"), failure.message
    assert f"{site / module}.py:{line})" in failure.message, failure.message


def test_an_entry_point_cannot_replace_a_builtin(site: Path):
    module = unique("shadow")
    install_distribution(site, "lts-shadow", module, GOOD.replace('"always_buy"', '"sma_cross"'),
                         {"lts.strategy": {"sma_cross": f"{module}:AlwaysBuy"}})
    registry = PluginRegistry.discover({})
    assert registry.info("strategy", "sma_cross").origin == "builtin"
    (error,) = [e for e in registry.errors if e.name == "sma_cross"]
    assert "already taken" in error.message and error.origin == "entry point lts-shadow"


def test_discovery_is_logged(site: Path, caplog: pytest.LogCaptureFixture):
    module = unique("broken_import")
    (site / f"{module}.py").write_text("raise RuntimeError('broken at import')\n")
    install_distribution(site, "lts-noisy", unique("unused"), "",
                         {"lts.pipeline": {"noisy": f"{module}:Pipe"}})
    with caplog.at_level("WARNING", logger="lts.plugins"):
        PluginRegistry.discover({})
    assert "noisy" in caplog.text and "broken at import" in caplog.text


def test_snapshot_type_is_the_one_plugins_import():
    # Third-party plugins import lts.plugins.base; it is the same module the engine uses.
    assert MarketSnapshot.__module__ == "lts.plugins.base"


SETTINGS_PLUGIN = '''
"""A strategy that needs a global setting of its own."""
from lts.plugins.base import Decision, PluginSetting, StrategyPlugin


class NeedsAcme(StrategyPlugin):
    """Holds; knows where ACME answers."""

    name = "needs_acme"
    interface_version = "1.0"
    settings = (PluginSetting("acme_url", str, "https://default.example", "ACME root."),
                PluginSetting("acme_retries", int, 3, "Retries."))

    def decide(self, snapshot, position, allocation):
        return Decision.hold(self.app_config["acme_url"])
'''


def test_an_lts_variable_for_a_plugin_setting_starts_the_app_and_reaches_the_plugin(
        site: Path, monkeypatch: pytest.MonkeyPatch, database_path: Path, tmp_path: Path):
    module = unique("lts_needs_acme")
    install_distribution(site, "lts-needs-acme", module, SETTINGS_PLUGIN,
                         {"lts.strategy": {"needs_acme": f"{module}:NeedsAcme"}})
    monkeypatch.setenv("LTS_ACME_URL", "https://acme.example")
    monkeypatch.setenv("LTS_ACME_RETRIES", "5")
    app = make_test_app(f"sqlite:///{database_path}", tmp_path)

    assert app.config["LTS"]["acme_url"] == "https://acme.example"
    plugin = get_registry(app).create("strategy", "needs_acme", {}, app.config["LTS"])
    assert plugin.app_config == {"acme_url": "https://acme.example", "acme_retries": 5}
    sma = get_registry(app).create("strategy", "sma_cross", {}, app.config["LTS"])
    assert "acme_url" not in sma.app_config
    monkeypatch.setenv("LTS_ACME_RETRIES", "many")
    with pytest.raises(ConfigError, match="LTS_ACME_RETRIES"):
        make_test_app(f"sqlite:///{database_path}", tmp_path)
