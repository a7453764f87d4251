"""prediction_threshold on forecasts with an interval (arima) and a fit status."""

from __future__ import annotations

import pandas as pd

from lts.plugins.strategy.prediction_threshold import PredictionThreshold
from lts.testing.base_contract import make_snapshot


def with_forecast(close: float, lower: float | None, upper: float | None,
                  **attrs: str) -> object:
    snapshot = make_snapshot([100.0] * 30)
    index = pd.DatetimeIndex([snapshot.candles.index[-1] + pd.Timedelta(minutes=1)])
    frame = pd.DataFrame({"close": [close]}, index=index)
    if lower is not None:
        frame["lower"], frame["upper"] = [lower], [upper]
    frame.attrs.update(attrs)
    return make_snapshot([100.0] * 30, predictions=frame)


def test_require_interval_opens_only_when_the_interval_clears_the_threshold():
    strict = PredictionThreshold({"threshold": 0.01, "require_interval": True})
    loose = PredictionThreshold({"threshold": 0.01})
    wide = with_forecast(103.0, 99.0, 107.0)  # the point clears 1%, the interval does not
    assert loose.decide(wide, None, 1000.0).side == "buy"
    held = strict.decide(wide, None, 1000.0)
    assert held.action == "hold"
    assert "interval lower bound -1.000% does not clear the threshold" in held.reason
    narrow = with_forecast(103.0, 101.5, 104.5)
    assert strict.decide(narrow, None, 1000.0).side == "buy"
    falling = with_forecast(97.0, 95.5, 98.5)
    assert strict.decide(falling, None, 1000.0).side == "sell"


def test_require_interval_without_an_interval_opens_nothing():
    decision = PredictionThreshold({"threshold": 0.01, "require_interval": True}).decide(
        with_forecast(103.0, None, None), None, 1000.0)
    assert decision.action == "hold" and "no prediction interval" in decision.reason


def test_the_reason_names_the_model_and_a_fallback():
    fitted = PredictionThreshold({"threshold": 0.01}).decide(
        with_forecast(103.0, 101.0, 105.0, model="ARIMA(1,1,1)", fit_status="fitted"),
        None, 1000.0)
    assert "ARIMA(1,1,1) forecast +3.000%" in fitted.reason
    fallback = PredictionThreshold({"threshold": 0.01}).decide(
        with_forecast(100.0, 99.0, 101.0, model="ARIMA(1,1,1)", fit_status="fallback",
                      fit_message="fit did not converge"), None, 1000.0)
    assert "ARIMA(1,1,1) forecast (fallback: fit did not converge)" in fallback.reason
