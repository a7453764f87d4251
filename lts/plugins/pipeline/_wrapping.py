"""Pipelines that add predictions to another pipeline's bars (``arima``, ``http_predictions``...).

A wrapping pipeline names its *source* pipeline and that pipeline's config::

    {"source": "csv", "source_config": {"file": "EURUSD.csv"}, ...own settings...}

The source is resolved through the plugin registry like any plugin an asset names, so
predictions combine with every pipeline, built-in (``csv``, ``synthetic``) or installed
(``oanda`` candles). Its config is validated by its own schema when the wrapper's config
is loaded: an error inside it is reported under ``source_config`` with the inner field's
name. The source receives only the global settings its own class declares (the
registry decides, as for any plugin).

Bars are the source's, untouched: ``snapshot`` and ``bars`` delegate, and the wrapper
only fills ``MarketSnapshot.predictions``. Predictions are a frame indexed by the bar
times they forecast (stamped by period start, like bars) with a ``close`` column and,
when the model gives one, ``lower``/``upper`` interval columns; ``frame.attrs`` says
which model made them and how (:data:`ATTR_MODEL`, :data:`ATTR_STATUS`,
:data:`ATTR_MESSAGE`).
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import marshmallow
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.bars import bar_period
from lts.plugins.base import (
    AssetInfo,
    MarketSnapshot,
    PipelinePlugin,
    PluginError,
    PluginSetting,
)

#: ``predictions.attrs`` keys: the model ("ARIMA(1,1,1)"), its status and why.
ATTR_MODEL = "model"
ATTR_STATUS = "fit_status"
ATTR_MESSAGE = "fit_message"
#: Set (True) on the first snapshot of a fallback episode of one asset: the engine audits it.
ATTR_EPISODE_START = "fallback_started"
#: Status of a forecast that is not the model's own (the fit failed, the service is down).
FALLBACK = "fallback"

_fallback_registry: Any = None
_registry_lock = threading.Lock()


def current_registry() -> Any:
    """The registry of the running app; outside an app, one discovered once for the process.

    Wrappers are built by the registry itself (inside the app), but tests, the CLI and
    benchmarks also build them directly.
    """
    from flask import current_app, has_app_context

    from lts.plugins.registry import PluginRegistry, get_registry

    if has_app_context():
        return get_registry(current_app)
    global _fallback_registry
    with _registry_lock:
        if _fallback_registry is None:
            _fallback_registry = PluginRegistry.discover({})
        return _fallback_registry


def _app_settings(own: Mapping[str, Any]) -> Mapping[str, Any]:
    """The settings to build the source with: the app's, else the wrapper's own."""
    from flask import current_app, has_app_context

    if has_app_context() and isinstance(current_app.config.get("LTS"), Mapping):
        return current_app.config["LTS"]
    return own


class WrappedSourceConfig(marshmallow.Schema):
    """The source pipeline, its config and the forecast horizon; subclasses add theirs."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    source = fields.String(load_default="synthetic", validate=validate.Length(min=1, max=100),
                           metadata={"description": "Pipeline whose bars are forecast (csv, "
                                                    "synthetic, oanda...)."})
    source_config = fields.Dict(keys=fields.String(), load_default=dict,
                                metadata={"description": "Config of the source pipeline "
                                                         "(its own settings)."})
    horizon = fields.Integer(load_default=5, validate=validate.Range(min=1, max=1000),
                             metadata={"description": "Bars forecast ahead (a prediction "
                                                      "service's prediction_horizon)."})

    @classmethod
    def nested_secret_names(cls, config: Mapping[str, Any]) -> set[str]:
        """The source config's secrets (its schema's), as ``source_config.<name>``.

        :mod:`lts.plugins.config_secrets` encrypts, masks and hides them like the
        wrapper's own; a source that is itself a wrapper nests one level further.
        """
        from lts.plugins.config_secrets import secret_field_names

        inner = config.get("source_config")
        if not isinstance(inner, Mapping):
            return set()
        try:
            schema = current_registry().info(
                "pipeline", str(config.get("source") or "synthetic")).cls.config_schema
        except Exception:  # an unknown source: the credential-like names still count
            schema = None
        return {f"source_config.{name}" for name in secret_field_names(schema, inner)}

    @marshmallow.post_load
    def _load_source(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Validate the source's config with its own schema (defaults filled in)."""
        from lts.plugins.registry import PluginConfigError, UnknownPlugin

        registry = current_registry()
        try:
            data["source_config"] = registry.validate_config(
                "pipeline", data["source"], data.get("source_config") or {})
        except UnknownPlugin as exc:
            raise marshmallow.ValidationError({"source": [str(exc)]}) from None
        except PluginConfigError as exc:
            raise marshmallow.ValidationError({"source_config": exc.fields}) from None
        self.check_loaded(data)
        return data

    def check_loaded(self, data: dict[str, Any]) -> None:
        """Checks across fields, once the source's config is loaded (subclasses)."""


def source_lookback_check(data: Mapping[str, Any], window: int, field: str) -> None:
    """Refuse a ``window`` longer than the source's ``lookback``: never that many bars."""
    lookback = (data.get("source_config") or {}).get("lookback")
    if isinstance(lookback, int) and lookback < window:
        raise marshmallow.ValidationError(
            {field: [f"{field}={window} is longer than the source's lookback={lookback}: "
                     f"raise source_config.lookback to at least {window}"]})


class EpisodeTracker:
    """Which assets are in a fallback episode: the first fallback of a row is flagged.

    The engine audits a flagged snapshot; the next ones of the same episode are not
    flagged, so a model that keeps failing is audited once, not every tick.
    """

    def __init__(self) -> None:
        self._falling_back: set[Any] = set()
        self._lock = threading.Lock()

    def mark(self, frame: pd.DataFrame, key: Any, fallback: bool) -> None:
        """Record ``key``'s status and flag ``frame`` when an episode starts."""
        with self._lock:
            started = fallback and key not in self._falling_back
            if fallback:
                self._falling_back.add(key)
            else:
                self._falling_back.discard(key)
        frame.attrs[ATTR_EPISODE_START] = started


def series_key(config: Mapping[str, Any], symbol: str) -> tuple[str, str, str]:
    """Identity of a bar series: source pipeline, its config, symbol.

    Two assets with the same key see the same bars, so they share forecasts.
    """
    return (str(config.get("source")),
            json.dumps(config.get("source_config") or {}, sort_keys=True, default=str),
            symbol)


def forecast_index(candles: pd.DataFrame, steps: int,
                   period: pd.Timedelta | None = None) -> pd.DatetimeIndex:
    """Stamps of the ``steps`` bars after the newest one of ``candles``."""
    step = period or bar_period(candles.index)
    if step is None:
        raise PluginError("cannot tell the bar period from fewer than two bars")
    last = candles.index[-1]
    return pd.DatetimeIndex([last + step * (k + 1) for k in range(steps)], name="time")


class WrappingPipeline(PipelinePlugin):
    """A pipeline whose bars come from another one, with predictions added.

    Subclasses implement :meth:`predict`. ``data_dir`` is declared so the ``csv`` source
    gets it when the wrapper is built outside an app (in tests, the CLI, benchmarks).
    """

    settings = (PluginSetting("data_dir", str, "data",
                              "Folder of CSV market data (relative to the project)."),)

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None, *,
                 source: PipelinePlugin | None = None) -> None:
        super().__init__(config, app_config)
        self._source = source
        self._source_lock = threading.Lock()

    @property
    def source(self) -> PipelinePlugin:
        """The wrapped pipeline, built through the registry on first use."""
        if self._source is None:
            with self._source_lock:
                if self._source is None:
                    name = str(self.config.get("source") or "synthetic")
                    plugin = current_registry().create(
                        "pipeline", name, self.config.get("source_config") or {},
                        _app_settings(self.app_config))
                    assert isinstance(plugin, PipelinePlugin)
                    self._source = plugin
        return self._source

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """The source's snapshot, with this pipeline's predictions."""
        inner = self.source.snapshot(asset, now)
        if inner.candles.empty:
            return inner
        predictions = self.predict(asset, inner, now)
        return MarketSnapshot(symbol=inner.symbol, candles=inner.candles, as_of=inner.as_of,
                              predictions=predictions, history=inner.history)

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """The source's bars (predictions do not change history)."""
        return self.source.bars(asset, start, end)

    @abc.abstractmethod
    def predict(self, asset: AssetInfo, snapshot: MarketSnapshot,
                now: datetime) -> pd.DataFrame | None:
        """Forecast the bars after ``snapshot.candles`` using nothing after ``now``."""
