"""Loading backtest bars: range, gaps reported not filled, bad rows and empty ranges named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lts.backtest.data import load_bars
from lts.errors import ValidationFailed

START = datetime(2026, 1, 5, tzinfo=UTC)


def write(path, hours, close=1.1):
    """A CSV of hourly bars at the given hours of 2026-01-05 (UTC)."""
    rows = ["time,open,high,low,close,volume"]
    rows += [f"2026-01-05T{h:02d}:00:00Z,{close},{close + 0.01},{close - 0.01},{close},1"
             for h in hours]
    path.write_text("\n".join(rows) + "\n")


def test_range_keeps_bars_stamped_from_start_to_before_end(tmp_path):
    write(tmp_path / "EUR_USD.csv", range(10))
    data = load_bars(tmp_path, ["EUR/USD"], START.replace(hour=2), START.replace(hour=6))
    frame = data.bars["EUR/USD"]
    assert [t.hour for t in frame.index] == [2, 3, 4, 5]
    assert data.period.total_seconds() == 3600
    assert [t.hour for t in data.ticks()] == [3, 4, 5, 6]  # each bar's end
    assert data.gaps == ()


def test_gaps_are_reported_and_not_filled(tmp_path):
    write(tmp_path / "AAA.csv", [0, 1, 2, 6, 7, 9])
    data = load_bars(tmp_path, ["AAA"], START, START.replace(hour=12))
    assert len(data.bars["AAA"]) == 6  # nothing invented
    assert [(g.after.hour, g.before.hour, g.missing_bars) for g in data.gaps] == [
        (2, 6, 3), (7, 9, 1)]
    assert "AAA: 3 bar(s) missing between 2026-01-05T02:00:00+00:00" in data.gaps[0].describe()


def test_bad_row_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "AAA.csv"
    write(path, range(4))
    lines = path.read_text().splitlines()
    lines[3] = "2026-01-05T02:00:00Z,1.1,1.11,1.09,oops,1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationFailed) as caught:
        load_bars(tmp_path, ["AAA"], START, START.replace(hour=12))
    message = caught.value.fields["--data-dir"][0]
    assert "AAA.csv line 4" in message and "close" in message


def test_empty_range_is_a_clear_error(tmp_path):
    write(tmp_path / "AAA.csv", range(4))
    with pytest.raises(ValidationFailed) as caught:
        load_bars(tmp_path, ["AAA"], START.replace(hour=10), START.replace(hour=12))
    assert "no bar of AAA" in caught.value.fields["--from"][0]
    with pytest.raises(ValidationFailed) as caught:
        load_bars(tmp_path, ["AAA"], START.replace(hour=3), START.replace(hour=3))
    assert "--to" in caught.value.fields


def test_missing_file_names_the_data_dir(tmp_path):
    with pytest.raises(ValidationFailed) as caught:
        load_bars(tmp_path, ["ZZZ"], START, START.replace(hour=3))
    assert "ZZZ.csv does not exist" in caught.value.fields["--data-dir"][0]
