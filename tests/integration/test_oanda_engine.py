"""The engine trading one ``oanda`` asset (broker and pipeline) against the fake v20.

Real engine, real database, real HTTP: the fake's clock is the engine's clock, so the
broker's fill times are the tick times. After every fault, and again after a restart
(a new engine, no links cached in the broker), LTS's orders and positions must equal the
fake broker's records, and no client id may have been booked twice at the broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from lts.models import AuditLog, Order, Position, User
from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin
from lts.plugins.broker.oanda import OandaBroker
from lts.plugins.registry import get_registry
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.fakes.oanda_v20 import ACCOUNT, TOKEN
from tests.helpers import csrf_from, tick_once

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPEN_UNTIL = START + timedelta(minutes=4)


class OpenProtected(StrategyPlugin):
    """Opens a protected long when flat during the first minutes, then holds."""

    name = "open_protected_for_test"
    interface_version = "1.0"

    width = 0.002
    anchor = "price"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Buy with SL / TP ``width`` below / above the last close while flat and early."""
        if position is not None or snapshot.as_of > OPEN_UNTIL:
            return Decision.hold("holding")
        last = snapshot.last_price
        return Decision(action="open", side="buy", stop_loss=round(last * (1 - self.width), 5),
                        take_profit=round(last * (1 + self.width), 5), reason="test entry",
                        exit_anchor=self.anchor)  # type: ignore[arg-type]


@pytest.fixture
def clock(fake_v20: Any) -> ManualClock:
    """The one clock of the engine and the fake broker."""
    manual = ManualClock(START)
    fake_v20.clock = manual
    return manual


@pytest.fixture
def oanda_asset(app, db, fake_v20, clock):
    get_registry(app).register("strategy", OpenProtected, origin="test")
    OandaBroker._links.clear()
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
    connection = {"api_token": TOKEN, "base_url": fake_v20.url}
    return gen_asset(
        portfolio, "EUR/USD", strategy_plugin="open_protected_for_test",
        allocated_capital=10_000.0,
        pipeline_plugin="oanda",
        pipeline_config={**connection, "granularity": "M1", "lookback": 30},
        broker_plugin="oanda",
        broker_config={**connection, "account_id": ACCOUNT, "read_timeout": 0.5,
                       "backoff_cap": 0.0})


def run(app, clock: ManualClock, ticks: int, between: Any = None) -> list[Any]:
    """Tick once a minute ``ticks`` times; ``between(i)`` runs before tick ``i``."""
    engine = Engine(app, clock=clock)
    reports = []
    try:
        for i in range(ticks):
            if between is not None:
                between(i)
            reports.append(engine.tick(clock.now))
            clock.advance(minutes=1)
    finally:
        engine.close()
    return reports


def restart(app, clock: ManualClock) -> None:
    """A new process: no broker links in memory, start-up reconciliation, one tick."""
    OandaBroker._links.clear()
    engine = Engine(app, clock=clock)
    try:
        engine.start_up(clock.now)
        engine.tick(clock.now)
    finally:
        engine.close()


