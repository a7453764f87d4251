"""The engine's ``snapshot.history`` loader: bars under a timeout, failures remembered."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from lts.plugins.base import PluginError
from lts.plugins.pipeline.synthetic import SyntheticPipeline
from lts.testing.base_contract import sample_asset
from lts.trading.history import BarsHistory

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
START = NOW - timedelta(hours=1)


class Scripted(SyntheticPipeline):
    """The synthetic pipeline, or a scripted misbehaviour."""

    name = "scripted_for_history_test"

    def __init__(self, behaviour: str = "ok") -> None:
        super().__init__()
        self.behaviour = behaviour
        self.release = threading.Event()

    def bars(self, asset, start, end):  # type: ignore[no-untyped-def]
        if self.behaviour == "raise":
            raise PluginError("feed down")
        if self.behaviour == "hang":
            self.release.wait(5)
        if self.behaviour == "not_a_frame":
            return [1, 2, 3]
        if self.behaviour == "no_low":
            return super().bars(asset, start, end).drop(columns=["low"])
        if self.behaviour == "peeks":
            return super().bars(asset, start, end + timedelta(hours=1))
        return super().bars(asset, start, end)


def loader(pipeline: Scripted, timeout: float = 5.0) -> BarsHistory:
    return BarsHistory(None, None, pipeline, sample_asset(), NOW,  # type: ignore[arg-type]
                       timeout)


def test_bars_are_loaded_and_never_reach_past_the_tick():
    history = loader(Scripted("peeks"))
    try:
        bars = history(START, NOW + timedelta(hours=1))  # asked beyond the tick: capped
    finally:
        history.close()
    assert bars.index[0] == pd.Timestamp(START) and bars.index[-1] < pd.Timestamp(NOW)
    assert len(bars) == 60 and history.warnings == ()


@pytest.mark.parametrize(("behaviour", "said"), [
    ("raise", "feed down"),
    ("not_a_frame", "returned list, not a DataFrame"),
    ("no_low", "returned bars without low"),
])
def test_bars_that_cannot_be_had_are_remembered_and_raise_plugin_error(behaviour, said):
    history = loader(Scripted(behaviour))
    try:
        with pytest.raises(PluginError, match="could not be checked"):
            history(START, NOW)
    finally:
        history.close()
    (warning,) = history.warnings
    assert warning.startswith(f"bars from {START.isoformat()} to {NOW.isoformat()}")
    assert said in warning


def test_a_hanging_pipeline_times_out_and_is_remembered():
    pipeline = Scripted("hang")
    history = loader(pipeline, timeout=0.05)
    try:
        with pytest.raises(PluginError):
            history(START, NOW)
    finally:
        pipeline.release.set()
        history.close()
    assert "timed out" in history.warnings[0]
