"""What a plugin sees (SPEC 3): every built-in and the example package, checked for secrets.

The app runs with a secret key, an SMTP password and an asset whose broker and pipeline
configs hold API keys (stored encrypted, as the services store them). Each plugin is
built the way the engine builds it, and everything reachable from the instance (its
config, settings, caches...) and from what a tick hands it is searched for those
secrets: a plugin may hold its own secret, and no other.

This proves what LTS hands to plugins. Code running in the same process can still
import LTS's modules and reach further; the boundary keeps honest plugins (and their
logs, error messages and crash dumps) away from secrets they were never meant to hold.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, Plugin, PortfolioInfo
from lts.plugins.config_secrets import encrypt_config
from lts.plugins.pipeline.synthetic import SyntheticPipeline
from lts.plugins.portfolio.equal_weight import EqualWeight
from lts.plugins.registry import get_registry
from lts.trading.plugin_source import RegistryPluginSource
from lts.trading.units import build_unit
from tests.conftest import make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import PLUGIN_PACKAGE, tick_once
from tests.trading_fakes import KeyedPaper, KeyedSynthetic

SECRET_KEY = "S3CRET-app-key-0123456789abcdef"
SMTP_PASSWORD = "S3CRET-smtp-password"
BROKER_KEY = "S3CRET-broker-api-key"
PIPELINE_KEY = "S3CRET-pipeline-api-key"
APP_SECRETS = (SECRET_KEY, SMTP_PASSWORD)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class RecordingEqualWeight(EqualWeight):
    """Equal weights; remembers the portfolio and asset views it is handed."""

    name = "recording_equal_weight"
    interface_version = "1.0"
    seen: ClassVar[list[Any]] = []

    def allocate(self, portfolio, assets, snapshots):  # type: ignore[no-untyped-def]
        RecordingEqualWeight.seen.append((portfolio, tuple(assets)))
        return super().allocate(portfolio, assets, snapshots)


def reachable_text(root: Any, limit: int = 200_000) -> list[str]:
    """Every string reachable from ``root`` through data (not through code or modules)."""
    found: list[str] = []
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, bool | int | float):
            continue
        seen.add(id(obj))
        if isinstance(obj, str | bytes | bytearray):
            found.append(obj if isinstance(obj, str) else bytes(obj).decode("latin-1"))
        elif isinstance(obj, types.ModuleType | type | types.FunctionType |
                        types.BuiltinFunctionType | types.MethodType):
            continue  # code: what a plugin can import is not what LTS hands it
        elif isinstance(obj, pd.DataFrame | pd.Series | pd.Index):
            continue  # market data
        elif isinstance(obj, Mapping):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        else:
            if dataclasses.is_dataclass(obj):
                stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
            stack.extend(getattr(obj, "__dict__", {}).values())
            for slot in getattr(type(obj), "__slots__", ()):
                stack.append(getattr(obj, slot, None))
    return found


def secrets_in(root: Any, secrets: tuple[str, ...]) -> set[str]:
    """The secrets of ``secrets`` found anywhere reachable from ``root``."""
    texts = reachable_text(root)
    return {secret for secret in secrets if any(secret in text for text in texts)}


@pytest.fixture
def example_installed(install_example) -> None:
    """The example plugin package, installed the way an installer lays it out."""
    install_example(PLUGIN_PACKAGE)


@pytest.fixture
def boundary_app(example_installed, database_path, tmp_path):
    app = make_test_app(f"sqlite:///{database_path}", tmp_path, secret_key=SECRET_KEY,
                        smtp_password=SMTP_PASSWORD, smtp_user="mailer")
    registry = get_registry(app)
    for kind, cls in (("broker", KeyedPaper), ("pipeline", KeyedSynthetic),
                      ("portfolio", RecordingEqualWeight)):
        assert registry.register(kind, cls, "test") is not None
    for cls in (KeyedPaper, KeyedSynthetic, RecordingEqualWeight):
        cls.seen.clear()
    with app.app_context():
        yield app
        from lts.extensions import db

        db.session.remove()
        db.engine.dispose()


def keyed_asset(app):
    """An asset whose broker and pipeline configs hold encrypted API keys."""
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1,
                              portfolio_plugin="recording_equal_weight")
    with app.test_request_context():
        broker = encrypt_config({"api_key": BROKER_KEY}, {"api_key"})
        pipeline = encrypt_config({"api_key": PIPELINE_KEY}, {"api_key"})
    return gen_asset(portfolio, "EUR_USD", broker_plugin="keyed_paper", broker_config=broker,
                     pipeline_plugin="keyed_synthetic", pipeline_config=pipeline,
                     strategy_plugin="momentum",
                     strategy_config={"lookback": 5, "threshold": 0.0})


def test_no_plugin_receives_the_app_secrets(boundary_app):
    registry = get_registry(boundary_app)
    infos = registry.infos()
    assert {"momentum"} <= {i.name for i in infos if i.origin == "entry point lts-momentum"}
    assert {i.kind for i in infos} == {"aaa", "core", "pipeline", "strategy", "broker",
                                       "portfolio"}
    source = RegistryPluginSource(boundary_app)
    required = {("portfolio", "fixed_weights"): {"weights": {"EUR_USD": 1.0}},
                ("broker", "oanda"): {"account_id": "101-1", "api_token": "t"},
                ("pipeline", "oanda"): {"api_token": "t"},
                ("pipeline", "http_predictions"): {"url": "http://127.0.0.1:9"}}
    for info in infos:
        if info.kind == "aaa":
            continue  # built once per app, checked below
        plugin = source.get(info.kind, info.name, required.get((info.kind, info.name), {}))
        if hasattr(plugin, "source"):  # a wrapping pipeline: its source is built too
            with boundary_app.app_context():
                assert secrets_in(plugin.source, APP_SECRETS) == set(), info.name
        assert secrets_in(plugin, APP_SECRETS) == set(), f"{info.kind} {info.name}"
        assert set(plugin.app_config) == set(info.settings), f"{info.kind} {info.name}"
    aaa = boundary_app.extensions["lts.aaa"]
    assert isinstance(aaa, Plugin) and secrets_in(aaa, APP_SECRETS) == set()


def test_the_walker_finds_a_secret_that_is_there(boundary_app):
    # The positive control: without it, an empty result above would prove nothing.
    leaky = SyntheticPipeline({}, {})
    leaky.stash = {"nested": [("x", SMTP_PASSWORD)]}  # type: ignore[attr-defined]
    assert secrets_in(leaky, APP_SECRETS) == {SMTP_PASSWORD}


def test_each_plugin_holds_its_own_secret_and_no_other(boundary_app):
    asset = keyed_asset(boundary_app)
    unit = build_unit(RegistryPluginSource(boundary_app), asset)
    everything = (*APP_SECRETS, BROKER_KEY, PIPELINE_KEY)
    assert unit.broker.config["api_key"] == BROKER_KEY
    assert unit.pipeline.config["api_key"] == PIPELINE_KEY
    assert secrets_in(unit.broker, everything) == {BROKER_KEY}
    assert secrets_in(unit.pipeline, everything) == {PIPELINE_KEY}
    assert secrets_in(unit.strategy, everything) == set()
    assert secrets_in(unit.info, everything) == set()
    assert "api_key" not in unit.info.broker_config
    assert unit.info.broker_config["leverage"] == 1.0  # the rest stays visible


def test_a_tick_hands_no_plugin_a_secret_in_its_arguments(boundary_app):
    asset = keyed_asset(boundary_app)
    report = tick_once(boundary_app, NOW)
    (outcome,) = report.outcomes
    assert outcome.ok, outcome.error
    everything = (*APP_SECRETS, BROKER_KEY, PIPELINE_KEY)
    assert KeyedSynthetic.seen and KeyedPaper.seen and RecordingEqualWeight.seen
    for view in (*KeyedSynthetic.seen, *KeyedPaper.seen):
        assert isinstance(view, AssetInfo) and view.id == asset.id
        assert secrets_in(view, everything) == set()
    for portfolio, assets in RecordingEqualWeight.seen:
        assert isinstance(portfolio, PortfolioInfo)
        assert secrets_in((portfolio, assets), everything) == set()
