"""The registry: built-ins found, configs validated with plugin and field named, JSON Schema."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lts.plugins.strategy
from lts.plugins.base import Decision, EmptyConfig, StrategyPlugin
from lts.plugins.registry import (
    DEFAULT_PLUGINS,
    EXTENSION_KEY,
    PluginConfigError,
    PluginRegistry,
    UnknownPlugin,
    get_registry,
)

BUILTINS = {
    "pipeline": {"synthetic", "csv"},
    "strategy": {"prediction_threshold", "sma_cross"},
    "portfolio": {"equal_weight", "fixed_weights", "inverse_volatility"},
    "broker": {"paper"},
}


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry.discover({"safe_mode": True})


def test_every_builtin_is_discovered_without_errors(registry):
    for kind, names in BUILTINS.items():
        assert names <= set(registry.names(kind))
        for name in names:
            info = registry.info(kind, name)
            assert info.origin == "builtin" and info.kind == kind and info.description
    assert [e for e in registry.errors if e.kind in BUILTINS] == []


def test_defaults_of_the_plugin_kinds_exist(registry):
    for kind in BUILTINS:
        assert DEFAULT_PLUGINS[kind] in registry.names(kind)
        assert registry.default(kind) == DEFAULT_PLUGINS[kind]


def test_validate_config_fills_defaults(registry):
    config = registry.validate_config("strategy", "sma_cross", {"fast": 5})
    assert config["fast"] == 5 and config["slow"] == 30 and config["sl_tp_unit"] == "pct"
    assert registry.validate_config("broker", "paper", None)["leverage"] == 1.0


def test_invalid_config_names_plugin_and_field(registry):
    with pytest.raises(PluginConfigError) as caught:
        registry.validate_config("strategy", "sma_cross", {"fast": 50, "slow": 20})
    assert "sma_cross" in str(caught.value) and "fast" in str(caught.value)
    assert caught.value.fields == {"fast": ["must be smaller than slow"]}
    assert (caught.value.kind, caught.value.name) == ("strategy", "sma_cross")

    with pytest.raises(PluginConfigError) as caught:
        registry.validate_config("broker", "paper", {"spread_bps": "wide"})
    assert "paper" in str(caught.value) and "spread_bps" in caught.value.fields


def test_unknown_config_keys_are_refused(registry):
    with pytest.raises(PluginConfigError) as caught:
        registry.validate_config("pipeline", "synthetic", {"sede": 1})
    assert "sede" in caught.value.fields


def test_fixed_weights_must_sum_to_at_most_one(registry):
    with pytest.raises(PluginConfigError) as caught:
        registry.validate_config("portfolio", "fixed_weights",
                                 {"weights": {"A": 0.6, "B": 0.5}})
    assert "weights" in caught.value.fields
    with pytest.raises(PluginConfigError):
        registry.validate_config("portfolio", "fixed_weights", {"weights": {"A": -0.1}})
    assert registry.validate_config("portfolio", "fixed_weights",
                                    {"weights": {"A": 0.6, "B": 0.4}})["weights"]["B"] == 0.4


def test_a_config_that_is_not_an_object_is_refused(registry):
    with pytest.raises(PluginConfigError) as caught:
        registry.validate_config("strategy", "sma_cross", [1, 2])  # type: ignore[arg-type]
    assert "_schema" in caught.value.fields


def test_unknown_plugin_names_kind_name_and_choices(registry):
    with pytest.raises(UnknownPlugin) as caught:
        registry.validate_config("strategy", "moon_phase", {})
    message = str(caught.value)
    assert "strategy" in message and "moon_phase" in message and "sma_cross" in message
    with pytest.raises(LookupError):
        registry.create("broker", "not_a_broker_yet", {})


def test_unknown_kind_is_a_value_error(registry):
    with pytest.raises(ValueError, match="kinds are"):
        registry.names("astrology")


def test_create_builds_the_plugin_with_validated_and_app_config(registry):
    plugin = registry.create("pipeline", "csv", {"lookback": 5},
                             {"LTS": {"data_dir": "/tmp/x"}, "SECRET": "flask"})
    assert plugin.config["lookback"] == 5 and plugin.config["timezone"] == "UTC"
    assert plugin.app_config == {"data_dir": "/tmp/x"}


def test_json_schema_has_types_defaults_descriptions_and_enums(registry):
    schema = registry.config_json_schema("strategy", "prediction_threshold")
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    unit = schema["properties"]["sl_tp_unit"]
    assert unit["enum"] == ["pct", "pips"] and unit["default"] == "pct"
    assert unit["description"]
    threshold = schema["properties"]["threshold"]
    assert threshold["type"] == "number" and threshold["minimum"] == 0
    assert schema["properties"]["stop_loss"]["type"] == ["number", "null"]
    assert schema["properties"]["forecast_window"]["type"] == "integer"
    assert schema["properties"]["allow_short"] == {
        "type": "boolean", "default": True,
        "description": "Open short positions on a downward signal."}
    weights = registry.config_json_schema("portfolio", "fixed_weights")
    assert weights["required"] == ["weights"]
    assert weights["properties"]["weights"]["additionalProperties"]["type"] == "number"
    assert weights["title"] == "fixed_weights (portfolio plugin)"


def test_get_registry_is_cached_per_app(app):
    registry = get_registry(app)
    assert app.extensions[EXTENSION_KEY] is registry
    assert get_registry(app) is registry


def test_register_refuses_a_name_taken_by_another_class(registry):
    fresh = PluginRegistry.discover({"safe_mode": True})

    class Impostor(StrategyPlugin):
        """Pretends to be sma_cross."""

        name = "sma_cross"
        interface_version = "1.0"
        config_schema = EmptyConfig

        def decide(self, snapshot, position, allocation):  # type: ignore[no-untyped-def]
            return Decision.hold("impostor")

    assert fresh.register("strategy", Impostor, "test") is None
    assert "already taken" in fresh.errors[-1].message
    assert fresh.info("strategy", "sma_cross").origin == "builtin"


def test_a_broken_builtin_module_is_reported_and_the_rest_still_load(tmp_path: Path,
                                                                      monkeypatch):
    (tmp_path / "broken_import.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "half_done.py").write_text(
        '"""A strategy missing its decide method."""\n'
        "from lts.plugins.base import StrategyPlugin\n\n"
        "class HalfDone(StrategyPlugin):\n"
        '    """No decide."""\n\n'
        '    name = "half_done"\n'
    )
    monkeypatch.setattr(lts.plugins.strategy, "__path__",
                        [*lts.plugins.strategy.__path__, str(tmp_path)])
    try:
        registry = PluginRegistry.discover({"safe_mode": True})
    finally:
        for module in ("lts.plugins.strategy.broken_import", "lts.plugins.strategy.half_done"):
            sys.modules.pop(module, None)
    errors = {(e.kind, e.name): e for e in registry.errors}
    assert "not_a_module_anywhere" in errors[("strategy", "broken_import")].message
    assert "decide" in errors[("strategy", "half_done")].message
    assert errors[("strategy", "half_done")].origin == "builtin"
    assert {"prediction_threshold", "sma_cross"} <= set(registry.names("strategy"))
    assert "half_done" not in registry.names("strategy")
    with pytest.raises(UnknownPlugin, match="failed to load"):
        registry.info("strategy", "half_done")


def test_a_plugin_whose_constructor_fails_raises_plugin_error_naming_it():
    from lts.plugins.base import PluginError

    class Fragile(StrategyPlugin):
        """Breaks on construction."""

        name = "fragile"
        interface_version = "1.0"

        def __init__(self, config=None, app_config=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("no")

        def decide(self, snapshot, position, allocation):  # type: ignore[no-untyped-def]
            return Decision.hold("x")

    registry = PluginRegistry.discover({"safe_mode": True})
    assert registry.register("strategy", Fragile, "test") is not None
    with pytest.raises(PluginError, match="strategy plugin 'fragile' could not be created"):
        registry.create("strategy", "fragile", {})


def test_a_plugin_calling_sys_exit_at_import_is_reported(tmp_path: Path, monkeypatch):
    (tmp_path / "quitter.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(lts.plugins.strategy, "__path__",
                        [*lts.plugins.strategy.__path__, str(tmp_path)])
    try:
        registry = PluginRegistry.discover({"safe_mode": True})
    finally:
        sys.modules.pop("lts.plugins.strategy.quitter", None)
    assert any(e.name == "quitter" and "SystemExit" in e.message for e in registry.errors)