def assert_books_agree(db, fake) -> None:
    """LTS's orders and positions are what the fake broker holds; nothing placed twice."""
    db.session.expire_all()
    assert all(count == 1 for count in fake.placed.values()), fake.placed
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    states = {"filled": {"FILLED"}, "cancelled": {"CANCELLED"}, "submitted": {"PENDING"},
              "partially_filled": {"PENDING"}}
    for order in orders:
        at_broker = fake.find_order(f"@{order.client_order_id}")
        if order.client_order_id.startswith("oanda-exit-"):
            continue  # a broker-side exit: checked through the positions below
        if order.status in ("rejected", "error"):
            assert at_broker is None, order.client_order_id
        else:
            assert at_broker is not None, order.client_order_id
            assert at_broker["state"] in states[order.status], (order.status, at_broker)
    assert set(fake.placed) <= {o.client_order_id for o in orders}
    open_lts = sorted((p.quantity, p.entry_price) for p in db.session.scalars(
        select(Position).where(Position.status == "open")))
    open_fake = sorted((float(t["currentUnits"]), float(t["price"]))
                       for t in fake.open_trades())
    assert open_lts == open_fake


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_twenty_ticks_with_a_broker_side_stop_books_the_exit_at_the_brokers_price(
        app, db, fake_v20, clock, oanda_asset):
    stop_moment = START + timedelta(minutes=9, seconds=25)
    hits = []

    def stop_between_ticks(i: int) -> None:
        if i == 10:  # between tick 9 (12:09) and tick 10 (12:10)
            trade = fake_v20.open_trades()[0]
            stop = float(trade["stopLossOrder"]["price"])
            clock.now, before = stop_moment, clock.now
            hits.extend(fake_v20.set_price("EUR_USD", stop - 0.0005))
            clock.now = before

    reports = run(app, clock, 20, stop_between_ticks)
    assert all(report.errors == () for report in reports), [r.errors for r in reports]

    position = db.session.scalars(select(Position)).one()
    (stop_fill,) = hits
    broker_price = float(stop_fill["tradesClosed"][0]["price"])
    assert position.status == "closed"
    assert position.exit_price == broker_price
    assert position.closed_at.replace(tzinfo=UTC) == stop_moment
    exit_order = db.session.get(Order, position.close_order_id)
    assert (exit_order.status, exit_order.reason, exit_order.source) == (
        "filled", "stop_loss", "risk")
    assert exit_order.client_order_id.startswith("oanda-exit-")
    expected = (broker_price - position.entry_price) * position.quantity
    assert position.realized_pnl == pytest.approx(expected - position.commission)
    # The entry was sent with its protection, at the instrument's precision.
    entry = fake_v20.find_order(f"@{db.session.get(Order, position.order_id).client_order_id}")
    assert entry["stopLossOnFill"]["price"] == f"{position.stop_loss:.5f}"
    assert entry["takeProfitOnFill"]["price"] == f"{position.take_profit:.5f}"
    assert_books_agree(db, fake_v20)
    restart(app, clock)
    assert_books_agree(db, fake_v20)
    assert db.session.scalars(select(Position)).one().status == "closed"


