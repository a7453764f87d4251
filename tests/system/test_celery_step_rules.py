"""The rules a Celery worker's step obeys, on a real SQLite file, without a broker.

A step runs only under its tick's claim, never twice for one tick, and answers in JSON
the leader turns back into the same outcomes; without ``celery_broker_url`` nothing of
Celery is imported or used. The broker side (redelivery after ``kill -9``, a worker that
is down) is in tests/system/test_celery_steps.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from lts import create_app
from lts.config import ConfigError
from lts.models import Order, Portfolio, Statistic
from lts.plugins.base import StepTiming, TickReport
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.fanout import (
    ALREADY_DONE,
    RAN,
    STALE,
    celery_app,
    dispatcher_for,
    step_answer,
)
from lts.trading.report import format_report
from lts.workers.steps import run_step
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.system.concurrency_mix import PROJECT_ROOT
from tests.trading_fakes import EPOCH, FAKE_ASSET, BookBroker, fake_source, reset_book


@pytest.fixture(autouse=True)
def _fresh_book() -> Iterator[None]:
    reset_book()
    yield
    reset_book()


@pytest.fixture
def engine(app, db) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = Engine(app, plugins=fake_source(), clock=ManualClock(EPOCH))
    yield engine
    engine.close()


def _claimed_portfolio(db, now):  # type: ignore[no-untyped-def]
    """A portfolio of one asset that buys on every step, claimed for the tick at ``now``."""
    portfolio = gen_portfolio(gen_user(), portfolio_plugin="split", portfolio_latency=1,
                              total_capital=10_000.0)
    gen_asset(portfolio, "AAA", **{**FAKE_ASSET, "strategy_plugin": "fixed",
                                    "strategy_config": {"action": "open", "side": "buy"}})
    db.session.commit()
    pid = portfolio.id  # read before the last commit: no read transaction left open
    db.session.execute(update(Portfolio).where(Portfolio.id == pid).values(last_execution=now))
    db.session.commit()
    return pid


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    return int(db.session.scalar(select(func.count(model.id))))


def test_a_claimed_step_runs_once_and_a_second_delivery_finds_it_done(app, db, engine):
    now = EPOCH + timedelta(minutes=10)
    pid = _claimed_portfolio(db, now)

    first = run_step(app, pid, now, engine=engine)
    assert first["status"] == RAN, first
    assert [o["ok"] for o in first["outcomes"]] == [True]
    assert _count(db, Order) == 1
    equity = db.session.scalars(select(Statistic.timestamp).where(
        Statistic.key == f"portfolio.{pid}.equity")).all()
    assert len(equity) == 1

    again = run_step(app, pid, now, redelivered=True, engine=engine)
    assert again["status"] == ALREADY_DONE
    assert again["outcomes"] == []
    assert _count(db, Order) == 1, "a redelivered step placed a second order"
    assert db.session.scalar(select(func.count(Statistic.id)).where(
        Statistic.key == f"portfolio.{pid}.equity")) == 1


def test_a_step_whose_portfolio_a_later_tick_claimed_is_stale_and_does_nothing(app, db, engine):
    now = EPOCH + timedelta(minutes=10)
    pid = _claimed_portfolio(db, now + timedelta(minutes=1))  # the next tick's claim

    answer = run_step(app, pid, now, engine=engine)

    assert answer["status"] == STALE
    assert _count(db, Order) == 0
    assert _count(db, Statistic) == 0


def test_a_step_rerun_after_a_crash_settles_its_order_and_sends_nothing_twice(app, db):
    now = EPOCH + timedelta(minutes=10)
    pid = _claimed_portfolio(db, now)
    BookBroker.crash_after_record = True  # the broker books the order, the process dies
    first = Engine(app, plugins=fake_source(), clock=ManualClock(now))
    with pytest.raises(SystemExit):
        run_step(app, pid, now, engine=first)
    first.close()
    assert db.session.scalars(select(Order.status)).all() == ["pending"]
    db.session.commit()  # end the read: SQLite would keep this snapshot
    BookBroker.crash_after_record = False

    second = Engine(app, plugins=fake_source(), clock=ManualClock(now))
    try:
        answer = run_step(app, pid, now, redelivered=True, engine=second)
    finally:
        second.close()

    assert answer["status"] == RAN
    assert answer["redelivered"] is True  # it found its own order of this tick, left open
    orders = db.session.execute(select(Order.client_order_id, Order.status)).all()
    coid = f"lts-{answer['outcomes'][0]['asset_id']}-{int(now.timestamp())}-1"
    assert [tuple(o) for o in orders] == [(coid, "filled")]  # settled, not duplicated
    assert BookBroker.submits == [coid], "the broker got the order twice"
    assert db.session.scalar(select(func.count(Statistic.id)).where(
        Statistic.key == f"portfolio.{pid}.equity")) == 1


def test_the_json_answer_turns_back_into_the_same_outcomes(app, db, engine):
    now = EPOCH + timedelta(minutes=10)
    pid = _claimed_portfolio(db, now)
    raw = json.loads(json.dumps(run_step(app, pid, now, engine=engine)))

    outcomes, failures, timing = step_answer(raw)

    assert failures == []
    assert [(o.asset_id, o.ok, o.decision.action, len(o.order_ids)) for o in outcomes] == [
        (raw["outcomes"][0]["asset_id"], True, "open", 1)]
    assert (timing.portfolio_id, timing.status) == (pid, RAN)


def test_the_tick_report_shows_each_worker_step_and_a_missing_one():
    report = TickReport(started_at=EPOCH, finished_at=EPOCH + timedelta(seconds=3),
                        portfolios_run=(1, 2), steps=(
                            StepTiming(1, RAN, 0.25, "vm:101"),
                            StepTiming(2, "missing")))

    text = format_report(report)

    assert "workers: 2 step(s), 1 ran, slowest 0.250 s" in text
    assert "portfolio 1: ran on vm:101 (0.250 s)" in text
    assert "portfolio 2: missing (0.000 s)" in text


@pytest.mark.parametrize(("overrides", "key"), [
    ({"celery_broker_url": "http://127.0.0.1:5672"}, "celery_broker_url"),
    ({"celery_result_backend": "mongodb://x"}, "celery_result_backend"),
    ({"celery_broker_url": "redis://127.0.0.1:6379/1", "celery_step_deadline_seconds": 600,
      "celery_visibility_timeout": 600}, "celery_visibility_timeout"),
])
def test_bad_celery_settings_are_refused_naming_the_key(overrides, key, tmp_path):
    with pytest.raises(ConfigError, match=key):
        create_app({"database_url": f"sqlite:///{tmp_path}/x.db", "secret_key": "x",
                    **overrides}, instance_path=tmp_path)


def test_without_a_broker_the_engine_steps_in_process_and_never_imports_celery(tmp_path):
    script = (
        "import sys\n"
        "from lts import create_app\n"
        "from lts.trading.engine import Engine\n"
        f"app = create_app({{'database_url': 'sqlite:///{tmp_path}/x.db', 'secret_key': 'x'}},"
        f" instance_path={str(tmp_path)!r})\n"
        "engine = Engine(app)\n"
        "assert engine.dispatch is None\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu')], "
        "sorted(m for m in sys.modules if m.startswith(('celery', 'kombu')))\n"
        "engine.close()\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_flask_lts_worker_without_a_broker_says_which_setting_is_missing(runner):
    from lts.cli import lts

    result = runner.invoke(lts, ["worker"])

    assert result.exit_code != 0
    assert "celery_broker_url" in result.output


def test_a_stopping_leader_stops_waiting_and_reports_its_steps_missing(tmp_path):
    broker = os.environ.get("LTS_TEST_REDIS_URL")
    if not broker:
        pytest.skip("LTS_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    queue = f"lts-test-{uuid.uuid4().hex[:12]}"
    app = create_app({"database_url": f"sqlite:///{tmp_path}/x.db", "secret_key": "x",
                      "celery_broker_url": broker, "celery_queue": queue,
                      "celery_step_deadline_seconds": 600, "celery_visibility_timeout": 900},
                     instance_path=tmp_path)
    stopping = threading.Event()
    dispatch = dispatcher_for(app, stopping)
    assert dispatch is not None
    stopping.set()  # SIGTERM arrived: no worker runs, yet the leader must not wait 600 s
    try:
        outcomes, failures, steps = dispatch(EPOCH, [1, 2])
    finally:
        with celery_app(app).connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)

    assert outcomes == []
    assert [(f.portfolio_id, f.kind) for f in failures] == [(1, "step_missing"),
                                                            (2, "step_missing")]
    assert all("the leader is stopping" in f.error for f in failures)
    assert [s.status for s in steps] == ["missing", "missing"]
