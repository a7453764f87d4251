"""Graceful stop (issue 16): a stopping engine finishes its portfolio and claims no other.

And ``latency_unit_seconds``: the system tests' seconds-long portfolio latencies.
"""

from __future__ import annotations

import pytest

from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trading_fakes import FAKE_ASSET, fake_source

pytestmark = pytest.mark.usefixtures("fresh_book")


def _portfolios(db, count: int) -> list[int]:
    user = gen_user()
    ids = []
    for index in range(count):
        portfolio = gen_portfolio(user, name=f"p{index}", portfolio_plugin="split",
                                  portfolio_latency=1, total_capital=10_000.0)
        gen_asset(portfolio, f"S{index}", **FAKE_ASSET)
        ids.append(portfolio.id)
    db.session.commit()
    return ids


def test_a_stop_asked_during_a_portfolio_lets_it_finish_and_leaves_the_rest_due(
        db, engine, walk_clock, monkeypatch):
    ids = _portfolios(db, 3)
    stepped: list[int] = []
    original = engine._run_portfolio

    def run_then_sigterm(context, portfolio_id):  # type: ignore[no-untyped-def]
        outcomes = original(context, portfolio_id)  # the portfolio's steps all finish
        stepped.append(portfolio_id)
        engine.stopping.set()  # SIGTERM arrives while the first portfolio runs
        return outcomes

    monkeypatch.setattr(engine, "_run_portfolio", run_then_sigterm)
    report = engine.tick()
    assert report.portfolios_run == (ids[0],) and stepped == [ids[0]]
    assert {o.asset_id for o in report.outcomes} and all(o.ok for o in report.outcomes)

    # The others were never claimed: a new leader's engine runs them at once.
    successor = Engine(engine.app, plugins=fake_source(), clock=walk_clock)
    try:
        assert successor.tick().portfolios_run == tuple(ids[1:])
    finally:
        successor.close()


def test_latency_unit_seconds_makes_portfolio_latency_count_in_that_many_seconds(
        app, db, walk_clock):
    (pid,) = _portfolios(db, 1)
    app.config["LTS"]["latency_unit_seconds"] = 2.0
    app.config["LTS"]["global_latency"] = 1 / 60  # one-second ticks: slack 0.5 s
    engine = Engine(app, plugins=fake_source(), clock=walk_clock)
    try:
        assert engine.tick().portfolios_run == (pid,)
        walk_clock.advance(seconds=1)
        assert engine.tick().portfolios_run == ()  # due 2 s after, minus 0.5 s slack
        walk_clock.advance(seconds=1)
        assert engine.tick().portfolios_run == (pid,)
    finally:
        engine.close()