FAULTS = {
    "read timeout after accept": {"hang_after_accept": 1},
    "500 before booking": {"error_500_before": 1},
    "500 after booking": {"error_500_after": 1},
    "429 with Retry-After": {"error_429": 2},
    "rejection": {"reject_reason": "INSUFFICIENT_MARGIN"},
    "insufficient margin cancel": {"cancel_reason": "INSUFFICIENT_MARGIN"},
    "FOK cancellation": {"cancel_reason": "INSUFFICIENT_LIQUIDITY"},
    "latency": {"latency": 0.05},
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_after_each_fault_lts_and_the_broker_agree_and_nothing_is_placed_twice(
        app, db, fake_v20, clock, oanda_asset, fault):
    for key, value in FAULTS[fault].items():
        setattr(fake_v20.faults, key, value)
    reports = run(app, clock, 8)
    assert all(report.errors == () for report in reports), [r.errors for r in reports]
    assert_books_agree(db, fake_v20)
    went = {row.details.get("to") for row in db.session.scalars(
        select(AuditLog).where(AuditLog.action == "order.status"))}
    expected = {"read timeout after accept": "unknown", "rejection": "rejected",
                "insufficient margin cancel": "cancelled", "FOK cancellation": "cancelled"}
    assert expected.get(fault, "filled") in went
    restart(app, clock)
    assert_books_agree(db, fake_v20)
    # The strategy ends up in the market once, protected at the broker.
    (trade,) = fake_v20.open_trades()
    assert "stopLossOrder" in trade and "takeProfitOrder" in trade


def test_partial_fill_books_the_filled_part(app, db, fake_v20, clock, oanda_asset):
    oanda_asset.broker_config = {**oanda_asset.broker_config, "time_in_force": "IOC"}
    db.session.commit()
    fake_v20.faults.partial_fraction = 0.5
    run(app, clock, 3)
    assert_books_agree(db, fake_v20)
    first = db.session.scalars(select(Order).order_by(Order.id)).first()
    assert first.status == "cancelled" and first.filled_quantity > 0
    restart(app, clock)
    assert_books_agree(db, fake_v20)


def test_an_expired_token_pauses_the_asset_until_the_token_is_replaced(
        app, db, client, auth_headers, fake_v20, clock, oanda_asset):
    fake_v20.faults.expired_token = True
    reports = run(app, clock, 1)
    assert reports[0].errors and "api_token" in reports[0].errors[0].error
    assert TOKEN not in reports[0].errors[0].error
    db.session.expire_all()
    asset = db.session.get(type(oanda_asset), oanda_asset.id)
    assert asset.paused_reason and "oanda refused the credentials (401)" in asset.paused_reason
    assert asset.paused_at == START
    asked = len(fake_v20.requests)

    # Paused: later ticks make no call at all for this asset, and audit nothing more.
    reports = run(app, clock, 3)
    assert len(fake_v20.requests) == asked
    assert all(r.errors == () for r in reports)
    assert "paused" in reports[0].outcomes[0].decision.reason
    paused_rows = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "asset.paused")).all()
    assert len(paused_rows) == 1
    failed = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.asset_failed")).all()
    assert len(failed) == 1
    assert all(TOKEN not in str(row.details) for row in [*paused_rows, *failed])

    # Visible in the API and on the asset page, with the reason.
    owner = db.session.get(User, asset.portfolio.user_id)
    shown = client.get(f"/api/v1/assets/{asset.id}", headers=auth_headers(owner)).get_json()
    assert shown["paused_reason"] == asset.paused_reason and shown["paused_at"]
    assert fake_v20.placed == {}

    # The user saves a new token: the pause lifts and trading resumes on the next tick.
    fake_v20.faults.expired_token = False
    fake_v20.token = "a-new-token-after-rotation"
    for field in ("broker_config", "pipeline_config"):
        answer = client.patch(f"/api/v1/assets/{asset.id}", headers=auth_headers(owner),
                              json={field: {**getattr(asset, field),
                                            "api_token": fake_v20.token}})
        assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["paused_reason"] is None
    reports = run(app, clock, 1)
    assert reports[0].errors == ()
    assert len(fake_v20.placed) == 1
    assert_books_agree(db, fake_v20)


def test_resuming_a_paused_asset_calls_the_broker_again_and_it_pauses_again(
        app, db, client, auth_headers, fake_v20, clock, oanda_asset):
    fake_v20.faults.expired_token = True
    run(app, clock, 1)
    owner = db.session.get(User, oanda_asset.portfolio.user_id)
    answer = client.post(f"/api/v1/assets/{oanda_asset.id}/resume",
                         headers=auth_headers(owner))
    assert answer.status_code == 200 and answer.get_json()["paused_reason"] is None
    resumed = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "asset.resume")).one()
    assert "refused the credentials" in resumed.details["was_paused_for"]
    asked = len(fake_v20.requests)
    run(app, clock, 1)  # still refused: one call, paused again, audited again
    assert len(fake_v20.requests) == asked + 1
    assert len(db.session.scalars(select(AuditLog).where(
        AuditLog.action == "asset.paused")).all()) == 2
    db.session.expire_all()
    assert db.session.get(type(oanda_asset), oanda_asset.id).paused_reason


def test_the_asset_page_shows_the_pause_and_resumes_it(
        app, db, fake_v20, clock, oanda_asset, login_as):
    fake_v20.faults.expired_token = True
    run(app, clock, 1)
    browser = login_as(db.session.get(User, oanda_asset.portfolio.user_id))
    asked = len(fake_v20.requests)
    page = browser.get(f"/assets/{oanda_asset.id}")
    assert len(fake_v20.requests) == asked  # neither its chart nor its broker card asks
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="asset-paused"' in text
    assert "refused the credentials" in text and TOKEN not in text
    done = browser.post(f"/assets/{oanda_asset.id}/resume", headers={
        "HX-Request": "true", "X-CSRFToken": csrf_from(text)})
    assert done.status_code in (200, 204)
    assert done.headers["HX-Redirect"] == f"/assets/{oanda_asset.id}"
    db.session.expire_all()
    assert db.session.get(type(oanda_asset), oanda_asset.id).paused_reason is None


