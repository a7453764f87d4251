"""Strategy decisions: thresholds, forecasts, SL/TP in % and pips, closes, crossovers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from lts.plugins.base import PositionInfo
from lts.plugins.strategy.prediction_threshold import PredictionThreshold, naive_forecast
from lts.plugins.strategy.sma_cross import SmaCross
from lts.testing.base_contract import SAMPLE_NOW, make_snapshot


def predictions(*closes: float) -> pd.DataFrame:
    index = pd.date_range(SAMPLE_NOW + timedelta(minutes=1), periods=len(closes), freq="1min")
    return pd.DataFrame({"close": closes}, index=index)


def flat_with_forecast(last: float, *forecast: float):
    return make_snapshot([last] * 50, predictions=predictions(*forecast))


def holding(side: str) -> PositionInfo:
    return PositionInfo(id=1, asset_id=1, side=side, quantity=1.0,  # type: ignore[arg-type]
                        entry_price=100.0, opened_at=SAMPLE_NOW - timedelta(hours=1))


def test_prediction_above_threshold_opens_long_with_pct_exits():
    decision = PredictionThreshold({"threshold": 0.005}).decide(
        flat_with_forecast(100.0, 101.0), None, 1000.0)
    assert (decision.action, decision.side, decision.order_type) == ("open", "buy", "market")
    assert decision.quantity is None  # the engine sizes it
    assert decision.stop_loss == pytest.approx(99.0)   # 1 % below
    assert decision.take_profit == pytest.approx(102.0)  # 2 % above
    assert "prediction +1.000%" in decision.reason
    assert decision.exit_anchor == "pct"  # the engine measures them from the fill


def test_prediction_below_threshold_opens_short_with_pip_exits():
    strategy = PredictionThreshold({"threshold": 0.001, "sl_tp_unit": "pips",
                                    "stop_loss": 20, "take_profit": 40, "pip_size": 0.0001})
    decision = strategy.decide(flat_with_forecast(1.1, 1.09), None, 1000.0)
    assert (decision.action, decision.side) == ("open", "sell")
    assert decision.stop_loss == pytest.approx(1.1020)
    assert decision.take_profit == pytest.approx(1.0960)
    assert decision.exit_anchor == "distance"  # 20 / 40 pips from the fill


def test_shorts_can_be_turned_off():
    decision = PredictionThreshold({"allow_short": False}).decide(
        flat_with_forecast(100.0, 90.0), None, 1000.0)
    assert decision.action == "hold" and "shorts are off" in decision.reason


def test_small_predicted_move_holds():
    decision = PredictionThreshold({"threshold": 0.01}).decide(
        flat_with_forecast(100.0, 100.5), None, 1000.0)
    assert decision.action == "hold" and "no signal" in decision.reason


def test_opposite_signal_closes_and_same_signal_holds():
    strategy = PredictionThreshold({"threshold": 0.001})
    down, up = flat_with_forecast(100.0, 99.0), flat_with_forecast(100.0, 101.0)
    assert strategy.decide(down, holding("long"), 1000.0).action == "close"
    assert strategy.decide(up, holding("short"), 1000.0).action == "close"
    kept = strategy.decide(up, holding("long"), 1000.0)
    assert kept.action == "hold" and kept.reason.startswith("keep long")
    assert strategy.decide(down, holding("short"), 1000.0).action == "hold"


def test_even_with_shorts_off_a_long_closes_on_a_down_signal():
    strategy = PredictionThreshold({"allow_short": False})
    assert strategy.decide(flat_with_forecast(100.0, 95.0), holding("long"), 1.0).action \
        == "close"


def test_horizon_picks_the_forecast_step():
    snapshot = flat_with_forecast(100.0, 100.0, 100.0, 103.0)
    assert PredictionThreshold({"horizon": 1}).decide(snapshot, None, 1.0).action == "hold"
    assert PredictionThreshold({"horizon": 3}).decide(snapshot, None, 1.0).side == "buy"
    assert PredictionThreshold({"horizon": 9}).decide(snapshot, None, 1.0).side == "buy"


def test_without_predictions_a_naive_trend_forecast_is_used():
    rising = make_snapshot(list(np.linspace(100, 110, 50)))
    decision = PredictionThreshold({"threshold": 0.001}).decide(rising, None, 1000.0)
    assert decision.side == "buy" and "naive forecast" in decision.reason
    assert naive_forecast(np.array([1.0, 2.0, 3.0]), 2) == pytest.approx(5.0)
    falling = make_snapshot(list(np.linspace(110, 100, 50)))
    assert PredictionThreshold({}).decide(falling, None, 1000.0).side == "sell"


def test_not_enough_data_or_no_capital_holds():
    strategy = PredictionThreshold({"forecast_window": 20})
    short_history = make_snapshot(list(np.linspace(100, 110, 5)))
    assert "not enough data" in strategy.decide(short_history, None, 1000.0).reason
    rising = make_snapshot(list(np.linspace(100, 110, 50)))
    assert "no capital" in strategy.decide(rising, None, 0.0).reason


def test_zero_stop_and_target_mean_none():
    decision = PredictionThreshold({"stop_loss": 0, "take_profit": None}).decide(
        flat_with_forecast(100.0, 105.0), None, 1000.0)
    assert decision.action == "open"
    assert decision.stop_loss is None and decision.take_profit is None


def test_sma_cross_in_trend_mode_opens_with_the_regime_and_closes_against_it():
    strategy = SmaCross({"fast": 3, "slow": 8, "entry": "trend", "reverse": False})
    rising = make_snapshot(list(np.linspace(100, 120, 30)))
    falling = make_snapshot(list(np.linspace(120, 100, 30)))
    opened = strategy.decide(rising, None, 1000.0)
    assert (opened.action, opened.side) == ("open", "buy")
    assert opened.stop_loss < rising.last_price < opened.take_profit
    assert strategy.decide(falling, None, 1000.0).side == "sell"
    assert strategy.decide(falling, holding("long"), 1000.0).action == "close"
    assert strategy.decide(rising, holding("long"), 1000.0).action == "hold"
    assert SmaCross({"fast": 3, "slow": 8, "allow_short": False, "entry": "trend"}).decide(
        falling, None, 1000.0).action == "hold"


# A deterministic series: 20 bars falling from 120 to 100, then rising 1 per bar. With
# SMA3/SMA8 the fast average crosses above the slow one at bar CROSS (index 23).
V_SHAPE = list(np.linspace(120, 100, 20)) + [100.0 + k for k in range(1, 21)]
CROSS = 23


def v_until(bar: int):
    """The V series up to and including ``bar``."""
    return make_snapshot(V_SHAPE[:bar + 1])


def test_v_shape_crosses_up_exactly_at_the_cross_bar():
    from lts.plugins.strategy.sma_cross import recent_regimes

    closes = v_until(CROSS).candles["close"]
    assert recent_regimes(closes, 3, 8, 1) == ["short", "long"]
    assert recent_regimes(closes.iloc[:-1], 3, 8, 1) == ["short", "short"]


def test_sma_cross_opens_on_the_cross_bar_only_by_default():
    strategy = SmaCross({"fast": 3, "slow": 8})
    assert strategy.decide(v_until(CROSS - 1), None, 1000.0).action == "hold"
    opened = strategy.decide(v_until(CROSS), None, 1000.0)
    assert (opened.action, opened.side) == ("open", "buy")
    # Flat again a few bars later (a stop or target exit) while the trend goes on:
    # no re-entry until the next cross.
    later = strategy.decide(v_until(CROSS + 3), None, 1000.0)
    assert later.action == "hold" and "no fresh cross" in later.reason


def test_sma_cross_cross_bars_catches_a_cross_between_two_runs():
    strategy = SmaCross({"fast": 3, "slow": 8, "cross_bars": 5})
    assert strategy.decide(v_until(CROSS + 4), None, 1000.0).action == "open"
    assert strategy.decide(v_until(CROSS + 5), None, 1000.0).action == "hold"


def test_sma_cross_trend_mode_re_enters_while_the_trend_persists():
    strategy = SmaCross({"fast": 3, "slow": 8, "entry": "trend"})
    decision = strategy.decide(v_until(CROSS + 3), None, 1000.0)
    assert (decision.action, decision.side) == ("open", "buy")


def test_sma_cross_reverses_in_one_decision_by_default():
    strategy = SmaCross({"fast": 3, "slow": 8})
    decision = strategy.decide(v_until(CROSS), holding("short"), 1000.0)
    assert (decision.action, decision.side) == ("open", "buy")
    assert decision.reason.startswith("reverse to long, cross against short")
    assert decision.stop_loss < V_SHAPE[CROSS] < decision.take_profit


def test_sma_cross_without_reverse_or_shorts_only_closes():
    assert SmaCross({"fast": 3, "slow": 8, "reverse": False}).decide(
        v_until(CROSS), holding("short"), 1000.0).action == "close"
    falling = make_snapshot([*np.linspace(100, 120, 20), 119.0, 110.0, 100.0])
    no_shorts = SmaCross({"fast": 3, "slow": 8, "allow_short": False})
    assert no_shorts.decide(falling, holding("long"), 1000.0).action == "close"
    # A cross long past (no fresh entry) closes without reversing.
    assert SmaCross({"fast": 3, "slow": 8}).decide(
        v_until(CROSS + 3), holding("short"), 1000.0).action == "close"


def test_a_reversal_decision_becomes_a_close_then_an_open_in_one_tick():
    from lts.plugins.base import AssetInfo
    from lts.plugins.broker.paper import PaperBroker
    from lts.plugins.pipeline.synthetic import SyntheticPipeline
    from lts.trading.engine import decide_intents
    from lts.trading.units import AssetUnit

    strategy = SmaCross({"fast": 3, "slow": 8})
    snapshot = v_until(CROSS)
    short = holding("short")
    decision = strategy.decide(snapshot, short, 1000.0)
    info = AssetInfo(id=1, portfolio_id=1, symbol="TEST", name="", allocated_capital=1000.0)
    unit = AssetUnit(info=info, pipeline=SyntheticPipeline(), strategy=strategy,
                     broker=PaperBroker())
    close, open_ = decide_intents(decision, unit, snapshot, [short])
    assert (close.side, close.closes_position_id, close.quantity) == ("buy", short.id, 1.0)
    assert (open_.side, open_.closes_position_id) == ("buy", None)
    assert open_.quantity == 1000.0 // V_SHAPE[CROSS]


def test_sma_cross_needs_slow_bars():
    decision = SmaCross({"fast": 3, "slow": 50}).decide(make_snapshot([1.0] * 10), None, 1.0)
    assert decision.action == "hold" and "needs 50" in decision.reason
