"""Pipeline ``http_predictions``: a source pipeline's bars plus forecasts from a prediction service.

The service speaks the asynchronous protocol of this family of prediction services:

1. ``POST {url}/api/v1/predict`` with JSON ``{"symbol", "interval", "prediction_horizon",
   "models"}`` is answered ``201`` with ``{"id": ...}`` (a job);
2. ``GET {url}/api/v1/predictions/{id}`` is polled until ``status`` is ``completed``
   (forecasts in ``result.prediction``: one number per step, or objects with ``close``
   or ``value`` and optional ``lower``/``upper`` and ``timestamp``) or ``failed``
   (``error`` says why); ``pending`` and ``running`` mean "ask again".

The optional API key goes in the ``api_key_header`` header (``X-API-Key``); it is a
secret field, stored encrypted and never shown. One snapshot has ``deadline_seconds``
in total for the job; each request may be retried ``retries`` times after a
connection failure, a timeout or a 5xx/429 answer, waiting ``backoff_seconds`` doubled
each time. Anything else (the key refused, ``failed``, a body the schemas below refuse,
the deadline passed) is a :class:`~lts.plugins.base.PluginError` naming the service and
the cause: the engine records it against this asset and the tick goes on for the
others. Answers are cached per (service, symbol, interval, horizon, models, newest bar),
so assets sharing a series ask once per bar.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import marshmallow
import numpy as np
import pandas as pd
import requests
from marshmallow import fields, validate

from lts.plugins.bars import bar_period
from lts.plugins.base import AssetInfo, MarketSnapshot, PluginError
from lts.plugins.pipeline._wrapping import (
    ATTR_MESSAGE,
    ATTR_MODEL,
    ATTR_STATUS,
    WrappedSourceConfig,
    WrappingPipeline,
    forecast_index,
)

CACHE_SIZE = 4096
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpPredictionsConfig(WrappedSourceConfig):
    """Settings of the prediction-service client."""

    url = fields.Url(required=True, require_tld=False, schemes={"http", "https"},
                     metadata={"description": "Base URL of the prediction service "
                                              "(https://predict.example.com)."})
    api_key = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=500),
                            metadata={"description": "API key sent to the service (secret: "
                                                     "stored encrypted, never shown).",
                                      "secret": True})
    api_key_header = fields.String(load_default="X-API-Key",
                                   validate=validate.Regexp(r"^[A-Za-z0-9-]{1,64}$"),
                                   metadata={"description": "Header carrying the API key."})
    models = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                         load_default=lambda: ["arima"], validate=validate.Length(min=1, max=20),
                         metadata={"description": "Model names the service combines."})
    interval = fields.String(load_default=None, allow_none=True,
                             validate=validate.Regexp(r"^\d{1,5}[mhdw]$"),
                             metadata={"description": "Bar interval sent (5m, 1h, 1d); "
                                                      "default: the bars' own period."})
    deadline_seconds = fields.Float(load_default=5.0,
                                    validate=validate.Range(min=0.05, max=600),
                                    metadata={"description": "Total time one snapshot may "
                                                             "wait for the job."})
    request_timeout_seconds = fields.Float(load_default=2.0,
                                           validate=validate.Range(min=0.05, max=120),
                                           metadata={"description": "Timeout of one HTTP "
                                                                    "request."})
    poll_seconds = fields.Float(load_default=0.25, validate=validate.Range(min=0, max=60),
                                metadata={"description": "Wait between two polls of a "
                                                         "pending job."})
    retries = fields.Integer(load_default=2, validate=validate.Range(min=0, max=10),
                             metadata={"description": "Retries of one request after a "
                                                      "connection error, timeout or 5xx."})
    backoff_seconds = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=30),
                                   metadata={"description": "First wait before a retry "
                                                            "(doubled each time)."})


# --------------------------------------------------------------- answer schemas


class _Lenient(marshmallow.Schema):
    """Services may add fields of their own: unknown keys are ignored, not errors."""

    class Meta:
        """Ignore what the protocol does not define."""

        unknown = marshmallow.EXCLUDE


class JobCreated(_Lenient):
    """The 201 answer to ``POST /api/v1/predict``."""

    id = fields.Raw(required=True, validate=lambda v: isinstance(v, str | int)
                    and not isinstance(v, bool) and str(v) != "")


def _step(value: Any) -> bool:
    """One forecast step: a positive number, or an object with ``close`` or ``value``."""
    if isinstance(value, Mapping):
        value = value.get("close", value.get("value"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            np.isfinite(value) and value > 0):
        raise marshmallow.ValidationError(
            "each step must be a positive number or an object with a positive close/value")
    return True


class Result(_Lenient):
    """``result`` of a completed job."""

    prediction = fields.List(fields.Raw(validate=_step), required=True,
                             validate=validate.Length(min=1, max=10_000))


class JobStatus(_Lenient):
    """The answer to ``GET /api/v1/predictions/{id}``."""

    status = fields.String(required=True, validate=validate.OneOf(
        ["pending", "running", "completed", "failed"]))
    result = fields.Nested(Result, allow_none=True, load_default=None)
    error = fields.Raw(allow_none=True, load_default=None)

    @marshmallow.validates_schema
    def _completed_has_result(self, data: dict[str, Any], **_: Any) -> None:
        """A completed job must carry its predictions."""
        if data.get("status") == "completed" and not data.get("result"):
            raise marshmallow.ValidationError("a completed job has no result",
                                              field_name="result")


def _flat(messages: Any) -> str:
    """Marshmallow messages on one line."""
    if isinstance(messages, Mapping):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in messages.items())
    if isinstance(messages, list | tuple):
        return " ".join(_flat(m) for m in messages)
    return str(messages)


def interval_name(period: pd.Timedelta | None) -> str:
    """The protocol's name of a bar period: ``5m``, ``1h``, ``1d``."""
    if period is None:
        raise PluginError("cannot tell the bar interval from fewer than two bars; set "
                          "interval")
    minutes = int(period.total_seconds() // 60)
    if minutes >= 1440 and minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{max(minutes, 1)}m"


# ---------------------------------------------------------------------- client


class PredictionServiceClient:
    """One prediction service: create a job, poll it, return its validated predictions."""

    def __init__(self, config: Mapping[str, Any], *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = str(config["url"]).rstrip("/")
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """A connection pool per thread (a ``requests.Session`` is not thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _error(self, cause: str) -> PluginError:
        """An error naming the service and the cause."""
        return PluginError(f"prediction service {self.url}: {cause}")

    def _headers(self) -> dict[str, str]:
        """The API key header, when a key is set."""
        key = self.config.get("api_key")
        return {str(self.config["api_key_header"]): str(key)} if key else {}

    def predict(self, symbol: str, interval: str) -> list[Any]:
        """Run one job to completion; the raw ``result.prediction`` list."""
        deadline = self.clock() + float(self.config["deadline_seconds"])
        body = {"symbol": symbol, "interval": interval,
                "prediction_horizon": int(self.config["horizon"]),
                "models": list(self.config["models"])}
        created = self._request("POST", "/api/v1/predict", deadline, body)
        if created.status_code != 201:
            raise self._error(f"POST /api/v1/predict answered HTTP {created.status_code}, "
                              f"not 201: {created.text[:200]!r}")
        job_id = str(self._load(JobCreated, created, "POST /api/v1/predict")["id"])
        path = f"/api/v1/predictions/{requests.utils.quote(job_id, safe='')}"
        status = "pending"
        while True:
            answer = self._request("GET", path, deadline)
            if answer.status_code != 200:
                raise self._error(f"GET {path} answered HTTP {answer.status_code}: "
                                  f"{answer.text[:200]!r}")
            job = self._load(JobStatus, answer, f"GET {path}")
            status = job["status"]
            if status == "completed":
                return list(job["result"]["prediction"])
            if status == "failed":
                raise self._error(f"job {job_id} failed: {job.get('error') or 'no reason given'}")
            wait = float(self.config["poll_seconds"])
            if self.clock() + wait >= deadline:
                raise self._error(f"job {job_id} still {status} after the "
                                  f"{self.config['deadline_seconds']} s deadline")
            self.sleep(wait)

    def _load(self, schema: type[marshmallow.Schema], response: requests.Response,
              what: str) -> dict[str, Any]:
        """Validate a JSON answer; a malformed one is an error naming the call."""
        try:
            payload = response.json()
        except ValueError:
            raise self._error(f"{what} answered malformed JSON: "
                              f"{response.text[:200]!r}") from None
        if not isinstance(payload, Mapping):
            raise self._error(f"{what} answered {type(payload).__name__}, not an object")
        try:
            return schema().load(payload)
        except marshmallow.ValidationError as exc:
            raise self._error(f"{what} answered malformed data: {_flat(exc.messages)}"
                              ) from None

    def _request(self, method: str, path: str, deadline: float,
                 body: Mapping[str, Any] | None = None) -> requests.Response:
        """One request, retried after transient failures, within the deadline."""
        retries = int(self.config["retries"])
        cause = "no attempt made"
        for attempt in range(retries + 1):
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise self._error(f"no answer within the {self.config['deadline_seconds']} s "
                                  f"deadline ({cause})")
            timeout = min(float(self.config["request_timeout_seconds"]), remaining)
            try:
                response = self.session.request(method, self.url + path, json=body,
                                                 headers=self._headers(), timeout=timeout)
            except requests.Timeout:
                cause = f"{method} {path} timed out after {timeout:.2f} s"
            except requests.ConnectionError as exc:
                cause = f"{method} {path}: connection failed ({_root_cause(exc)})"
            else:
                if response.status_code in (401, 403):
                    raise self._error(f"the API key was refused (HTTP "
                                      f"{response.status_code} on {method} {path})")
                if response.status_code not in _RETRIED_STATUSES:
                    return response
                cause = f"{method} {path} answered HTTP {response.status_code}"
            if attempt < retries:
                pause = float(self.config["backoff_seconds"]) * 2 ** attempt
                self.sleep(max(0.0, min(pause, deadline - self.clock())))
        raise self._error(f"{cause} ({retries + 1} attempts)")


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests error, short (no URL repeated)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def predictions_frame(steps: list[Any], candles: pd.DataFrame) -> pd.DataFrame:
    """The service's steps as a predictions frame after the newest bar of ``candles``."""
    close = [float(s.get("close", s.get("value"))) if isinstance(s, Mapping) else float(s)
             for s in steps]
    frame = pd.DataFrame({"close": close},
                         index=forecast_index(candles, len(close)))
    for bound in ("lower", "upper"):
        values = [s.get(bound) if isinstance(s, Mapping) else None for s in steps]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            frame[bound] = np.asarray(values, dtype=np.float64)
    return frame


class HttpPredictionsPipeline(WrappingPipeline):
    """Bars from a source pipeline plus forecasts from an external prediction service."""

    name = "http_predictions"
    interface_version = "1.0"
    description = ("Forecasts from an external prediction service (POST a job, poll until "
                   "completed), on another pipeline's bars.")
    config_schema = HttpPredictionsConfig

    def __init__(self, config: Any = None, app_config: Any = None, *, source: Any = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config, app_config, source=source)
        self.client = PredictionServiceClient(self.config, clock=clock, sleep=sleep)
        self._answers: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def predict(self, asset: AssetInfo, snapshot: MarketSnapshot,
                now: datetime) -> pd.DataFrame | None:
        """Ask the service (once per newest bar and series) for the coming bars."""
        candles = snapshot.candles
        interval = self.config.get("interval") or interval_name(bar_period(candles.index))
        key = (asset.symbol, interval, candles.index[-1])
        with self._lock:
            cached = self._answers.get(key)
        if cached is None:
            steps = self.client.predict(asset.symbol, interval)
            cached = predictions_frame(steps, candles)
            cached.attrs.update({ATTR_MODEL: "+".join(self.config["models"]),
                                 ATTR_STATUS: "completed",
                                 ATTR_MESSAGE: f"from {self.client.url}"})
            with self._lock:
                self._answers[key] = cached
                while len(self._answers) > CACHE_SIZE:
                    self._answers.popitem(last=False)
        return cached.copy()
