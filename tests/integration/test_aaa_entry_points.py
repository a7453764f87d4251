"""Third-party aaa plugins load through the one registry: entry points, checks, safe mode."""

from __future__ import annotations

import pytest

from lts.plugins.registry import PluginRegistry, UnknownPlugin
from tests.conftest import make_test_app
from tests.integration.test_plugin_registry import (  # noqa: F401  (the site fixture)
    install_distribution,
    site,
    unique,
)

STRICT = '''
"""An aaa plugin that lets nobody register."""
from lts.plugins.aaa.default import DefaultAAA


class StrictAAA(DefaultAAA):
    """The default policy, registration closed whatever the settings say."""

    name = "strict"
    interface_version = "1.0"

    def register(self, username, email, password):
        raise PermissionError("registration is closed")


class Inherited(DefaultAAA):
    """Forgot to declare its interface version."""

    name = "inherited"
'''


@pytest.fixture
def aaa_distribution(site):  # noqa: F811
    module = unique("lts_strict_aaa")
    install_distribution(site, "lts-strict-aaa", module, STRICT,
                         {"lts.aaa": {"strict": f"{module}:StrictAAA",
                                      "inherited": f"{module}:Inherited"}})
    return site


def test_an_aaa_entry_point_is_found_and_checked_like_every_kind(aaa_distribution):
    registry = PluginRegistry.discover({})
    info = registry.info("aaa", "strict")
    assert info.origin == "entry point lts-strict-aaa" and info.version == "1.0"
    (error,) = [e for e in registry.errors if e.name == "inherited"]
    assert error.kind == "aaa" and "declare interface_version = '1.0' on class" in \
        error.message
    assert registry.names("aaa") == ["default", "strict"]


def test_safe_mode_keeps_third_party_aaa_plugins_out(aaa_distribution):
    registry = PluginRegistry.discover({"safe_mode": True})
    assert registry.names("aaa") == ["default"] and registry.errors == []


def test_the_app_uses_the_aaa_plugin_it_names(aaa_distribution, database_path, tmp_path):
    app = make_test_app(f"sqlite:///{database_path}", tmp_path, aaa_plugin="strict")
    plugin = app.extensions["lts.aaa"]
    assert type(plugin).__name__ == "StrictAAA"
    with pytest.raises(PermissionError):
        plugin.register("x", "x@example.com", "a long enough password")


def test_the_app_refuses_a_broken_or_unavailable_aaa_plugin(aaa_distribution,
                                                            database_path, tmp_path):
    with pytest.raises(UnknownPlugin, match="declare interface_version"):
        make_test_app(f"sqlite:///{database_path}", tmp_path, aaa_plugin="inherited")
    with pytest.raises(UnknownPlugin, match="unknown aaa plugin 'strict'"):
        make_test_app(f"sqlite:///{database_path}", tmp_path, aaa_plugin="strict",
                      safe_mode=True)