class OpenUnprotected(StrategyPlugin):
    """Opens without a take profit: ``require_protection`` must refuse it."""

    name = "open_unprotected_for_test"
    interface_version = "1.0"

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Buy with a stop loss only."""
        if position is not None:
            return Decision.hold("holding")
        return Decision(action="open", side="buy", stop_loss=snapshot.last_price * 0.99,
                        reason="no target")


def test_require_protection_refusal_is_audited_and_never_reaches_oanda(
        app, db, fake_v20, clock, oanda_asset):
    get_registry(app).register("strategy", OpenUnprotected, origin="test")
    oanda_asset.strategy_plugin = "open_unprotected_for_test"
    db.session.commit()
    run(app, clock, 2)
    orders = db.session.scalars(select(Order)).all()
    assert orders and all(o.status == "rejected" for o in orders)
    rows = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "order.status", AuditLog.outcome == "error")).all()
    assert rows and all(row.details["to"] == "rejected" for row in rows)
    assert all("require_protection" in (o.broker_response or {}).get("message", "")
               for o in orders)
    assert not any(method == "POST" for method, _ in fake_v20.requests)


def test_a_live_config_without_allow_live_is_refused_and_audited(
        app, db, fake_v20, clock, oanda_asset):
    # Saved before the check existed, or edited in the database: refused at call time.
    oanda_asset.broker_config = {**oanda_asset.broker_config, "environment": "live"}
    db.session.commit()
    reports = run(app, clock, 1)
    assert reports[0].errors and "allow_live" in reports[0].errors[0].error
    rows = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.asset_failed")).all()
    assert rows and "allow_live" in str(rows[0].details)
    assert not any(method == "POST" for method, _ in fake_v20.requests)


def test_the_broker_view_agrees_after_trading_and_flags_a_trade_lts_does_not_know(
        app, db, fake_v20, clock, oanda_asset):
    from lts.services.broker_view import broker_view

    run(app, clock, 2)
    view = broker_view(db.session.get(type(oanda_asset), oanda_asset.id))
    assert view is not None and view.error is None, view
    assert view.agrees and len(view.broker_trades) == 1 and len(view.lts_positions) == 1
    assert view.account["last_transaction_id"] == str(fake_v20.last_id)
    assert view.account["margin_used"] > 0

    # A trade opened by hand at the broker: LTS does not hold it, the view says so.
    fake_v20.create_order({"type": "MARKET", "instrument": "EUR_USD", "units": "-50"})
    view = broker_view(db.session.get(type(oanda_asset), oanda_asset.id))
    assert not view.agrees
    assert any("not an open position in LTS" in d for d in view.differences)


def test_the_broker_view_of_a_paper_asset_is_none(app, db):
    from lts.services.broker_view import broker_view

    asset = gen_asset(gen_portfolio(gen_user()), "EUR_USD")
    assert broker_view(asset) is None


class OpenAnchoredAtFill(OpenProtected):
    """Opens with SL/TP 0.3 % away from the last close, measured from the fill."""

    name = "open_anchored_for_test"
    interface_version = "1.0"
    width = 0.003
    anchor = "pct"


def test_exits_re_anchored_at_the_fill_are_re_sent_to_oanda(
        app, db, fake_v20, clock, oanda_asset):
    get_registry(app).register("strategy", OpenAnchoredAtFill, origin="test")
    oanda_asset.strategy_plugin = "open_anchored_for_test"
    db.session.commit()
    run(app, clock, 1)
    position = db.session.scalars(select(Position)).one()
    (trade,) = fake_v20.open_trades()
    sent_stop = trade["stopLossOrder"]["price"]
    # The fill is at the ask, not the last close: LTS moved the levels with it.
    assert f"{position.stop_loss:.5f}" != sent_stop
    assert position.stop_loss == pytest.approx(position.entry_price * 0.997, rel=1e-5)

    run(app, clock, 1)  # the next mark sends LTS's levels to OANDA
    (trade,) = fake_v20.open_trades()
    db.session.expire_all()
    position = db.session.scalars(select(Position)).one()
    assert trade["stopLossOrder"]["price"] == f"{position.stop_loss:.5f}"
    assert trade["takeProfitOrder"]["price"] == f"{position.take_profit:.5f}"
    assert trade["stopLossOrder"]["replacesOrderID"]
    puts = [p for m, p in fake_v20.requests if m == "PUT" and p.endswith("/orders")]
    assert len(puts) == 1

    run(app, clock, 2)  # in step: nothing more is sent
    assert len([p for m, p in fake_v20.requests if m == "PUT" and p.endswith("/orders")]) == 1
    # The broker's stop now fires at LTS's level, and LTS books it at OANDA's price.
    stop = float(trade["stopLossOrder"]["price"])
    fake_v20.set_price("EUR_USD", stop * 0.9995)
    run(app, clock, 1)
    db.session.expire_all()
    first = db.session.scalars(select(Position).order_by(Position.id)).first()
    assert first.status == "closed"
    assert first.exit_price == pytest.approx(stop * 0.9995 * (1 - fake_v20.half_spread),
                                             abs=1e-5)
    assert_books_agree(db, fake_v20)


def _equity_samples(db, portfolio_id: int) -> list[float]:
    from lts.models import Statistic
    from lts.trading.statistics import equity_key

    db.session.expire_all()
    return [s.value for s in db.session.scalars(select(Statistic).where(
        Statistic.key == equity_key(portfolio_id)).order_by(Statistic.timestamp))]


def test_oandas_nav_and_free_margin_are_the_portfolios_equity_and_bound_its_allocation(
        app, db, fake_v20, clock, oanda_asset):
    # The account holds less than the portfolio's capital says (a withdrawal LTS never
    # saw): the broker's figures are the truth, and allocation may not use money that
    # is not there.
    fake_v20.balance = 4_000.0
    run(app, clock, 1)
    db.session.expire_all()
    asset = db.session.get(type(oanda_asset), oanda_asset.id)
    assert asset.allocated_capital == pytest.approx(4_000.0)
    (trade,) = fake_v20.open_trades()
    assert float(trade["currentUnits"]) * float(trade["price"]) <= 4_000.0
    clock.now -= timedelta(minutes=1)  # the broker's NAV at the tick's time
    summary = fake_v20.summary()
    assert _equity_samples(db, asset.portfolio_id) == [pytest.approx(float(summary["NAV"]))]
    assert_books_agree(db, fake_v20)


def test_a_loss_only_the_broker_books_trips_the_drawdown_limit(
        app, db, fake_v20, clock, oanda_asset):
    fake_v20.balance = 10_000.0
    portfolio = oanda_asset.portfolio
    portfolio.max_drawdown_pct = 20.0
    db.session.commit()
    run(app, clock, 1)
    assert portfolio.risk_state == "active"
    fake_v20.balance -= 3_000.0  # financing and fees: in OANDA's NAV, not in LTS's books
    run(app, clock, 1)
    db.session.expire_all()
    assert db.session.get(type(portfolio), portfolio.id).risk_state == "halted"
    row = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "portfolio.kill_switch")).one()
    assert row.details["trigger"] == "max_drawdown_pct"
    clock.now -= timedelta(minutes=1)
    assert row.details["equity"] == pytest.approx(float(fake_v20.summary()["NAV"]))


def test_a_paper_portfolio_keeps_lts_own_equity(app, db):
    from lts.trading.broker_accounts import reports_account

    asset = gen_asset(gen_portfolio(gen_user()), "EUR/USD")
    tick_once(app, START)
    samples = _equity_samples(db, asset.portfolio_id)
    assert samples == [pytest.approx(10_000.0)]
    assert not reports_account(get_registry(app).create("broker", "paper", {}))
