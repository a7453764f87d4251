"""The LoopHost a core plugin gets: what it shows, what it runs, and the scope it keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Portfolio
from lts.plugins.base import CorePlugin, TickReport
from lts.plugins.registry import get_registry
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from lts.trading.loop import EngineHost, run_tick
from lts.trading.runner import LoopRunner
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import EPOCH, FAKE_ASSET, fake_source

START = EPOCH + timedelta(minutes=10)
HOLD = {**FAKE_ASSET, "strategy_plugin": "fixed", "strategy_config": {"action": "hold"}}

pytestmark = pytest.mark.usefixtures("fresh_book")


@pytest.fixture
def engine(app, db):
    engine = Engine(app, plugins=fake_source(), clock=ManualClock(START))
    yield engine
    engine.close()


def portfolios(count: int, latency: int = 5) -> list[int]:
    user = gen_user()
    ids = []
    for _ in range(count):
        portfolio = gen_portfolio(user, portfolio_plugin="split", portfolio_latency=latency)
        gen_asset(portfolio, "AAA", **HOLD)
        ids.append(portfolio.id)
    database.session.commit()
    return ids


def test_the_host_shows_when_each_portfolio_is_due(app, engine):
    first, second = portfolios(2)
    host = EngineHost(lambda: engine)
    assert [(p.id, p.due, p.next_due_at) for p in host.portfolios(START)] == [
        (first, True, START), (second, True, START)]
    assert host.run(START, [first]).portfolios_run == (first,)
    slack = timedelta(minutes=app.config["LTS"]["global_latency"]) / 2
    shown = {p.id: p for p in host.portfolios(START)}
    assert not shown[first].due and shown[first].next_due_at == \
        START + timedelta(minutes=5) - slack
    assert shown[first].last_execution == START and shown[second].due


def test_a_scoped_host_never_reaches_beyond_its_scope(engine):
    first, second = portfolios(2)
    host = EngineHost(lambda: engine, scope=[first])
    assert [p.id for p in host.portfolios(START)] == [first]
    report = host.run(START, [first, second])  # asking for more gets no more
    assert report.portfolios_run == (first,)
    assert database.session.scalar(
        select(Portfolio.last_execution).where(Portfolio.id == second)) is None


def test_a_tick_that_ran_nothing_lists_who_waits(engine):
    (only,) = portfolios(1)
    host = EngineHost(lambda: engine)
    host.run(START)
    report = host.run(START + timedelta(minutes=1))
    assert report.portfolios_run == () and [p.id for p in report.waiting] == [only]
    assert report.next_due_at == report.waiting[0].next_due_at > START + timedelta(minutes=1)


class OddOnlyCore(CorePlugin):
    """A policy of the test's own: only odd portfolio ids run."""

    name = "odd_only"
    interface_version = "1.0"

    def tick(self, now):
        """Run the due portfolios with odd ids."""
        odd = [p.id for p in self.host.portfolios(now) if p.due and p.id % 2]
        return self.host.run(now, odd) if odd else TickReport.skipped(now, "no odd one due")


def test_the_configured_core_decides_for_the_scheduler_and_for_run_tick(app, db):
    get_registry(app).register("core", OddOnlyCore, "test")
    app.config["LTS"] = {**app.config["LTS"], "core_plugin": "odd_only"}
    ids = portfolios(4, latency=1)
    runner = LoopRunner(app, clock=ManualClock(START), holder="odd",
                        engine_factory=lambda a: Engine(a, plugins=fake_source()))
    try:
        report = runner.run_once(START)
        assert report.portfolios_run == tuple(i for i in ids if i % 2)
    finally:
        runner.shutdown()
    assert runner.core._host is None  # stopped with the runner
    # `flask lts tick` and "Run now" take the same path: the even ones never run.
    even = [i for i in ids if not i % 2]
    assert run_tick(app, START, portfolio_ids=even).skipped_reason == "no odd one due"
