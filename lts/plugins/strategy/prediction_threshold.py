"""Strategy ``prediction_threshold`` (the default): trade when the forecast moves enough.

The forecast is ``snapshot.predictions`` when the pipeline provides it (the close
forecast ``horizon`` steps ahead, or the furthest one given), else a naive forecast:
the least-squares line through the last ``forecast_window`` closes, extrapolated
``horizon`` bars ahead. With the predicted relative move ``m``:

- no position: open long when ``m > threshold``, short when ``m < -threshold`` (if
  ``allow_short``), with stop loss and take profit from the config; otherwise hold;
- a position: close it on the opposite signal (``m`` beyond ``threshold`` against it),
  otherwise hold.

With ``require_interval``, an opening also needs the forecast's prediction interval
(``lower``/``upper`` columns, as the ``arima`` pipeline gives) to clear the threshold:
the lower bound above it for a long, the upper bound below it for a short. A forecast
without an interval then opens nothing.

The order is a market order with no quantity: the engine sizes it from the allocation.
Stop loss and take profit are distances from the entry, in percent or pips: the decision
gives the levels at the last close with ``exit_anchor`` ``pct`` or ``distance``, and the
engine measures the same distance from the fill price once the order fills, so spread
and slippage never shorten the stop.

The naive forecast comes from :meth:`PredictionThreshold.prepare` (column
``naive_forecast``, one per bar from its own ``forecast_window`` closes): computed once
over the whole series in a backtest, over the last closes live, the same either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.strategy._common import (
    ExitsConfig,
    exit_prices,
    percent,
    prepared_values,
)


class PredictionThresholdConfig(ExitsConfig):
    """Settings of the prediction-threshold strategy."""

    stop_loss = fields.Float(load_default=1.0, allow_none=True, validate=validate.Range(min=0),
                             metadata={"description": "Distance of the stop loss from the "
                                                      "fill price, in sl_tp_unit (0 or "
                                                      "null: none)."})
    take_profit = fields.Float(load_default=2.0, allow_none=True,
                               validate=validate.Range(min=0),
                               metadata={"description": "Distance of the take profit from "
                                                        "the fill price, in sl_tp_unit (0 "
                                                        "or null: none)."})

    threshold = fields.Float(load_default=0.001, validate=validate.Range(min=0),
                             metadata={"description": "Smallest predicted relative move that "
                                                      "opens or closes (0.001 = 0.1%)."})
    forecast_window = fields.Integer(load_default=20, validate=validate.Range(min=2, max=10_000),
                                     metadata={"description": "Closes used by the naive "
                                                              "forecast when there are no "
                                                              "predictions."})
    horizon = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000),
                             metadata={"description": "How many steps ahead the forecast "
                                                      "looks."})
    require_interval = fields.Boolean(
        load_default=False,
        metadata={"description": "Open only when the prediction interval clears the "
                                 "threshold too (lower bound for a long, upper for a short)."})


def naive_forecast(closes: np.ndarray, horizon: int) -> float:
    """Extrapolate the least-squares line through ``closes`` ``horizon`` steps ahead."""
    # Closed-form least squares (np.polyfit is several times slower for one line).
    n = len(closes)
    x = np.arange(n, dtype=np.float64)
    x_mean, y_mean = (n - 1) / 2.0, float(closes.mean())
    slope = float(np.dot(x - x_mean, closes - y_mean) / np.dot(x - x_mean, x - x_mean))
    return y_mean + slope * (n - 1 + horizon - x_mean)


def naive_forecasts(closes: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """:func:`naive_forecast` of the ``window`` closes ending at each bar, all at once.

    NaN for the first ``window - 1`` bars and for windows with a non-finite close. Each
    window is reduced on its own, so a bar's value never depends on the series' start.
    """
    out = np.full(len(closes), np.nan)
    if len(closes) < window:
        return out
    # One window (the live case) is the same row without building a strided view.
    windows = (closes.reshape(1, -1) if len(closes) == window
               else np.lib.stride_tricks.sliding_window_view(closes, window))
    x = np.arange(window, dtype=np.float64)
    centred_x = x - (window - 1) / 2.0
    means = windows.sum(axis=1) / window
    slopes = ((windows - means[:, None]) * centred_x).sum(axis=1) / np.dot(centred_x,
                                                                           centred_x)
    values = means + slopes * (window - 1 + horizon - (window - 1) / 2.0)
    values[~np.isfinite(windows).all(axis=1)] = np.nan
    out[window - 1:] = values
    return out


def _source(predictions: pd.DataFrame) -> str:
    """How the reason names the forecast: its model and, after a failed fit, why."""
    attrs = predictions.attrs
    source = f"{attrs['model']} forecast" if attrs.get("model") else "prediction"
    if attrs.get("fit_status") == "fallback":
        source += f" (fallback: {attrs.get('fit_message') or 'fit failed'})"
    return source


def interval_clears(snapshot: MarketSnapshot, price: float, threshold: float, horizon: int,
                    up: bool) -> str | None:
    """None when the prediction interval clears the threshold; else why it does not."""
    predictions = snapshot.predictions
    bound = "lower" if up else "upper"
    if predictions is None or bound not in predictions or not len(predictions):
        return "no prediction interval to check"
    column = predictions[bound].dropna()
    if not len(column):
        return "no prediction interval to check"
    value = float(column.iloc[min(horizon, len(column)) - 1])
    move = (value - price) / price
    if (up and move > threshold) or (not up and move < -threshold):
        return None
    return f"interval {bound} bound {percent(move)} does not clear the threshold"


class PredictionThreshold(StrategyPlugin):
    """Open when the predicted move exceeds a threshold; close on the opposite signal."""

    name = "prediction_threshold"
    interface_version = "1.0"
    description = ("Opens long/short when the predicted move exceeds a threshold; closes "
                   "on the opposite signal; SL/TP in % or pips.")
    config_schema = PredictionThresholdConfig

    @property
    def prepare_window(self) -> int:  # type: ignore[override]
        """The naive forecast's window of closes."""
        return int(self.config["forecast_window"])

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        """The naive forecast ``horizon`` bars ahead at each bar (column ``naive_forecast``)."""
        closes = candles["close"].to_numpy(dtype=np.float64)
        return pd.DataFrame({"naive_forecast": naive_forecasts(
            closes, int(self.config["forecast_window"]), int(self.config["horizon"]))},
            index=candles.index)

    def quiet(self, candles: pd.DataFrame, prepared: pd.DataFrame) -> np.ndarray | None:
        """Where :meth:`decide` surely holds (see :meth:`StrategyPlugin.quiet`).

        The naive forecast's move against the close, as :meth:`decide` computes it: no
        forecast (or a close <= 0) holds in every state; a long holds without a down
        signal, a short without an up one; a flat asset without a signal it would open
        on (any signal with ``require_interval``: no prediction interval to clear).
        """
        price = candles["close"].to_numpy(dtype=np.float64)
        predicted = prepared["naive_forecast"].to_numpy(dtype=np.float64)
        threshold = float(self.config["threshold"])
        with np.errstate(divide="ignore", invalid="ignore"):
            move = (predicted - price) / price
        blind = ~np.isfinite(predicted) | ~(price > 0)
        up, down = move > threshold, move < -threshold
        opens = up | (down & bool(self.config["allow_short"]))
        if self.config.get("require_interval"):
            opens = np.zeros(len(price), dtype=bool)
        return np.column_stack((blind | ~opens, blind | ~down, blind | ~up))

    def forecast(self, snapshot: MarketSnapshot) -> tuple[float, str] | None:
        """Return the forecast price and where it came from, or None without enough data."""
        horizon = int(self.config["horizon"])
        predictions = snapshot.predictions
        if predictions is not None and "close" in predictions and len(predictions):
            column = predictions["close"].dropna()
            if len(column):
                step = min(horizon, len(column)) - 1
                return float(column.iloc[step]), _source(predictions)
        # A backtest: its arrays, no pandas.
        fast = prepared_values(self, snapshot, 1, ("naive_forecast",))
        stored = self.stored_prepared(snapshot) if fast is None else None
        if fast is not None:
            value = float(fast[-1, 0])
        elif stored is not None:
            value = float(stored["naive_forecast"].iloc[-1])
        else:
            # Live: :meth:`prepare`'s arithmetic on the last window of closes, without the
            # DataFrames around it (they tripled a decision's cost: issue 10's loop bench).
            window = int(self.config["forecast_window"])
            closes = snapshot.candles["close"].to_numpy(dtype=np.float64)[-window:]
            if len(closes) < window:
                return None
            value = float(naive_forecasts(closes, window, horizon)[-1])
        if not np.isfinite(value):
            return None
        return value, "naive forecast"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open, close or hold from the predicted relative move (see the module doc)."""
        if snapshot.candles.empty:
            return Decision.hold("no market data")
        price = snapshot.last_price
        forecast = self.forecast(snapshot)
        if forecast is None or price <= 0:
            return Decision.hold("not enough data for a forecast")
        predicted, source = forecast
        move = (predicted - price) / price
        threshold = float(self.config["threshold"])
        described = f"{source} {percent(move)} vs threshold {percent(threshold)}"
        up, down = move > threshold, move < -threshold

        if position is not None:
            if (position.side == "long" and down) or (position.side == "short" and up):
                return Decision(action="close", reason=f"opposite signal: {described}")
            return Decision.hold(f"keep {position.side}: {described}")

        if allocation <= 0:
            return Decision.hold(f"no capital allocated ({described})")
        if (up or down) and self.config.get("require_interval"):
            cleared = interval_clears(snapshot, price, threshold, int(self.config["horizon"]),
                                      up)
            if cleared is not None:
                return Decision.hold(f"{cleared}: {described}")
        if up or (down and self.config["allow_short"]):
            side = "buy" if up else "sell"
            stop_loss, take_profit = exit_prices(side, price, self.config)
            anchor = "pct" if self.config.get("sl_tp_unit", "pct") == "pct" else "distance"
            return Decision(action="open", side=side, order_type="market",
                            stop_loss=stop_loss, take_profit=take_profit, exit_anchor=anchor,
                            reason=f"open {'long' if up else 'short'}: {described}")
        if down:
            return Decision.hold(f"short signal but shorts are off: {described}")
        return Decision.hold(f"no signal: {described}")
