"""The lease, the scheduled job body, and two engines sharing one SQLite file."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import AuditLog, SchedulerLease
from lts.runtime_config import set_runtime_setting
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.lease import current_holder, release, try_acquire
from lts.trading.runner import LoopRunner
from lts.trading.scheduler import HEARTBEAT_JOB_ID, TICK_JOB_ID, LoopScheduler
from lts.trading.status import loop_status, set_paused
from tests.conftest import BACKENDS, make_test_app
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, fake_source

START = EPOCH + timedelta(minutes=10)
HOLD = {**FAKE_ASSET, "strategy_plugin": "fixed", "strategy_config": {"action": "hold"}}


pytestmark = pytest.mark.usefixtures("fresh_book")


def test_lease_acquire_renew_and_takeover_after_expiry(db):
    session = database.session()
    assert try_acquire(session, "a", START, 30)
    assert not try_acquire(session, "b", START + timedelta(seconds=10), 30)
    assert try_acquire(session, "a", START + timedelta(seconds=20), 30)  # renew
    assert not try_acquire(session, "b", START + timedelta(seconds=49), 30)
    assert try_acquire(session, "b", START + timedelta(seconds=51), 30)  # a expired
    assert current_holder(session, START + timedelta(seconds=60))[0] == "b"
    assert not try_acquire(session, "a", START + timedelta(seconds=60), 30)
    release(session, "b")
    assert session.scalar(select(SchedulerLease)) is None
    assert try_acquire(session, "a", START + timedelta(seconds=61), 30)


def make_portfolios(latencies):
    user = gen_user()
    ids = []
    for latency in latencies:
        portfolio = gen_portfolio(user, portfolio_plugin="split", portfolio_latency=latency)
        gen_asset(portfolio, "AAA", **HOLD)
        ids.append(portfolio.id)
    return ids


def expected_due(latencies_by_id, intervals):
    """Portfolio ids due at each interval i (minute i after START) when ticks are on time."""
    return [{pid for pid, latency in latencies_by_id.items() if i % latency == 0}
            for i in range(intervals)]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("use_lease", [True, False])
def test_two_engines_on_one_database_run_each_due_portfolio_once_per_interval(
        app, db, database_url, tmp_path, use_lease):
    """Two apps (two engines, two pools) tick at the same instant for 20 intervals.

    Without the lease both tick every interval and only the claim (a compare-and-set
    UPDATE of ``last_execution``) keeps a portfolio from running twice; on PostgreSQL the
    loser's UPDATE waits for the winner's row lock, then re-checks the condition.
    """
    latencies = dict(zip(make_portfolios([1, 2, 5]), [1, 2, 5], strict=True))
    database.session.commit()
    clock = ManualClock(START)
    apps = [app, make_test_app(database_url, tmp_path / "second")]
    runners = [LoopRunner(a, clock=clock, holder=f"engine-{n}",
                          engine_factory=lambda a: Engine(a, plugins=fake_source(),
                                                          clock=clock))
               for n, a in enumerate(apps)]
    per_interval: list[list[int]] = []
    leaders: list[set[str]] = []
    barrier = threading.Barrier(2)
    try:
        for _ in range(20):
            now = clock()
            reports: list = [None, None]

            def run(n: int, now=now, reports=reports) -> None:
                barrier.wait()
                if use_lease:
                    reports[n] = runners[n].run_once(now)
                else:
                    with apps[n].app_context():
                        reports[n] = runners[n].engine.tick(now)
                        database.session.remove()

            threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            ran = [pid for r in reports if r is not None for pid in r.portfolios_run]
            per_interval.append(sorted(ran))
            leaders.append({runners[n].holder for n in range(2) if reports[n] is not None})
            clock.advance(minutes=1)
    finally:
        for runner in runners:
            runner.shutdown()
        with apps[1].app_context():
            database.engine.dispose()
    assert per_interval == [sorted(d) for d in expected_due(latencies, 20)]
    database.session.commit()  # a fresh snapshot: both engines' writes
    failures = database.session.scalars(select(AuditLog.action)
                                        .where(AuditLog.outcome == "error")).all()
    assert failures == []  # no tick or portfolio failed (a lost race is not a failure)
    if use_lease:
        assert all(len(holders) == 1 for holders in leaders)  # one process ticked


def test_leader_dies_and_the_other_takes_over_after_the_lease_expires(
        app, db, database_path, tmp_path):
    make_portfolios([1])
    clock = ManualClock(START)
    second = make_test_app(f"sqlite:///{database_path}", tmp_path / "second")
    factory = lambda a: Engine(a, plugins=fake_source(), clock=clock)  # noqa: E731
    alive = LoopRunner(app, clock=clock, holder="first", engine_factory=factory)
    standby = LoopRunner(second, clock=clock, holder="second", engine_factory=factory)
    try:
        ran_by = []
        for minute in range(6):
            now = clock()
            # From minute 3 the first process is dead: no run, no renewal.
            first = alive.run_once(now) if minute < 3 else None
            other = standby.run_once(now)
            ran_by.append(("first" if first else "") + ("second" if other else ""))
            clock.advance(minutes=1)
    finally:
        alive.shutdown()
        standby.shutdown()
        with second.app_context():
            database.engine.dispose()
    # lease_seconds is 30: one minute after the last renewal, the lease has expired.
    assert ran_by == ["first", "first", "first", "second", "second", "second"]


def test_paused_loop_skips_ticks_but_keeps_the_lease(app, db):
    (pid,) = make_portfolios([1])
    clock = ManualClock(START)
    runner = LoopRunner(app, clock=clock, holder="me",
                        engine_factory=lambda a: Engine(a, plugins=fake_source(), clock=clock))
    try:
        set_paused(True)
        assert runner.run_once() is None and runner.leading
        set_paused(False)
        assert runner.run_once().portfolios_run == (pid,)
        status = loop_status(clock())
        assert status.leader == "me" and status.last_tick_at == START
        assert status.next_tick_at == START + timedelta(minutes=1) and not status.paused
    finally:
        runner.shutdown()


def test_background_scheduler_ticks_and_follows_global_latency(app, db):
    (pid,) = make_portfolios([1])
    runner = LoopRunner(app, holder="bg",
                        engine_factory=lambda a: Engine(a, plugins=fake_source()))
    scheduler = LoopScheduler(runner)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job(TICK_JOB_ID)
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 30)
        assert scheduler.scheduler.get_job(HEARTBEAT_JOB_ID) is not None
        deadline = time.monotonic() + 20
        while runner.last_report is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a background thread, bounded by the deadline
        assert runner.last_report is not None and runner.last_report.portfolios_run == (pid,)
        set_runtime_setting("global_latency", 2.0)
        scheduler._tick()  # the next tick reads the new interval and reschedules
        job = scheduler.scheduler.get_job(TICK_JOB_ID)
        assert job.trigger.interval == timedelta(minutes=2)
        assert job.misfire_grace_time == 60
    finally:
        scheduler.stop()
    assert scheduler.scheduler is None
    assert database.session.scalar(select(SchedulerLease)) is None  # released on stop
