"""Pipeline ``arima``: another pipeline's bars plus a statsmodels ARIMA forecast of the closes.

The model ARIMA(p, d, q) (optionally seasonal) is fitted on the last ``window`` closes
complete at ``now`` and forecasts the next ``horizon`` bars, with a prediction interval
(``lower``/``upper``) at ``interval_level``. Only bars the source returned for ``now``
are used, so a forecast never sees a price from after ``now``.

Fitting costs tens of milliseconds to seconds, a tick must not pay that for unchanged
data, and many assets often trade one series (the same symbol in several portfolios).
So forecasts are cached by (series, newest bar time, parameters) in one process-wide
:class:`ArimaCache`: every asset on the same series and parameters gets the same
forecast for a bar, computed once. The model is refitted only every ``refit_every`` new
bars; in between, the fitted parameters are applied to the window with the new closes
appended (a Kalman filter pass, no optimisation).

A fit that raises, does not converge, or forecasts a non-finite or non-positive price
falls back to a naive forecast (the last close, with an interval from the spread of
recent bar-to-bar changes). The frame's ``attrs`` say so (``fit_status`` ``fallback``
and why); the first fallback snapshot of an asset in a row of them is marked
``fallback_started`` so the engine audits it once per episode, not every tick. A failed
series is fitted again at the next refit point, not on every bar.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.base import AssetInfo, MarketSnapshot
from lts.plugins.pipeline._wrapping import (
    ATTR_MESSAGE,
    ATTR_MODEL,
    ATTR_STATUS,
    FALLBACK,
    EpisodeTracker,
    WrappedSourceConfig,
    WrappingPipeline,
    forecast_index,
    series_key,
    source_lookback_check,
)

#: Most forecasts and fitted models kept (least recently used dropped first).
CACHE_SIZE = 4096
FITTED, UPDATED = "fitted", "updated"


class ArimaConfig(WrappedSourceConfig):
    """Settings of the ARIMA forecast (and of the pipeline it wraps)."""

    order = fields.List(fields.Integer(validate=validate.Range(min=0, max=10)),
                        load_default=lambda: [1, 1, 1], validate=validate.Length(equal=3),
                        metadata={"description": "ARIMA order [p, d, q]."})
    seasonal_order = fields.List(
        fields.Integer(validate=validate.Range(min=0, max=1000)), load_default=None,
        allow_none=True, validate=validate.Length(equal=4),
        metadata={"description": "Seasonal order [P, D, Q, s] (null: none)."})
    trend = fields.String(load_default="auto",
                          validate=validate.OneOf(["auto", "n", "c", "t", "ct"]),
                          metadata={"description": "Trend term: n none, c constant, t drift, "
                                                   "ct both; auto: c when d=0, t when d=1."})
    window = fields.Integer(load_default=200, validate=validate.Range(min=20, max=20_000),
                            metadata={"description": "Closes the model is fitted on."})
    refit_every = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100_000),
                                 metadata={"description": "Refit after this many new bars; "
                                                          "in between, new closes update "
                                                          "the fitted model."})
    interval_level = fields.Float(load_default=0.8,
                                  validate=validate.Range(min=0.5, max=0.999),
                                  metadata={"description": "Coverage of the prediction "
                                                           "interval (0.8 = 80%)."})
    maxiter = fields.Integer(load_default=50, validate=validate.Range(min=1, max=10_000),
                             metadata={"description": "Most optimiser iterations of a fit; "
                                                      "no convergence falls back."})

    def check_loaded(self, data: dict[str, Any]) -> None:
        """The model needs ``window`` bars: the source must return that many."""
        source_lookback_check(data, int(data.get("window", 200)), "window")


@dataclass(frozen=True)
class ArimaParams:
    """The parameters that make two forecasts of one series the same."""

    order: tuple[int, int, int] = (1, 1, 1)
    seasonal_order: tuple[int, int, int, int] | None = None
    trend: str = "auto"
    window: int = 200
    horizon: int = 5
    refit_every: int = 20
    interval_level: float = 0.8
    maxiter: int = 50

    @classmethod
    def from_config(cls, config: Any) -> ArimaParams:
        """Build from a validated :class:`ArimaConfig`."""
        seasonal = config.get("seasonal_order")
        return cls(order=tuple(int(v) for v in config["order"]),  # type: ignore[arg-type]
                   seasonal_order=tuple(int(v) for v in seasonal) if seasonal else None,
                   trend=str(config["trend"]), window=int(config["window"]),
                   horizon=int(config["horizon"]), refit_every=int(config["refit_every"]),
                   interval_level=float(config["interval_level"]),
                   maxiter=int(config["maxiter"]))

    @property
    def label(self) -> str:
        """``ARIMA(1,1,1)`` or ``SARIMA(1,1,1)(1,0,0,12)``."""
        base = "ARIMA({},{},{})".format(*self.order)
        if self.seasonal_order:
            return "S" + base + "({},{},{},{})".format(*self.seasonal_order)
        return base

    def statsmodels_trend(self) -> str:
        """The trend statsmodels accepts for this order (none below the differencing)."""
        if self.trend != "auto":
            return self.trend
        integration = self.order[1] + (self.seasonal_order[1] if self.seasonal_order else 0)
        return {0: "c", 1: "t"}.get(integration, "n")

    def min_bars(self) -> int:
        """Fewest closes a fit is tried on."""
        p, d, q = self.order
        extra = 0
        if self.seasonal_order:
            big_p, big_d, big_q, season = self.seasonal_order
            extra = (big_p + big_q) * season + big_d * season
        return max(20, 3 * (p + q) + d + extra + 10)


class FitFailed(Exception):
    """The model could not be fitted or forecast nonsense; the message says why."""


def _model(closes: np.ndarray, params: ArimaParams) -> Any:
    """The statsmodels ARIMA of ``params`` on ``closes`` (not fitted)."""
    from statsmodels.tsa.arima.model import ARIMA

    return ARIMA(closes, order=params.order,
                 seasonal_order=params.seasonal_order or (0, 0, 0, 0),
                 trend=params.statsmodels_trend())


def fit_arima(closes: np.ndarray, params: ArimaParams) -> Any:
    """Fit the model on ``closes``; raise :class:`FitFailed` when it fails or does not converge.

    statsmodels reports non-convergence as a warning, caught here (never left to the
    caller's warning filters).
    """
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if len(closes) < params.min_bars():
        raise FitFailed(f"only {len(closes)} bars; {params.label} needs {params.min_bars()}")
    if not np.all(np.isfinite(closes)):
        raise FitFailed("the closes hold NaN or infinite values")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = _model(closes, params).fit(method_kwargs={"maxiter": params.maxiter})
    except Exception as exc:  # statsmodels raises many kinds (LinAlgError, ValueError...)
        raise FitFailed(f"{params.label} fit failed: {exc}") from exc
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        raise FitFailed(f"{params.label} fit did not converge in {params.maxiter} iterations")
    return results


def update_arima(fitted: np.ndarray, closes: np.ndarray, params: ArimaParams) -> Any:
    """The fitted parameters run over new ``closes``: a Kalman filter pass, no optimisation.

    Only the parameters are kept between bars (a results object holds every state of
    the window, megabytes per series), so this rebuilds the model on the window.
    """
    if not np.all(np.isfinite(closes)):
        raise FitFailed("the closes hold NaN or infinite values")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _model(closes, params).filter(fitted)
    except Exception as exc:  # a window the fitted model cannot filter
        raise FitFailed(f"updating the fitted model failed: {exc}") from exc


def model_forecast(results: Any, steps: int, level: float) -> tuple[np.ndarray, ...]:
    """Mean, lower and upper bounds of the next ``steps`` values; FitFailed on nonsense."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecast = results.get_forecast(steps)
            mean = np.asarray(forecast.predicted_mean, dtype=np.float64)
            bounds = np.asarray(forecast.conf_int(alpha=1.0 - level), dtype=np.float64)
    except Exception as exc:
        raise FitFailed(f"forecasting failed: {exc}") from exc
    if not (np.all(np.isfinite(mean)) and np.all(mean > 0)):
        raise FitFailed("the model forecast a non-finite or non-positive price")
    return mean, bounds[:, 0], bounds[:, 1]


def naive_forecast(closes: np.ndarray, steps: int, level: float) -> tuple[np.ndarray, ...]:
    """The last close for every step, with a random-walk interval from recent changes."""
    from scipy.stats import norm

    last = float(closes[-1])
    changes = np.diff(closes[np.isfinite(closes)])
    spread = float(np.std(changes)) if len(changes) > 1 else 0.0
    width = norm.ppf(0.5 + level / 2.0) * spread * np.sqrt(np.arange(1, steps + 1))
    mean = np.full(steps, last)
    return mean, mean - width, mean + width


@dataclass
class Forecast:
    """One series' forecast for one newest bar."""

    frame: pd.DataFrame
    status: str
    message: str = ""


@dataclass
class _Model:
    """The fitted model of one (series, parameters), and the newest bar it has seen."""

    params: np.ndarray | None  # the fitted parameters (None: the fit failed)
    last_time: pd.Timestamp
    age: int  # bars since the fit
    message: str = ""


@dataclass
class CacheStats:
    """Counters: what the cache saved and what it cost."""

    fits: int = 0
    updates: int = 0
    hits: int = 0
    fallbacks: int = 0
    fit_seconds: float = 0.0


class ArimaCache:
    """Forecasts by (series, newest bar time, parameters), and fitted models by series.

    Thread-safe; one lock per (series, parameters), so two assets on one series wait
    for one fit rather than doing it twice, and other series go on meanwhile.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.stats = CacheStats()
        self._forecasts: OrderedDict[tuple[Any, ...], Forecast] = OrderedDict()
        self._models: OrderedDict[tuple[Any, ...], _Model] = OrderedDict()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every forecast, model and counter (tests, benchmarks)."""
        with self._lock:
            self._forecasts.clear()
            self._models.clear()
            self._locks.clear()
            self.stats = CacheStats()

    def forecast(self, series: tuple[str, ...], candles: pd.DataFrame,
                 params: ArimaParams) -> Forecast:
        """The forecast after the newest bar of ``candles``: cached, updated or fitted."""
        import time

        last = candles.index[-1]
        key = (series, last, params)
        with self._lock:
            cached = self._get(self._forecasts, key)
            if cached is not None:
                self.stats.hits += 1
                return cached
            lock = self._locks.setdefault((series, params), threading.Lock())
        with lock:
            with self._lock:
                cached = self._get(self._forecasts, key)
                if cached is not None:
                    self.stats.hits += 1
                    return cached
                model = self._get(self._models, (series, params))
            closes = candles["close"].to_numpy(dtype=np.float64)[-params.window:]
            new_bars = _bars_after(candles, model.last_time) if model is not None else None
            refit = (model is None or new_bars is None
                     or model.age + new_bars >= params.refit_every)
            status, message = FITTED, ""
            results = None
            if refit:
                _load_statsmodels()  # its first import (seconds) is no fit's cost
            started = time.perf_counter()
            try:
                if refit:
                    with self._lock:
                        self.stats.fits += 1
                    results = fit_arima(closes, params)
                    age = 0
                else:
                    assert model is not None and new_bars is not None
                    age = model.age + new_bars
                    if model.params is None:
                        raise FitFailed(model.message)  # wait for the next refit point
                    with self._lock:
                        self.stats.updates += 1
                    results = update_arima(model.params, closes, params)
                    status = UPDATED
                mean, lower, upper = model_forecast(results, params.horizon,
                                                    params.interval_level)
            except FitFailed as exc:
                status, message = FALLBACK, str(exc)
                results = None
                mean, lower, upper = naive_forecast(closes, params.horizon,
                                                    params.interval_level)
            if refit:
                with self._lock:
                    self.stats.fit_seconds += time.perf_counter() - started
            if status == FALLBACK and refit:
                age = 0
            frame = pd.DataFrame({"close": mean, "lower": lower, "upper": upper},
                                 index=forecast_index(candles, params.horizon))
            frame.attrs.update({ATTR_MODEL: params.label, ATTR_STATUS: status,
                                ATTR_MESSAGE: message})
            result = Forecast(frame=frame, status=status, message=message)
            if refit:  # a new fit's parameters, or none after a failed one
                fitted = np.asarray(results.params) if status != FALLBACK else None
            else:  # an update never changes the fitted parameters
                assert model is not None
                fitted = model.params
            with self._lock:
                if status == FALLBACK:
                    self.stats.fallbacks += 1
                self._put(self._models, (series, params),
                          _Model(params=fitted, last_time=last, age=age, message=message))
                self._put(self._forecasts, key, result)
            return result

    def _get(self, items: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...]) -> Any:
        """LRU read (caller holds ``_lock``)."""
        value = items.get(key)
        if value is not None:
            items.move_to_end(key)
        return value

    def _put(self, items: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...],
             value: Any) -> None:
        """LRU write (caller holds ``_lock``)."""
        items[key] = value
        items.move_to_end(key)
        while len(items) > self.size:
            items.popitem(last=False)


