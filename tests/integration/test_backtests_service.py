"""Stored backtests through the service: checks, background replay, report, ownership."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lts.backtest.data import BarData
from lts.errors import Conflict, NotFound, ValidationFailed
from lts.models import AuditLog, BacktestRun
from lts.services import backtests
from lts.services.backtest_pool import RUNNER, execute, recover_orphans, runner_name
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 1, 20, tzinfo=UTC)
FROM, TO = "2026-01-01", "2026-01-11"  # 240 hourly bars
SMA = {"fast": 5, "slow": 20}
SYNTHETIC = {"interval_minutes": 60, "lookback": 40, "seed": 7, "volatility": 0.01}


def backtestable(user, name="bt", symbols=("EUR_USD",)):  # type: ignore[no-untyped-def]
    """A portfolio whose assets trade sma_cross on hourly synthetic bars."""
    portfolio = gen_portfolio(user, name)
    for symbol in symbols:
        gen_asset(portfolio, symbol, strategy_plugin="sma_cross", strategy_config=SMA,
                  pipeline_config=SYNTHETIC)
    return portfolio


def run_to_end(db, user, portfolio, date_from=FROM, date_to=TO):  # type: ignore[no-untyped-def]
    """Start a run and wait for the pool to finish it; the stored row, reloaded."""
    run = backtests.start(user, portfolio.id, date_from, date_to, now=NOW)
    backtests.wait(run.id, timeout=300)
    db.session.rollback()  # end the read snapshot: the pool wrote on its own connection
    return db.session.get(BacktestRun, run.id)


def fields_of(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return set(excinfo.value.fields)


def test_a_started_run_is_replayed_in_the_background_and_its_report_stored(db):
    alice = gen_user("alice")
    portfolio = backtestable(alice, symbols=("EUR_USD", "GBP_USD"))
    handlers, level = list(logging.getLogger().handlers), logging.getLogger("lts").level
    run = run_to_end(db, alice, portfolio)
    # a replay runs in this process: it leaves the process's logging as it was
    assert logging.getLogger().handlers == handlers
    assert logging.getLogger("lts").level == level
    assert run.status == "done", run.error
    assert run.progress_total == 240 and run.progress_done == 240
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert run.runner == runner_name()
    metrics = run.metrics
    assert set(metrics["assets"]) == {"EUR_USD", "GBP_USD"}
    assert metrics["portfolio"]["start_equity"] == 10_000.0
    assert metrics["portfolio"]["trades"] == metrics["trades_total"] > 0
    # the curve starts at the capital one bar before the first tick, time in epoch ms
    assert run.equity[0]["v"] == 10_000.0
    assert run.equity[0]["t"] == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert len(run.equity) == 241
    assert run.equity[-1]["v"] == pytest.approx(metrics["portfolio"]["end_equity"])
    assert max(p["dd"] for p in run.equity) == pytest.approx(
        metrics["portfolio"]["max_drawdown"])
    assert len(run.trades) == metrics["trades_total"]
    assert {t["symbol"] for t in run.trades} <= {"EUR_USD", "GBP_USD"}
    assert len(run.candles["EUR_USD"]) == 240
    params = run.parameters
    assert params["portfolio"] == {"id": portfolio.id, "name": "bt"}
    assert params["assets"][0]["strategy_config"] == SMA
    assert run.plugin_versions["assets"]["EUR_USD"]["strategy"]["name"] == "sma_cross"
    assert db.session.query(AuditLog).filter_by(action="backtest.start",
                                                resource=f"backtest:{run.id}").count() == 1


def test_the_report_puts_every_trade_on_its_candles(db):
    alice = gen_user("alice")
    run = run_to_end(db, alice, backtestable(alice))
    report = backtests.report(run)
    assert report.columns == ["Portfolio", "EUR_USD"]
    assert [row.key for row in report.rows][:3] == ["start_equity", "end_equity",
                                                    "total_return"]
    markers = report.charts["EUR_USD"]["markers"]
    assert len(markers) == 2 * len(run.trades) > 0
    times = {bar["time"] for bar in report.charts["EUR_USD"]["bars"]}
    assert all(marker["time"] in times for marker in markers)
    first = run.trades[0]
    assert report.trades[0]["entry_time"] == datetime.fromisoformat(
        first["entry_time"]).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(("date_from", "date_to", "field"), [
    ("2026-01-11", "2026-01-01", "to"),
    ("2026-01-01", "2026-02-01", "to"),  # after NOW: no history yet
    ("yesterday", "2026-01-11", "from"),
    ("", "2026-01-11", "from"),
    ("2026-01-01", None, "to"),
])
def test_a_bad_range_is_refused_naming_the_field(db, date_from, date_to, field):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    with pytest.raises(ValidationFailed) as excinfo:
        backtests.start(alice, portfolio.id, date_from, date_to, now=NOW)
    assert fields_of(excinfo) == {field}
    assert db.session.query(BacktestRun).count() == 0


def test_another_users_portfolio_is_refused_like_a_missing_one(db):
    alice, bob = gen_user("alice"), gen_user("bob")
    portfolio = backtestable(bob)
    for portfolio_id in (portfolio.id, 999_999, 2**40):
        with pytest.raises(ValidationFailed) as excinfo:
            backtests.start(alice, portfolio_id, FROM, TO, now=NOW)
        assert excinfo.value.fields == {"portfolio_id": [f"portfolio {portfolio_id} not found"]}


def test_a_portfolio_without_active_assets_is_refused_naming_the_portfolio(db):
    alice = gen_user("alice")
    portfolio = gen_portfolio(alice, "empty")
    with pytest.raises(ValidationFailed) as excinfo:
        backtests.start(alice, portfolio.id, FROM, TO, now=NOW)
    assert fields_of(excinfo) == {"portfolio_id"}


def test_a_range_without_bars_is_refused_naming_from(db):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    with pytest.raises(ValidationFailed) as excinfo:
        backtests.start(alice, portfolio.id, "2026-01-01T00:00", "2026-01-01T00:30", now=NOW)
    assert fields_of(excinfo) == {"from"}


def test_another_users_run_is_not_found_and_not_listed(db):
    alice, bob = gen_user("alice"), gen_user("bob")
    run = run_to_end(db, alice, backtestable(alice))
    assert backtests.get_run(alice, run.id).id == run.id
    with pytest.raises(NotFound):
        backtests.get_run(bob, run.id)
    assert backtests.list_runs(bob).total == 0
    assert [r.id for r in backtests.list_runs(alice).items] == [run.id]
    root = gen_user("root", role="admin")
    assert backtests.list_runs(root).total == 1


def test_a_run_left_running_by_a_dead_process_is_marked_failed_at_the_next_start(db):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = f"{RUNNER.rsplit(':', 2)[0]}:{child.stdout.strip()}:cafe"
    elsewhere = "other-host:1:beef"
    rows = [BacktestRun(user_id=alice.id, portfolio_id=portfolio.id, status="running",
                        date_from=NOW, date_to=NOW, parameters={}, runner=runner,
                        heartbeat_at=beat, created_at=beat)
            for runner, beat in ((dead, NOW), (elsewhere, NOW - timedelta(minutes=5)),
                                 (elsewhere, NOW - timedelta(hours=2)),
                                 (runner_name(), NOW - timedelta(hours=2)))]
    db.session.add_all(rows)
    db.session.commit()
    ids = [row.id for row in rows]
    assert recover_orphans(NOW, alive={ids[3]}) == 2
    db.session.rollback()
    statuses = [db.session.get(BacktestRun, i).status for i in ids]
    assert statuses == ["failed", "running", "failed", "running"]
    assert "stopped" in db.session.get(BacktestRun, ids[0]).error
    # a run of this process that its pool no longer has (its thread died) is dead too
    assert recover_orphans(NOW, alive=set()) == 1
    db.session.rollback()
    assert db.session.get(BacktestRun, ids[3]).status == "failed"


def test_a_queued_run_taken_for_dead_is_not_replayed_later(app, db):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    run = BacktestRun(user_id=alice.id, portfolio_id=portfolio.id, status="failed",
                      date_from=NOW, date_to=NOW, parameters={}, error="taken for dead")
    db.session.add(run)
    db.session.commit()
    execute(app, run.id, None, BarData(data_dir=Path("."), bars={}, files={},  # type: ignore[arg-type]
                                       period=pd.Timedelta(hours=1), start=NOW, end=NOW),
            Path("/nonexistent-lts-folder"))
    db.session.rollback()
    again = db.session.get(BacktestRun, run.id)
    assert again.status == "failed" and again.error == "taken for dead"
    assert again.started_at is None


def test_a_user_may_not_queue_more_than_the_limit(db):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    db.session.add_all([BacktestRun(user_id=alice.id, portfolio_id=portfolio.id,
                                    status="queued", date_from=NOW, date_to=NOW,
                                    parameters={}, runner="other-host:1:beef",
                                    heartbeat_at=NOW, created_at=NOW)  # alive elsewhere
                        for _ in range(backtests.MAX_ACTIVE_PER_USER)])
    db.session.commit()
    with pytest.raises(Conflict) as excinfo:
        backtests.start(alice, portfolio.id, FROM, TO, now=NOW)
    assert set(excinfo.value.fields) == {"portfolio_id"}


def test_two_finished_runs_compare_side_by_side(db):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    first = run_to_end(db, alice, portfolio)
    second = run_to_end(db, alice, portfolio, "2026-01-05", TO)
    comparison = backtests.compare(alice, first.id, second.id)
    keys = [row.key for row in comparison.rows]
    assert keys[0] == "start_equity" and "max_drawdown" in keys
    total = next(row for row in comparison.rows if row.key == "total_return")
    returns = [first.metrics["portfolio"]["total_return"],
               second.metrics["portfolio"]["total_return"]]
    assert total.values == [f"{r * 100:.2f}%" for r in returns]
    if returns[0] != returns[1]:
        assert total.better == (0 if returns[0] > returns[1] else 1)
    assert comparison.curves[0]["points"][0]["v"] == 0.0
    assert len(comparison.curves[1]["points"]) == 6 * 24 + 1
    bob = gen_user("bob")
    with pytest.raises(ValidationFailed) as excinfo:
        backtests.compare(bob, first.id, second.id)
    assert fields_of(excinfo) == {"first"}


@pytest.mark.parametrize(("seconds", "shown"), [
    (45, "45 s"), (60, "1 min"), (4885.7, "1 h 21 min"), (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    (86400, "1 d")])
def test_durations_read_as_days_hours_minutes(seconds, shown):
    assert backtests.format_metric("longest_trade_seconds", seconds) == shown
    assert backtests.format_metric("longest_trade_seconds", None) == "-"


def test_a_run_whose_replay_fails_ends_failed_with_the_reason(db):
    alice = gen_user("alice")
    portfolio = gen_portfolio(alice, "broken")
    gen_asset(portfolio, "EUR_USD", strategy_plugin="sma_cross",
              strategy_config={"fast": 30, "slow": 20, "nonsense": 1},
              pipeline_config=SYNTHETIC)
    run = run_to_end(db, alice, portfolio)
    assert run.status == "failed" and run.finished_at is not None
    assert "EUR_USD" in run.error and "nonsense" in run.error
    assert run.metrics is None and run.equity is None
    assert backtests.report(run).rows[0].values == ["-"]  # a page still renders


def test_progress_is_stored_whenever_a_step_is_crossed_though_skipped_bars_jump_it(
        db, monkeypatch):
    """Quiet bars are skipped, so progress jumps; here only reports at multiples of 7
    get through (at least 7 bars apart): each crosses a 1 % step (2 of 240 bars), so
    each is stored, odd ones too, not only those landing on a step."""
    from lts.services import backtest_pool

    real, stored, reported = backtest_pool.make_replay, [], []
    real_write = backtest_pool.write_run

    def jumping(app):  # type: ignore[no-untyped-def]
        inner = real(app)

        def replay(spec, data, ticks, progress):  # type: ignore[no-untyped-def]
            def sparse(done: int, total: int) -> None:
                if done % 7 == 0 or done == total:
                    reported.append(done)
                    progress(done, total)
            return inner(spec, data, ticks, sparse)
        return replay

    def spying(engine, run_id, **fields):  # type: ignore[no-untyped-def]
        if "progress_done" in fields and fields.get("status") is None:
            stored.append(fields["progress_done"])
        return real_write(engine, run_id, **fields)

    monkeypatch.setattr(backtest_pool, "make_replay", jumping)
    monkeypatch.setattr(backtest_pool, "write_run", spying)
    alice = gen_user("alice")
    run = run_to_end(db, alice, backtestable(alice))
    assert run.status == "done", run.error
    assert stored == reported and reported[-1] == 240
    assert any(done % 2 for done in reported)  # an odd report: no step landed on
