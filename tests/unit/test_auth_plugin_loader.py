"""The aaa plugin loader: built-in default, unknown names, safe mode, config checks."""

from __future__ import annotations

import pytest

from lts.config import defaults
from lts.plugins.aaa import PluginLoadError, find_plugin_class, load_aaa_plugin
from lts.plugins.aaa.base import AAAPlugin
from lts.plugins.aaa.default import DefaultAAA


def config(**changes):
    return {**defaults(), "secret_key": "k" * 32, **changes}


def test_default_plugin_loads_and_implements_the_contract():
    plugin = load_aaa_plugin("default", config())
    assert isinstance(plugin, AAAPlugin) and isinstance(plugin, DefaultAAA)
    assert plugin.kind == "aaa" and plugin.name == "default"


def test_unknown_plugin_is_refused_with_its_name():
    with pytest.raises(PluginLoadError, match="'ldap' is unknown"):
        find_plugin_class("ldap")


def test_safe_mode_allows_built_ins_only():
    with pytest.raises(PluginLoadError, match="safe mode"):
        find_plugin_class("ldap", safe_mode=True)
    assert find_plugin_class("default", safe_mode=True) is DefaultAAA


def test_invalid_config_is_refused_naming_the_field():
    with pytest.raises(PluginLoadError, match="lockout_minutes"):
        load_aaa_plugin("default", config(lockout_minutes=0))


def test_app_refuses_to_start_with_an_unknown_aaa_plugin(tmp_path):
    from lts import create_app

    with pytest.raises(PluginLoadError):
        create_app({"aaa_plugin": "nope", "database_url": "sqlite:///:memory:",
                    "secret_key": "k" * 32}, instance_path=tmp_path)


def test_authorize_policy_of_the_default_plugin():
    from types import SimpleNamespace

    plugin = load_aaa_plugin("default", config())
    admin = SimpleNamespace(id=1, role="admin", is_active=True, is_authenticated=True)
    user = SimpleNamespace(id=2, role="user", is_active=True, is_authenticated=True)
    inactive = SimpleNamespace(id=3, role="admin", is_active=False, is_authenticated=True)
    own = SimpleNamespace(user_id=2)
    other = SimpleNamespace(user_id=1)
    assert plugin.authorize(admin, "admin.access") and plugin.authorize(admin, "x.read", other)
    assert not plugin.authorize(user, "admin.access")
    assert plugin.authorize(user, "portfolio.read", own)
    assert not plugin.authorize(user, "portfolio.read", other)
    assert plugin.authorize(user, "portfolio.create")
    assert not plugin.authorize(inactive, "portfolio.read", own)
    assert not plugin.authorize(None, "portfolio.create")
