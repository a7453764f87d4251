"""Declared versions and settings: what the registry refuses, and what a plugin receives."""

from __future__ import annotations

import logging

import pytest

from lts.config import ConfigError, ConfigSources, merge_config, save_config
from lts.plugins.base import Decision, PluginSetting, StrategyPlugin
from lts.plugins.pipeline.csv import CsvPipeline
from lts.plugins.registry import (
    INTERFACE_VERSION,
    PluginRegistry,
    SettingsDiscovery,
    check_plugin_class,
)
from lts.testing.base_contract import PluginContract

APP_SETTINGS = {"secret_key": "s3cr3t-key", "smtp_password": "smtp-pw",
                "database_url": "postgresql://u:db-pw@h/x", "data_dir": "/data",
                "acme_url": "https://acme.example"}


def strategy(name: str, **attributes: object) -> type[StrategyPlugin]:
    """A holding strategy class with ``attributes`` (interface 1.0 unless overridden)."""
    body: dict[str, object] = {"name": name, "interface_version": "1.0",
                               "__doc__": "Holds.", "__module__": __name__,
                               "decide": lambda self, s, p, a: Decision.hold("hold")}
    body.update(attributes)
    return type(name.title(), (StrategyPlugin,), body)


def fresh() -> PluginRegistry:
    return PluginRegistry.discover({"safe_mode": True})


# ---------------------------------------------------------------- interface version


def test_an_inherited_interface_version_is_refused_saying_how_to_fix_it():
    class Wrapped(CsvPipeline):
        """A csv pipeline under another name that forgot to declare its version."""

        name = "wrapped_csv"

    problem = check_plugin_class(Wrapped, "pipeline")
    assert problem is not None
    assert f"declare interface_version = '{INTERFACE_VERSION}' on class" in problem
    assert "Wrapped" in problem
    registry = fresh()
    assert registry.register("pipeline", Wrapped, "test") is None
    assert "declare interface_version" in registry.errors[-1].message


def test_every_builtin_declares_its_own_interface_version():
    registry = fresh()
    infos = registry.infos()
    assert {info.kind for info in infos} == {"aaa", "core", "pipeline", "strategy",
                                              "broker", "portfolio"}
    for info in infos:
        assert "interface_version" in vars(info.cls), info.cls
        assert info.interface_version == INTERFACE_VERSION and info.version


def test_the_contract_suite_fails_a_plugin_with_an_inherited_version():
    inherited = strategy("inherited")
    del inherited.interface_version  # now only the base class could answer

    class Suite(PluginContract):
        kind = "strategy"
        plugin_factory = inherited

    with pytest.raises(AssertionError, match="declare interface_version"):
        Suite().test_passes_the_registry_load_checks(Suite.make_plugin())


# ---------------------------------------------------------------------- settings


def test_a_plugin_receives_only_the_settings_its_class_declares():
    registry = fresh()
    cls = strategy("needs_acme", settings=(
        PluginSetting("acme_url", str, "", "Where ACME answers."),
        PluginSetting("acme_retries", int, 3, "How often to retry."),
        PluginSetting("data_dir", str, "data", "LTS's data folder, shared.")))
    assert registry.register("strategy", cls, "test") is not None
    plugin = registry.create("strategy", "needs_acme", {}, {"LTS": APP_SETTINGS})
    assert plugin.app_config == {"acme_url": "https://acme.example", "acme_retries": 3,
                                 "data_dir": "/data"}
    plain = registry.create("strategy", "sma_cross", {}, {"LTS": APP_SETTINGS})
    assert plain.app_config == {}


def test_a_plugin_built_directly_keeps_only_declared_settings_too():
    plugin = CsvPipeline({}, APP_SETTINGS)
    assert plugin.app_config == {"data_dir": "/data"}
    assert CsvPipeline({}).app_config == {"data_dir": "data"}


@pytest.mark.parametrize("key", ["secret_key", "smtp_password", "smtp_host", "smtp_user",
                                 "database_url", "redis_url"])
def test_lts_private_settings_cannot_be_declared(key):
    registry = fresh()
    cls = strategy("greedy", settings=(PluginSetting(key, str, "", "Give it to me."),))
    assert registry.register("strategy", cls, "test") is None
    assert f"declares LTS's setting '{key}', which no plugin may read" in \
        registry.errors[-1].message


