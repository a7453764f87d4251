"""The example package loads plugin by plugin: one broken module hides no other plugin.

Installed from its own pyproject.toml into a temp folder (see test_engine_entry_point),
its three entry points load; with one module broken in the copy, the two others still
load and the broken one is reported by name.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

from lts.plugins.registry import PluginRegistry
from tests.helpers import PLUGIN_PACKAGE as PACKAGE

PLUGINS = {"strategy": "momentum", "pipeline": "hourly_csv", "portfolio": "momentum_weight"}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the example package to break at will."""
    target = tmp_path / "plugin_package"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def install(install_example):  # type: ignore[no-untyped-def]
    """``install(package)``: lay it out as installed and put it on sys.path."""
    return install_example


def test_every_plugin_of_the_package_loads(copy: Path, install) -> None:
    install(copy)
    registry = PluginRegistry.discover({})
    for kind, name in PLUGINS.items():
        info = registry.info(kind, name)
        assert info.origin == "entry point lts-momentum"
        assert info.version == "1.0.0"


def test_a_broken_module_hides_no_other_plugin(copy: Path, install) -> None:
    module = copy / "src/lts_momentum/pipeline.py"
    module.write_text(module.read_text() + "\nimport a_module_that_is_not_installed\n")
    install(copy)
    registry = PluginRegistry.discover({})
    assert registry.info("strategy", "momentum").origin == "entry point lts-momentum"
    assert registry.info("portfolio", "momentum_weight").origin == "entry point lts-momentum"
    assert "hourly_csv" not in registry.names("pipeline")
    failed = [error for error in registry.errors if error.name == "hourly_csv"]
    assert len(failed) == 1 and "a_module_that_is_not_installed" in failed[0].message


def test_the_package_imports_a_plugin_only_when_asked(copy: Path, install) -> None:
    install(copy)
    package = importlib.import_module("lts_momentum")
    assert "lts_momentum.pipeline" not in sys.modules
    assert package.Momentum.name == "momentum"
    assert "lts_momentum.pipeline" not in sys.modules
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        package.Nope  # noqa: B018
