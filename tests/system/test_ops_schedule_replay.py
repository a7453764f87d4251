"""The replay the 4-worker test relies on catches a double run and a lost interval."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.system.test_ops_scale import schedule_problems

T0 = datetime(2026, 1, 5, 9, 30)


def _ticks(count: int) -> list[datetime]:
    return [T0 + timedelta(seconds=0.5 * i) for i in range(count)]


def _steps(times: list[datetime], portfolio: int = 1, assets: int = 1) -> list:
    return [(portfolio, 10 + a, t, 99) for t in times for a in range(assets)]


def test_one_run_per_interval_passes():
    ticks = _ticks(9)
    assert schedule_problems(ticks, _steps(ticks[::2], assets=2), {1: 2}) == []


def test_a_run_in_the_same_interval_is_caught():
    ticks = _ticks(5)
    problems = schedule_problems(ticks, _steps([ticks[0], ticks[1], ticks[3]]), {1: 1})
    assert any("due=False, ran=True" in p for p in problems), problems


def test_a_lost_interval_is_caught():
    ticks = _ticks(7)
    problems = schedule_problems(ticks, _steps([ticks[0], ticks[2], ticks[6]]), {1: 1})
    assert any("due=True, ran=False" in p for p in problems), problems


def test_an_asset_stepped_twice_in_one_run_is_caught():
    ticks = _ticks(3)
    steps = [*_steps([ticks[0], ticks[2]]), (1, 10, ticks[2], 98)]
    assert schedule_problems(ticks, steps, {1: 1}) == [
        f"portfolio 1 stepped 2 asset(s) at {ticks[2]}, not 1"]


def test_a_manual_order_snapshot_off_the_ticks_is_not_a_run():
    ticks = _ticks(3)
    steps = [*_steps([ticks[0], ticks[2]]), (1, 10, ticks[1] + timedelta(seconds=0.1), 5)]
    assert schedule_problems(ticks, steps, {1: 1}) == []