def _load_statsmodels() -> None:
    """Import statsmodels' ARIMA (late: LTS starts without paying for it)."""
    import statsmodels.tsa.arima.model  # noqa: F401


def _bars_after(candles: pd.DataFrame, moment: pd.Timestamp) -> int | None:
    """How many bars of ``candles`` are newer than ``moment`` (None: it went back in time)."""
    if moment > candles.index[-1]:
        return None
    return len(candles) - int(candles.index.searchsorted(moment, side="right"))


#: The process's forecasts, shared by every asset and pipeline instance.
CACHE = ArimaCache()
_episodes = EpisodeTracker()


class ArimaPipeline(WrappingPipeline):
    """Bars from a source pipeline plus an ARIMA forecast of the next closes."""

    name = "arima"
    interface_version = "1.0"
    description = ("ARIMA forecast (statsmodels) of the next bars of another pipeline, "
                   "with a prediction interval; cached and refitted every N bars.")
    config_schema = ArimaConfig

    def __init__(self, config: Any = None, app_config: Any = None, *,
                 source: Any = None, cache: ArimaCache | None = None) -> None:
        super().__init__(config, app_config, source=source)
        self.params = ArimaParams.from_config(self.config)
        self.cache = cache or CACHE

    def predict(self, asset: AssetInfo, snapshot: MarketSnapshot,
                now: datetime) -> pd.DataFrame | None:
        """The cached or computed forecast after the snapshot's newest bar."""
        if len(snapshot.candles) < 2:
            return None
        series = series_key(self.config, asset.symbol)
        forecast = self.cache.forecast(series, snapshot.candles, self.params)
        frame = forecast.frame.copy()  # a strategy may write to it; the cache stays intact
        _episodes.mark(frame, (asset.id, series, self.params),
                       forecast.status == FALLBACK)
        return frame
