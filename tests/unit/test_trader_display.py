"""Pure helpers of the trader pages: log tails, number and duration formats, heat levels,
preference checks and exit-reason filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lts.errors import ValidationFailed
from lts.services import logs_view, preferences
from lts.services.exports import cell
from lts.services.performance import heat_level, heatmap, period_start
from lts.services.trades import parse_filters
from lts.web import display


def test_tail_reads_only_the_end_and_drops_the_cut_line(tmp_path: Path):
    log = tmp_path / "big.log"
    log.write_text("".join(f'{{"n": {i}, "pad": "{"x" * 90}"}}\n' for i in range(5000)))
    lines = logs_view.tail_lines(log, 10)
    assert [line.split(",")[0] for line in lines] == [f'{{"n": {i}' for i in range(4990, 5000)]
    bounded = logs_view.tail_lines(log, 5000, max_bytes=64 * 1024)
    assert 0 < len(bounded) < 700  # ~64 KiB of ~100-byte lines, the first (cut) one dropped
    assert bounded[-1].startswith('{"n": 4999')


def test_log_filters_are_checked_together():
    with pytest.raises(ValidationFailed) as caught:
        logs_view.check_filters("loud", "x" * 201, 0)
    assert set(caught.value.fields) == {"level", "request_id", "limit"}
    assert logs_view.check_filters("warning", " r1 ", None) == ("WARNING", "r1", 200)


def test_numbers_and_durations_outside_a_request_use_the_defaults():
    assert display.number(-1234.5) == "-1,234.50"
    assert display.number(1234.5, 1, signed=True) == "+1,234.5"
    assert display.percent(0.125) == "12.50 %"
    assert display.duration(3 * 86_400 + 4 * 3600 + 5 * 60) == "3 d 4 h 05 m"
    assert display.duration(125) == "2 m 05 s"
    assert display.number(None) == "" and display.duration(None) == ""
    moment = datetime(2026, 12, 3, 16, 5, tzinfo=UTC)
    assert str(display.localtime(moment)) == (
        '<time datetime="2026-12-03T16:05:00+00:00" title="2026-12-03 16:05:00 UTC">'
        "2026-12-03 16:05 UTC</time>")


@pytest.mark.parametrize(("pnl", "largest", "level"), [
    (0.0, 10.0, 0), (10.0, 10.0, 4), (-10.0, 10.0, -4), (2.4, 10.0, 1), (2.6, 10.0, 2),
    (-5.0, 10.0, -2), (3.0, 0.0, 0)])
def test_heat_levels_are_quarters_of_the_largest_day(pnl, largest, level):
    assert heat_level(pnl, largest) == level


def test_heat_map_ends_on_the_week_of_today():
    grid = heatmap([], date(2026, 12, 3), weeks=2)  # a Thursday
    assert grid[0][0].day == date(2026, 11, 23) and grid[-1][-1].day == date(2026, 12, 6)
    assert [c.future for c in grid[-1]] == [False] * 4 + [True] * 3


def test_periods_start_on_monday_and_the_first_of_the_month():
    moment = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert period_start(moment, UTC, "week") == date(2026, 11, 30)
    assert period_start(moment, UTC, "month") == date(2026, 12, 1)


def test_preferences_name_every_bad_field():
    with pytest.raises(ValidationFailed) as caught:
        preferences.check("Mars/Olympus", "xx")
    assert set(caught.value.fields) == {"time_zone", "number_format"}
    assert preferences.check("Europe/Paris", "fr").time_zone == "Europe/Paris"


def test_trade_filters_read_days_in_the_viewers_zone_and_name_bad_fields():
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    filters = parse_filters({"date_from": "2026-12-03", "date_to": "2026-12-03"}, paris)
    assert filters.since == datetime(2026, 12, 3, tzinfo=paris)
    assert filters.until == datetime(2026, 12, 4, tzinfo=paris)
    with pytest.raises(ValidationFailed) as caught:
        parse_filters({"portfolio_id": "x", "side": "up", "reason": "luck",
                       "date_from": "2026-12-05", "date_to": "2026-12-01"})
    assert set(caught.value.fields) == {"portfolio_id", "side", "reason", "date_to"}


def test_csv_cells_defuse_formulas_but_keep_negative_numbers():
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("-x") == "'-x"
    assert cell(-3.5) == -3.5 and cell(None) == ""
