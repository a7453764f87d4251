"""Checks every plugin must pass, and sample data for the kind-specific suites."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import marshmallow
import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import AssetInfo, MarketSnapshot, Plugin
from lts.plugins.registry import check_plugin_class, schema_to_json

#: The moment the suites ask for data, unless a subclass sets ``now``.
SAMPLE_NOW = datetime(2024, 3, 4, 15, 30, tzinfo=UTC)


def sample_asset(symbol: str = "TEST", *, asset_id: int = 1, portfolio_id: int = 1,
                 allocated_capital: float = 10_000.0, **configs: Mapping[str, Any]) -> AssetInfo:
    """Return an :class:`AssetInfo` for tests."""
    return AssetInfo(id=asset_id, portfolio_id=portfolio_id, symbol=symbol, name=symbol,
                     allocated_capital=allocated_capital, **configs)


def make_candles(closes: Any, *, end: datetime = SAMPLE_NOW, interval_minutes: int = 1,
                 wick: float = 0.001, volume: float = 1000.0) -> pd.DataFrame:
    """Return OHLCV bars whose closes are ``closes``, the last bar at ``end``.

    Each bar opens at the previous close; high and low add a ``wick`` (relative) around
    open and close, so tests control exactly which prices a bar touches.
    """
    close = np.asarray(closes, dtype=np.float64)
    opens = np.concatenate(([close[0]], close[:-1]))
    index = pd.date_range(end=pd.Timestamp(end), periods=len(close),
                          freq=pd.Timedelta(minutes=interval_minutes), name="time")
    return pd.DataFrame({
        "open": opens,
        "high": np.maximum(opens, close) * (1 + wick),
        "low": np.minimum(opens, close) * (1 - wick),
        "close": close,
        "volume": np.full(len(close), volume),
    }, index=index)


def make_snapshot(closes: Any = None, *, symbol: str = "TEST", end: datetime = SAMPLE_NOW,
                  trend: float = 0.0, bars: int = 200, seed: int = 7,
                  volatility: float = 0.002, predictions: pd.DataFrame | None = None,
                  **candle_options: Any) -> MarketSnapshot:
    """Return a snapshot: the given closes, or a seeded walk with ``trend`` per bar."""
    if closes is None:
        rng = np.random.default_rng(seed)
        steps = rng.normal(trend, volatility, bars)
        closes = 100.0 * np.exp(np.cumsum(steps))
    candles = make_candles(closes, end=end, **candle_options)
    return MarketSnapshot(symbol=symbol, candles=candles, as_of=end, predictions=predictions)


class PluginContract:
    """What every plugin must satisfy; the kind-specific suites build on it.

    Set ``plugin_factory`` to the plugin class (built with ``plugin_config`` validated
    by its own schema, and ``app_config``) or to any zero-argument callable returning a
    ready plugin. Override the ``plugin`` fixture when building needs other fixtures.
    """

    kind: ClassVar[str] = ""
    plugin_factory: ClassVar[Callable[..., Plugin] | type[Plugin] | None] = None
    plugin_config: ClassVar[Mapping[str, Any]] = {}
    app_config: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def make_plugin(cls) -> Plugin:
        """Build the plugin under test."""
        factory = cls.plugin_factory
        if factory is None:
            raise TypeError(f"{cls.__name__} must set plugin_factory")
        if isinstance(factory, type) and issubclass(factory, Plugin):
            config = factory.config_schema().load(dict(cls.plugin_config))
            return factory(config, dict(cls.app_config))
        return factory()

    @pytest.fixture
    def plugin(self) -> Plugin:
        """The plugin under test, fresh for each test."""
        return self.make_plugin()

    def test_passes_the_registry_load_checks(self, plugin: Plugin) -> None:
        """Name, kind, implemented methods, schema and its own interface version are valid."""
        problem = check_plugin_class(type(plugin), self.kind)
        assert problem is None, f"the registry would refuse the plugin: {problem}"

    def test_is_documented(self, plugin: Plugin) -> None:
        """The class says what it does (the registry shows it to users)."""
        assert (type(plugin).description or inspect.getdoc(type(plugin)) or "").strip(), (
            f"expected a description or docstring on {type(plugin).__qualname__}, came none")

    def test_config_schema_describes_every_field(self, plugin: Plugin) -> None:
        """Every config field has a description, so forms can explain it."""
        schema = type(plugin).config_schema()
        undocumented = [name for name, field in schema.fields.items()
                        if not (field.metadata or {}).get("description")]
        assert undocumented == [], (
            f"expected a metadata description on every config field, came none on "
            f"{undocumented}")

    def test_config_schema_converts_to_json_schema(self, plugin: Plugin) -> None:
        """The dashboard can build a form from the config schema."""
        result = schema_to_json(type(plugin).config_schema)
        assert result["type"] == "object", (
            f"expected a JSON Schema of type 'object', came {result.get('type')!r}")
        fields = type(plugin).config_schema().fields
        loadable = {name for name, field in fields.items() if not field.dump_only}
        missing = loadable - set(result["properties"])
        assert not missing, (
            f"expected every loadable field in the JSON Schema, came without {sorted(missing)}")

    def test_config_schema_refuses_unknown_keys(self, plugin: Plugin) -> None:
        """A typo in a config key is an error, not silently ignored."""
        config = {**self.plugin_config, "surely_not_a_setting": 1}
        try:
            type(plugin).config_schema().load(config)
        except marshmallow.ValidationError as exc:
            assert "surely_not_a_setting" in exc.messages, (
                f"expected the error to name 'surely_not_a_setting', came {exc.messages}")
        else:
            pytest.fail("expected a ValidationError for the unknown key "
                        "'surely_not_a_setting', came none (set Meta.unknown = RAISE)")


def assert_finite(value: float, what: str) -> None:
    """Fail with a clear message when ``value`` is NaN or infinite."""
    assert math.isfinite(value), f"{what} is {value!r}"
