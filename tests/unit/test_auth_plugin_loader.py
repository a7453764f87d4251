"""The aaa plugin comes from the one registry: built-in default, unknown names, safe mode."""

from __future__ import annotations

import pytest

from lts.config import defaults
from lts.plugins.aaa import build_aaa_plugin, signing_key
from lts.plugins.aaa.base import AAAPlugin
from lts.plugins.aaa.default import DefaultAAA
from lts.plugins.registry import PluginRegistry, UnknownPlugin

SECRET = "k" * 32


def settings(**changes):
    return {**defaults(), "secret_key": SECRET, "smtp_password": "smtp-pw", **changes}


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry.discover({"safe_mode": True})


def test_default_plugin_loads_through_the_registry_and_implements_the_contract(registry):
    info = registry.info("aaa", "default")
    assert info.cls is DefaultAAA and info.origin == "builtin"
    plugin = build_aaa_plugin(registry, settings(), SECRET)
    assert isinstance(plugin, AAAPlugin) and isinstance(plugin, DefaultAAA)
    assert plugin.kind == "aaa" and plugin.name == "default"


def test_the_aaa_plugin_sees_its_settings_but_never_the_secret_key(registry):
    plugin = build_aaa_plugin(registry, settings(lockout_minutes=7), SECRET)
    assert plugin.app_config["lockout_minutes"] == 7
    assert set(plugin.app_config) == {s.name for s in DefaultAAA.settings}
    assert SECRET not in repr(vars(plugin)) and "smtp-pw" not in repr(vars(plugin))
    assert plugin.signing_key == signing_key(SECRET, "default") != SECRET


def test_unknown_plugin_is_refused_with_its_name_and_the_choices(registry):
    with pytest.raises(UnknownPlugin, match="unknown aaa plugin 'ldap'; available: default"):
        build_aaa_plugin(registry, settings(aaa_plugin="ldap"), SECRET)


def test_app_refuses_to_start_with_an_unknown_aaa_plugin(tmp_path):
    from lts import create_app

    with pytest.raises(UnknownPlugin, match="'nope'"):
        create_app({"aaa_plugin": "nope", "database_url": "sqlite:///:memory:",
                    "secret_key": SECRET}, instance_path=tmp_path)


def test_authorize_policy_of_the_default_plugin(registry):
    from types import SimpleNamespace

    plugin = build_aaa_plugin(registry, settings(), SECRET)
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
