"""Performance figures of a portfolio and an asset, checked against hand computations."""

from __future__ import annotations

import math
import statistics as stats
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lts.errors import NotFound
from lts.models import Statistic
from lts.services import performance
from lts.services.trades import TradeFilters, all_trades
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.trade_factories import gen_trade

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def book(db):
    """One portfolio, two assets, five closed trades of every exit reason."""
    user = gen_user("pat")
    portfolio = gen_portfolio(user, "Book", total_capital=10_000.0)
    eur = gen_asset(portfolio, "EUR_USD", allocated_capital=6_000.0)
    gold = gen_asset(portfolio, "XAU_USD", allocated_capital=4_000.0)
    spec = [  # asset, hours open, entry, exit, qty, side, fees, reason, day offset
        (eur, 2, 100.0, 104.0, 10, "long", 1.0, "target", 0),
        (eur, 5, 100.0, 98.0, 10, "long", 1.0, "stop", 1),
        (gold, 1, 50.0, 45.0, 4, "short", 0.5, "signal", 1),
        (gold, 3, 50.0, 49.0, 4, "long", 0.5, "manual", 9),
        (eur, 4, 100.0, 100.0, 1, "long", 0.0, "risk", 40),
    ]
    trades = []
    for asset, hours, entry, exit_, qty, side, fees, reason, days in spec:
        opened = T0 + timedelta(days=days)
        trades.append(gen_trade(asset, opened=opened, closed=opened + timedelta(hours=hours),
                                entry=entry, exit=exit_, quantity=qty, side=side, fees=fees,
                                reason=reason))
    return {"user": user, "portfolio": portfolio, "eur": eur, "gold": gold, "trades": trades}


def test_portfolio_trade_figures_match_a_hand_computation(book):
    pnls = [39.0, -21.0, 19.5, -4.5, 0.0]  # (exit-entry)*qty*sign - fees
    result = performance.portfolio_performance(book["user"], book["portfolio"].id,
                                               today=date(2026, 12, 20))
    assert result.trades == 5
    assert result.total_pnl == pytest.approx(sum(pnls))
    assert result.fees == pytest.approx(3.0)
    assert result.win_rate == pytest.approx(2 / 5)
    assert result.profit_factor == pytest.approx((39.0 + 19.5) / (21.0 + 4.5))
    assert result.expectancy == pytest.approx(sum(pnls) / 5)
    assert result.average_trade_seconds == pytest.approx((2 + 5 + 1 + 3 + 4) * 3600 / 5)
    assert result.best.pnl == pytest.approx(39.0)
    assert result.worst.pnl == pytest.approx(-21.0)
    assert [p["v"] for p in result.cumulative] == pytest.approx(
        [39.0, 58.5, 37.5, 33.0, 33.0])


def test_exit_reasons_come_from_the_closing_order(book):
    trades = all_trades(book["user"], TradeFilters(portfolio_id=book["portfolio"].id))
    assert [t.exit_reason for t in trades] == ["target", "signal", "stop", "manual", "risk"]
    only_stops = all_trades(book["user"], TradeFilters(reason="stop"))
    assert [t.pnl for t in only_stops] == [-21.0]


def test_profit_per_day_week_and_month_in_the_viewers_time_zone(book):
    result = performance.portfolio_performance(book["user"], book["portfolio"].id,
                                               today=date(2026, 12, 20))
    assert [(r.start, r.pnl, r.trades) for r in result.daily] == [
        (date(2026, 12, 12), 0.0, 1), (date(2026, 11, 11), -4.5, 1),
        (date(2026, 11, 3), -1.5, 2), (date(2026, 11, 2), 39.0, 1)]
    assert [(r.start, r.pnl) for r in result.weekly] == [
        (date(2026, 12, 7), 0.0), (date(2026, 11, 9), -4.5), (date(2026, 11, 2), 37.5)]
    assert [(r.start, r.pnl) for r in result.monthly] == [
        (date(2026, 12, 1), 0.0), (date(2026, 11, 1), 33.0)]
    # At UTC+14 every exit (09:00-14:00 UTC) falls on the next local day.
    kiritimati = performance.portfolio_performance(book["user"], book["portfolio"].id,
                                                   tz=ZoneInfo("Pacific/Kiritimati"),
                                                   today=date(2026, 12, 20))
    assert [(r.start, r.pnl) for r in kiritimati.daily] == [
        (date(2026, 12, 13), 0.0), (date(2026, 11, 12), -4.5), (date(2026, 11, 4), -1.5),
        (date(2026, 11, 3), 39.0)]


