"""`flask lts predict` and `flask lts data concat` on real price files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lts.cli import lts

PRICES = Path(__file__).resolve().parents[1] / "data" / "prices"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_predict_prints_a_forecast_with_its_interval(runner):
    result = runner.invoke(lts, ["predict", "--csv", str(PRICES / "AAPL.csv"),
                                 "--horizon", "3", "--order", "1,1,0", "--window", "60"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("AAPL.csv 2010-03-29T00:00:00Z +1 ")  # 28 days: Feb's step
    assert "ARIMA(1,1,0)" in lines[0] and "[" in lines[0]


def test_predict_writes_many_files_as_csv_and_reports_a_bad_one(runner, tmp_path: Path):
    bad = write(tmp_path, "BAD.csv", "timestamp,open,high,low,close\n2024-01-01,1,2,0.5,x\n")
    out = tmp_path / "forecasts.csv"
    result = runner.invoke(lts, ["predict", "--csv", str(PRICES / "AAPL.csv"),
                                 "--csv", str(PRICES / "MSFT.csv"), "--csv", str(bad),
                                 "--horizon", "2", "--out", str(out)])
    assert result.exit_code == 1
    assert f"Error: {bad}: BAD.csv line 2" in result.output
    table = pd.read_csv(out)
    assert table["file"].tolist() == ["AAPL.csv", "AAPL.csv", "MSFT.csv", "MSFT.csv"]
    assert set(table.columns) >= {"timestamp", "step", "close", "lower", "upper", "status"}
    assert (table["lower"] <= table["close"]).all() and (table["close"] <= table["upper"]).all()


def test_predict_falls_back_and_says_why(runner, tmp_path: Path):
    flat = "timestamp,open,high,low,close\n" + "".join(
        f"2024-01-{day:02d},5,5,5,5\n" for day in range(1, 31))
    result = runner.invoke(lts, ["predict", "--csv", str(write(tmp_path, "F.csv", flat)),
                                 "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "fallback: ARIMA(1,1,1) fit did not converge" in result.output


def test_predict_refuses_a_bad_order(runner):
    result = runner.invoke(lts, ["predict", "--csv", str(PRICES / "AAPL.csv"),
                                 "--horizon", "1", "--order", "1,x"])
    assert result.exit_code == 2 and "--order" in result.output


def test_concat_merges_removes_duplicates_and_reports_conflicts_and_gaps(runner,
                                                                         tmp_path: Path):
    first = write(tmp_path, "a.csv", "timestamp,open,high,low,close,volume\n"
                                     "2024-01-01T10:00:00Z,1,2,0.5,1.5,10\n"
                                     "2024-01-01T10:01:00Z,1.5,2,1,1.8,10\n"
                                     "2024-01-01T10:02:00Z,1.8,2,1,1.9,10\n")
    second = write(tmp_path, "b.csv", "timestamp,open,high,low,close,volume\n"
                                      "2024-01-01T10:02:00Z,1.8,2,1,1.9,10\n"
                                      "2024-01-01T10:01:00Z,1.5,2,1,1.7,10\n"
                                      "2024-01-01T10:06:00Z,1.9,2,1,2.0,10\n")
    out = tmp_path / "merged.csv"
    result = runner.invoke(lts, ["data", "concat", str(first), str(second), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 bars from 2 file(s)" in result.output
    assert "1 duplicate row(s) removed" in result.output
    assert "1 conflicting rows:" in result.output
    assert ("2024-01-01T10:01:00+00:00: a.csv has close 1.8, b.csv has close 1.7 (kept a.csv)"
            in result.output)
    assert "1 gaps:" in result.output
    assert "2024-01-01T10:02:00+00:00 -> 2024-01-01T10:06:00+00:00" in result.output
    merged = pd.read_csv(out)
    assert merged["timestamp"].tolist() == ["2024-01-01T10:00:00Z", "2024-01-01T10:01:00Z",
                                            "2024-01-01T10:02:00Z", "2024-01-01T10:06:00Z"]
    assert merged["close"].tolist() == [1.5, 1.8, 1.9, 2.0]


def test_concat_names_the_bad_file_and_line(runner, tmp_path: Path):
    bad = write(tmp_path, "bad.csv", "timestamp,open,high,low,close\nnope,1,2,0.5,1\n")
    result = runner.invoke(lts, ["data", "concat", str(bad), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "bad.csv line 2" in result.output