@pytest.mark.parametrize(("setting", "message"), [
    (PluginSetting("Acme-URL", str, "", "x"), "lower-case letters"),
    (PluginSetting("acme_list", list, [], "x"), "use str, int, float or bool"),
    (PluginSetting("acme_retries", int, "3", "x"), "which is not a int"),
    (PluginSetting("acme_flag", bool, 1, "x"), "which is not a bool"),
    (PluginSetting("port", str, "", "x"), "LTS defines it as int"),
    ("acme_url", "not a PluginSetting"),
])
def test_malformed_setting_declarations_are_refused(setting, message):
    registry = fresh()
    cls = strategy("malformed", settings=(setting,))
    assert registry.register("strategy", cls, "test") is None
    assert message in registry.errors[-1].message


def test_two_plugins_may_share_a_setting_only_if_they_agree_on_it():
    registry = fresh()
    first = strategy("first", settings=(PluginSetting("acme_key", str, "", "x", secret=True),))
    same = strategy("same", settings=(PluginSetting("acme_key", str, "", "y", secret=True),))
    other = strategy("other", settings=(PluginSetting("acme_key", int, 0, "z"),))
    assert registry.register("strategy", first, "test") is not None
    assert registry.register("strategy", same, "test") is not None
    assert registry.register("strategy", other, "test") is None
    assert "already declared by strategy plugin 'first' as a secret str" in \
        registry.errors[-1].message
    assert list(registry.declared_settings()) == ["acme_key"]
    assert registry.declared_settings()["acme_key"].secret


# --------------------------------------------------------- configuration layers


def declaring(*settings: PluginSetting):
    """A plugin_settings callback answering ``settings`` (and counting its calls)."""
    calls = []

    def callback(core):
        calls.append(dict(core))
        registry = fresh()
        registry.register("strategy", strategy("declares", settings=settings), "test")
        return registry.declared_settings()

    callback.calls = calls  # type: ignore[attr-defined]
    return callback


def test_declared_settings_are_valid_keys_in_every_layer(tmp_path):
    callback = declaring(PluginSetting("acme_url", str, "", "x"),
                         PluginSetting("acme_retries", int, 3, "y"))
    file_path = tmp_path / "c.json"
    file_path.write_text('{"acme_retries": 5}')
    merged = merge_config(ConfigSources(config_file=str(file_path),
                                        environ={"LTS_ACME_URL": "https://env"},
                                        cli_sets=("acme_retries=7",)),
                          plugin_settings=callback)
    assert merged["acme_url"] == "https://env" and merged["acme_retries"] == 7
    with pytest.raises(ConfigError, match="environment LTS_ACME_RETRIES: key 'acme_retries': "
                                          "expected an integer"):
        merge_config(ConfigSources(environ={"LTS_ACME_RETRIES": "many"}),
                     plugin_settings=callback)


def test_plugins_are_only_discovered_when_a_key_is_unknown_to_lts():
    callback = declaring(PluginSetting("acme_url", str, "", "x"))
    merge_config(ConfigSources(environ={"LTS_PORT": "9000"}), plugin_settings=callback)
    assert callback.calls == []  # type: ignore[attr-defined]


def test_a_key_no_plugin_declares_is_still_refused():
    with pytest.raises(ConfigError, match="environment LTS_ACME_URLL: unknown key 'acme_urll'"):
        merge_config(ConfigSources(environ={"LTS_ACME_URLL": "x"}),
                     plugin_settings=declaring(PluginSetting("acme_url", str, "", "x")))


def test_safe_mode_ignores_settings_of_plugins_it_does_not_load(caplog):
    with caplog.at_level(logging.WARNING, logger="lts.config"):
        merged = merge_config(ConfigSources(environ={"LTS_ACME_URL": "x",
                                                     "LTS_SAFE_MODE": "true"}),
                              plugin_settings=declaring())
    assert "acme_url" not in merged and merged["safe_mode"] is True
    assert "acme_url" in caplog.text and "safe mode" in caplog.text


def test_save_config_writes_plugin_settings_and_masks_their_secrets(tmp_path):
    callback = SettingsDiscovery()
    merged = merge_config(ConfigSources(), {"data_dir": "/d"}, plugin_settings=callback)
    assert callback.registry is None  # nothing unknown: nothing discovered
    declared = declaring(PluginSetting("acme_key", str, "", "x", secret=True),
                         PluginSetting("acme_url", str, "", "y"))({})
    path = tmp_path / "saved.json"
    save_config(path, {**merged, "acme_key": "k-123", "acme_url": "https://a"}, declared)
    text = path.read_text()
    assert "k-123" not in text and '"acme_key": "********"' in text
    assert '"acme_url": "https://a"' in text