def test_heat_map_grades_days_by_the_largest_day(book):
    result = performance.portfolio_performance(book["user"], book["portfolio"].id,
                                               today=date(2026, 12, 20))
    cells = {c.day: c for week in result.heatmap for c in week}
    assert len(result.heatmap) == performance.HEATMAP_WEEKS
    assert all(len(week) == 7 for week in result.heatmap)
    assert cells[date(2026, 11, 2)].level == 4
    assert cells[date(2026, 11, 3)].level == -1  # -1.5 of 39: the smallest quarter
    assert cells[date(2026, 11, 11)].level == -1
    assert cells[date(2026, 12, 12)].level == 0 and cells[date(2026, 12, 12)].pnl == 0.0
    assert cells[date(2026, 11, 4)].pnl is None
    assert cells[date(2026, 12, 20)].future is False
    assert cells[date(2026, 12, 20)] == result.heatmap[-1][-1]


def test_drawdown_and_sharpe_ignore_a_deposit(book, db):
    pid = book["portfolio"].id
    days = [T0 + timedelta(days=i) for i in range(5)]
    equity = [10_000.0, 10_100.0, 9_999.0, 15_100.0, 15_000.0]  # +5,000 deposited on day 3
    for when, value in zip(days, equity, strict=True):
        db.session.add(Statistic(key=f"portfolio.{pid}.equity", value=value, timestamp=when,
                                 portfolio_id=pid))
    db.session.add(Statistic(key=f"portfolio.{pid}.capital_change", value=5_000.0,
                             timestamp=days[3] - timedelta(hours=1), portfolio_id=pid))
    db.session.commit()
    result = performance.portfolio_performance(book["user"], pid, today=date(2026, 12, 20))
    returns = [10_100 / 10_000 - 1, 9_999 / 10_100 - 1, 10_100 / 9_999 - 1,
               15_000 / 15_100 - 1]
    nav = [1.0]
    for r in returns:
        nav.append(nav[-1] * (1 + r))
    peak, worst = nav[0], 0.0
    for v in nav:
        peak = max(peak, v)
        worst = max(worst, 1 - v / peak)
    assert result.max_drawdown == pytest.approx(worst)
    assert result.max_drawdown < 0.02  # the deposit is no gain, and no later drawdown
    expected_sharpe = stats.mean(returns) / stats.stdev(returns) * math.sqrt(365.25)
    assert result.sharpe == pytest.approx(expected_sharpe)
    assert result.curve_source == "equity statistics"


def test_asset_curve_is_its_capital_plus_closed_pnl(book):
    result = performance.asset_performance(book["user"], book["gold"].id,
                                           today=date(2026, 12, 20))
    assert result.trades == 2
    assert result.total_pnl == pytest.approx(15.0)
    # 4,000 -> 4,019.5 -> 4,015: the only drawdown is 4.5 from the 4,019.5 peak
    assert result.max_drawdown == pytest.approx(4.5 / 4_019.5)
    assert result.curve_source == "closed trades"


def test_someone_elses_portfolio_is_not_found(book):
    stranger = gen_user("stranger")
    with pytest.raises(NotFound):
        performance.portfolio_performance(stranger, book["portfolio"].id)
    with pytest.raises(NotFound):
        performance.asset_performance(stranger, book["eur"].id)
    assert all_trades(stranger, TradeFilters()) == []


def test_no_trades_gives_undefined_figures_not_zeros(db):
    user = gen_user("empty")
    portfolio = gen_portfolio(user)
    result = performance.portfolio_performance(user, portfolio.id, today=date(2026, 12, 20))
    assert result.trades == 0
    assert result.win_rate is None and result.profit_factor is None
    assert result.expectancy is None and result.sharpe is None
    assert result.max_drawdown is None and result.best is None
