"""LTS installs under a distribution name of its own; the import package stays ``lts``.

"lts" on the public package index is an unrelated project: a plugin package depending
on ``lts>=0.1`` would pull it in. The example plugin package shows the right name.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import lts
from lts.plugins.registry import DISTRIBUTION_NAME, lts_version

ROOT = Path(__file__).resolve().parents[2]


def project(path: Path) -> dict:  # type: ignore[type-arg]
    return tomllib.loads(path.read_text("utf-8"))["project"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_the_distribution_is_named_lts_live_trading():
    assert DISTRIBUTION_NAME == "lts-live-trading"
    assert project(ROOT / "pyproject.toml")["name"] == DISTRIBUTION_NAME


def test_the_example_plugin_depends_on_that_name_not_on_lts():
    needs = [requirement_name(r) for r in
             project(ROOT / "examples" / "plugin_package" / "pyproject.toml")["dependencies"]]
    assert DISTRIBUTION_NAME in needs and "lts" not in needs


def test_the_editable_install_answers_to_that_name():
    assert metadata.version(DISTRIBUTION_NAME) == lts_version() == lts.__version__
    commands = [ep for ep in metadata.entry_points(group="flask.commands") if ep.name == "lts"]
    assert commands and {ep.dist.name for ep in commands} == {DISTRIBUTION_NAME}
