"""``flask lts backtest`` and ``flask lts data fetch``: reports, files, clear errors, and
never a write to the live database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select

from lts.cli import lts
from lts.models import Asset, AuditLog, Order, Portfolio, Position, User
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.integration.test_backtest_runner import v_shape

TABLES = (User, Portfolio, Asset, Order, Position, AuditLog)


def counts(db):
    """Rows of every live table a backtest could touch."""
    from lts.models.paper import PaperOrder

    return {t.__name__: db.session.scalar(select(func.count()).select_from(t))
            for t in (*TABLES, PaperOrder)}


@pytest.fixture
def portfolio(db):
    """A live portfolio with one sma_cross asset on AAA."""
    owner = gen_user("alice")
    stored = gen_portfolio(owner, "FX", total_capital=1000.0)
    gen_asset(stored, "AAA", strategy_plugin="sma_cross",
              strategy_config={"fast": 3, "slow": 8, "stop_loss": 1.0, "take_profit": 0})
    return stored


def test_backtest_of_a_stored_portfolio_prints_and_writes_the_report(runner, db, portfolio,
                                                                     tmp_path):
    v_shape(tmp_path)
    before = counts(db)
    out = tmp_path / "out"
    done = runner.invoke(lts, ["backtest", "--portfolio", str(portfolio.id), "--from",
                               "2026-01-05", "--to", "2026-01-07", "--data-dir",
                               str(tmp_path), "--out", str(out), "--walk-forward", "2"])
    assert done.exit_code == 0, done.output
    assert "total_return" in done.output and "window 2" in done.output
    assert "bars" in done.stderr  # the progress bar
    report = json.loads((out / "report.json").read_text())
    assert report["bars_replayed"] == 32 and report["portfolio"]["trades"] == 1
    assert len(report["walk_forward"]) == 2
    trades = pd.read_csv(out / "trades.csv")
    assert trades["exit_reason"].tolist() == ["stop_loss"]
    assert len(pd.read_csv(out / "equity.csv")) == 32
    db.session.expire_all()
    assert counts(db) == before  # the live tables are untouched


def test_backtest_from_a_config_file(runner, db, tmp_path):
    v_shape(tmp_path, symbol="BBB", dip_at=None)
    config = tmp_path / "spec.json"
    config.write_text(json.dumps({"capital": 1000, "assets": [
        {"symbol": "BBB", "strategy_plugin": "sma_cross",
         "strategy_config": {"fast": 3, "slow": 8}}]}))
    done = runner.invoke(lts, ["backtest", "--config", str(config), "--from",
                               "2026-01-05T00:00:00Z", "--to", "2026-01-07",
                               "--data-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "BBB" in done.output


@pytest.mark.parametrize(("args", "named"), [
    ([], "--portfolio ID or --config FILE"),
    (["--portfolio", "1", "--config", "x.json"], "--portfolio ID or --config FILE"),
    (["--portfolio", "999"], "--portfolio: portfolio 999 does not exist"),
    (["--portfolio", "{pid}", "--from", "yesterday"], "--from"),
    (["--portfolio", "{pid}", "--to", "2026-01-04"], "--to"),
    (["--portfolio", "{pid}", "--from", "2027-01-01", "--to", "2027-02-01"], "--from"),
    (["--portfolio", "{pid}", "--walk-forward", "500"], "--walk-forward"),
    (["--portfolio", "{pid}", "--data-dir", "{empty}"], "--data-dir"),
])
def test_bad_arguments_name_the_option(runner, portfolio, tmp_path, args, named):
    v_shape(tmp_path)
    (tmp_path / "empty").mkdir()
    given = {"--from": "2026-01-05", "--to": "2026-01-07", "--data-dir": str(tmp_path)}
    filled = [a.format(pid=portfolio.id, empty=tmp_path / "empty") for a in args]
    for option, value in given.items():
        if option not in filled:
            filled += [option, value]
    done = runner.invoke(lts, ["backtest", *filled])
    assert done.exit_code != 0
    assert named in done.output


def test_a_bad_csv_row_is_named_by_file_and_line(runner, portfolio, tmp_path):
    v_shape(tmp_path)
    path = tmp_path / "AAA.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].split(",")[0] + ",1,2,3,nope,1"
    path.write_text("\n".join(lines) + "\n")
    done = runner.invoke(lts, ["backtest", "--portfolio", str(portfolio.id), "--from",
                               "2026-01-05", "--to", "2026-01-07", "--data-dir",
                               str(tmp_path)])
    assert done.exit_code != 0
    assert "AAA.csv line 6" in done.output and "--data-dir" in done.output


def test_data_fetch_saves_oanda_history_that_a_backtest_reads(runner, db, fake_v20, tmp_path):
    from tests.fakes.oanda_v20 import TOKEN

    fake_v20.clock = lambda: datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
    before = counts(db)
    out = tmp_path / "EUR_USD.csv"
    config = json.dumps({"api_token": TOKEN, "base_url": fake_v20.url, "granularity": "M5"})
    done = runner.invoke(lts, ["data", "fetch", "--pipeline", "oanda", "--symbol", "EUR/USD",
                               "--from", "2026-03-02T08:00:00Z", "--to",
                               "2026-03-02T12:00:00Z", "--out", str(out),
                               "--pipeline-config", config])
    assert done.exit_code == 0, done.output
    from lts.plugins.pipeline.csv import read_ohlcv

    bars = read_ohlcv(out)
    assert len(bars) == 48  # 4 hours of complete 5-minute bars
    assert bars.index[0] == pd.Timestamp("2026-03-02T08:00Z")
    assert bars.index[-1] == pd.Timestamp("2026-03-02T11:55Z")
    db.session.expire_all()
    assert counts(db) == before


@pytest.mark.parametrize(("args", "named"), [
    (["--pipeline", "nope"], "--pipeline"),
    (["--pipeline", "csv", "--pipeline-config", "[1]"], "--pipeline-config"),
    (["--pipeline", "csv", "--pipeline-config", '{"lookback": -1}'], "--pipeline-config"),
    (["--pipeline", "csv", "--to", "2026-01-01"], "--to"),
    (["--pipeline", "csv", "--from", "soon"], "--from"),
])
def test_data_fetch_bad_arguments_name_the_option(runner, tmp_path, args, named):
    base = ["--symbol", "AAA", "--out", str(tmp_path / "x.csv")]
    for option, value in (("--from", "2026-01-02"), ("--to", "2026-01-03")):
        if option not in args:
            base += [option, value]
    done = runner.invoke(lts, ["data", "fetch", *args, *base])
    assert done.exit_code != 0
    assert named in done.output
