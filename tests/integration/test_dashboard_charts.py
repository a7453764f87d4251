"""Server side of the dashboard charts: capital steps marked, candles resampled, SL/TP kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lts.extensions import db as database
from lts.models.statistic_keys import CAPITAL_CHANGE, EQUITY, portfolio_key
from lts.services.dashboard_queries import equity_steps
from lts.services.overview import combined_equity
from lts.trading.statistics import record
from tests.factories import gen_portfolio, gen_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_portfolio_added_mid_curve_is_a_marked_capital_step_not_a_gain(db):
    user = gen_user("stepper")
    first = gen_portfolio(user, "First", total_capital=10_000.0)
    second = gen_portfolio(user, "Second", total_capital=5_000.0)
    for hour in range(4):
        record(database.session, [(portfolio_key(first.id, EQUITY), 10_000.0 + hour)],
               T0 + timedelta(hours=hour))
    record(database.session, [(portfolio_key(second.id, EQUITY), 5_000.0)],
           T0 + timedelta(hours=2, minutes=30))
    record(database.session, [(portfolio_key(first.id, CAPITAL_CHANGE), -250.0)],
           T0 + timedelta(hours=3))
    database.session.commit()

    series = combined_equity([first.id, second.id], T0 - timedelta(hours=1))
    steps = equity_steps([first.id, second.id], series)

    # The first portfolio starts the curve: no step. The second one's start and the
    # withdrawal are steps, with their amounts and why.
    assert steps == [
        {"t": (T0 + timedelta(hours=2, minutes=30)).isoformat(), "v": 5000.0,
         "label": "Portfolio Second added"},
        {"t": (T0 + timedelta(hours=3)).isoformat(), "v": -250.0, "label": "Withdrawal"},
    ]


def test_no_steps_for_someone_elses_portfolio_or_an_empty_curve(db):
    owner = gen_user("owner1")
    other = gen_user("other1")
    mine = gen_portfolio(owner, "Mine")
    theirs = gen_portfolio(other, "Theirs")
    record(database.session, [(portfolio_key(mine.id, EQUITY), 1.0)], T0)
    record(database.session, [(portfolio_key(mine.id, EQUITY), 2.0)], T0 + timedelta(hours=1))
    record(database.session, [(portfolio_key(theirs.id, EQUITY), 9.0)],
           T0 + timedelta(minutes=30))
    database.session.commit()

    series = combined_equity([mine.id], None)
    assert equity_steps([mine.id], series) == []
    assert equity_steps([mine.id], []) == []
