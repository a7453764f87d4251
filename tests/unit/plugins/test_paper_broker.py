"""Paper broker arithmetic (SPEC 2a): spread, slippage, commission, exits, limits, book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from lts.models import PaperOrder
from lts.plugins.base import AssetInfo, MarketSnapshot, OrderRequest, PositionInfo
from lts.plugins.broker.paper import PaperBroker

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def bars(*rows: tuple[float, float, float, float], start: datetime = T0) -> pd.DataFrame:
    """Bars one minute apart from ``start``: (open, high, low, close) each."""
    index = pd.date_range(start=start, periods=len(rows), freq="1min", name="time")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 100.0
    return frame


def snap(candles: pd.DataFrame) -> MarketSnapshot:
    """A snapshot as of the end of the newest (1-minute) bar."""
    return MarketSnapshot("TEST", candles,
                          candles.index[-1].to_pydatetime() + timedelta(minutes=1))


def order(asset: AssetInfo, snapshot: MarketSnapshot | None, side: str = "buy",
          quantity: float = 10.0, cid: str = "lts-1-1-0", **extra: object) -> OrderRequest:
    return OrderRequest(client_order_id=cid, asset=asset, side=side,  # type: ignore[arg-type]
                        quantity=quantity, snapshot=snapshot, **extra)  # type: ignore[arg-type]


def position(side: str = "long", *, stop: float | None = 99.0, target: float | None = 101.0,
             opened_at: datetime = T0, pid: int = 7, quantity: float = 10.0) -> PositionInfo:
    return PositionInfo(id=pid, asset_id=0, side=side, quantity=quantity,  # type: ignore[arg-type]
                        entry_price=100.0, opened_at=opened_at, stop_loss=stop,
                        take_profit=target)


@pytest.fixture
def broker(db) -> PaperBroker:  # type: ignore[no-untyped-def]
    return PaperBroker({"spread_bps": 10.0, "slippage_bps": 5.0, "commission_fixed": 1.0,
                        "commission_pct": 0.1})


def held(asset: AssetInfo, **kwargs: object) -> PositionInfo:
    """A position on ``asset``."""
    pos = position(**kwargs)  # type: ignore[arg-type]
    return PositionInfo(**{**pos.__dict__, "asset_id": asset.id})


def test_market_buy_pays_half_spread_plus_slippage_and_commission(broker, asset_info):
    # close 100; half spread 5 bp + slippage 5 bp = 10 bp -> 100.10;
    # commission 1 + 0.1% x 10 x 100.10 = 2.001
    result = broker.submit(order(asset_info, snap(bars((100, 100, 100, 100)))))
    assert result.status == "filled"
    (fill,) = result.fills
    assert fill.price == pytest.approx(100.10)
    assert fill.commission == pytest.approx(2.001)
    assert fill.quantity == 10.0


def test_market_sell_fills_below_the_last_close(broker, asset_info):
    result = broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), "sell"))
    assert result.fills[0].price == pytest.approx(99.90)
    assert result.fills[0].commission == pytest.approx(1 + 0.001 * 10 * 99.90)


def test_stop_loss_wins_when_one_bar_touches_both(broker, asset_info):
    candles = bars((100, 100, 100, 100), (100, 101.5, 98.5, 100))
    (fill,) = broker.mark(asset_info, snap(candles), [held(asset_info)])
    assert fill.reason == "stop_loss"
    assert fill.price == 99.0
    assert fill.position_id == 7
    assert fill.commission == pytest.approx(1 + 0.001 * 10 * 99.0)


def test_a_gap_through_the_stop_fills_at_the_open(broker, asset_info):
    candles = bars((100, 100, 100, 100), (97, 97.5, 96, 97))
    (fill,) = broker.mark(asset_info, snap(candles), [held(asset_info)])
    assert (fill.reason, fill.price) == ("stop_loss", 97.0)


def test_take_profit_fills_at_the_target_or_a_better_open(broker, asset_info):
    candles = bars((100, 100, 100, 100), (100, 101.2, 99.5, 101))
    (fill,) = broker.mark(asset_info, snap(candles), [held(asset_info)])
    assert (fill.reason, fill.price) == ("take_profit", 101.0)
    gap = bars((100, 100, 100, 100), (102, 102.5, 101.8, 102))
    (fill,) = broker.mark(asset_info, snap(gap), [held(asset_info, pid=8)])
    assert (fill.reason, fill.price) == ("take_profit", 102.0)


def test_short_exits_mirror_the_long_ones(broker, asset_info):
    short = held(asset_info, side="short", stop=101.0, target=99.0)
    both = bars((100, 100, 100, 100), (100, 101.2, 98.8, 100))
    (fill,) = broker.mark(asset_info, snap(both), [short])
    assert (fill.reason, fill.price) == ("stop_loss", 101.0)
    winner = held(asset_info, side="short", stop=101.0, target=99.0, pid=9)
    falling = bars((100, 100, 100, 100), (99.6, 99.8, 98.9, 99.1))
    (fill,) = broker.mark(asset_info, snap(falling), [winner])
    assert (fill.reason, fill.price) == ("take_profit", 99.0)
    # Short P&L as the engine books it: (entry - exit) x qty - commissions.
    entry = broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), "sell",
                                cid="short-open")).fills[0]
    assert entry.price == pytest.approx(99.9)
    pnl = (entry.price - fill.price) * 10 - entry.commission - fill.commission
    assert pnl == pytest.approx((99.9 - 99.0) * 10 - (1 + 0.999) - (1 + 0.99))


def test_bars_before_the_opening_never_trigger_exits_the_bar_from_it_does(
        broker, asset_info):
    candles = bars((100, 100, 100, 100), (100, 101.5, 98.5, 100))
    last = candles.index[-1].to_pydatetime()
    opened_after_last_bar = held(asset_info, opened_at=last + timedelta(minutes=1))
    assert broker.mark(asset_info, snap(candles), [opened_after_last_bar]) == []
    # Opened as the last bar began (the decision's bar ended then): that bar is checked.
    (fill,) = broker.mark(asset_info, snap(candles), [held(asset_info, opened_at=last, pid=8)])
    assert (fill.reason, fill.time) == ("stop_loss", last)


def test_a_market_fill_is_as_of_the_end_of_the_last_complete_bar(broker, asset_info):
    candles = bars((100, 100, 100, 100), (100, 100, 100, 100))
    late = MarketSnapshot("TEST", candles, T0 + timedelta(minutes=2, seconds=40))
    (fill,) = broker.submit(order(asset_info, late)).fills
    assert fill.time == T0 + timedelta(minutes=2)  # the 15:01 bar ended at 15:02


def test_an_exit_is_booked_once_and_reported_until_recorded(broker, asset_info, db):
    candles = bars((100, 100, 100, 100), (100, 100.5, 98.5, 99))
    first = broker.mark(asset_info, snap(candles), [held(asset_info)])
    more = bars((100, 100, 100, 100), (100, 100.5, 98.5, 99), (99, 99.2, 90, 91))
    again = broker.mark(asset_info, snap(more), [held(asset_info)])
    assert first == again  # same exit, same price: the first trigger stands
    db.session.rollback()  # end the test session's read snapshot
    count = db.session.scalar(select(func.count()).select_from(PaperOrder))
    assert count == 1
    assert broker.mark(asset_info, snap(more), []) == []


def test_limit_buy_rests_then_fills_at_the_limit_or_a_better_open(broker, asset_info):
    placed = bars((100, 100, 100, 100))
    result = broker.submit(order(asset_info, snap(placed), order_type="limit", price=99.0,
                                 cid="limit-1"))
    assert result.status == "submitted" and not result.fills
    assert broker.mark(asset_info, snap(bars((100, 100.5, 99.2, 99.5))), []) == []
    touched = bars((100, 100, 100, 100), (99.5, 99.6, 98.9, 99.2))
    (fill,) = broker.mark(asset_info, snap(touched), [])
    assert (fill.client_order_id, fill.price, fill.reason) == ("limit-1", 99.0, "limit")
    assert broker.lookup(asset_info, "limit-1").status == "filled"
    assert broker.mark(asset_info, snap(touched), []) == []  # reported once

    broker.submit(order(asset_info, snap(placed), order_type="limit", price=99.0,
                        cid="limit-2"))
    gapped = bars((100, 100, 100, 100), (98.5, 98.8, 98.0, 98.2))
    (fill,) = broker.mark(asset_info, snap(gapped), [])
    assert (fill.client_order_id, fill.price) == ("limit-2", 98.5)


def test_limit_sell_fills_when_a_later_bar_trades_through(broker, asset_info):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), "sell",
                        order_type="limit", price=101.0, cid="limit-sell"))
    (fill,) = broker.mark(asset_info, snap(bars((100, 100, 100, 100),
                                                (100.5, 101.3, 100.4, 101))), [])
    assert fill.price == 101.0


def test_stop_entry_triggers_at_the_stop_or_the_gap_open(broker, asset_info):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), order_type="stop",
                        price=101.0, cid="stop-in"))
    (fill,) = broker.mark(asset_info, snap(bars((100, 100, 100, 100),
                                                (101.5, 102, 101.4, 101.8))), [])
    assert (fill.client_order_id, fill.price, fill.reason) == ("stop-in", 101.5, "stop")


def test_cancelled_limit_never_fills(broker, asset_info):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), order_type="limit",
                        price=99.0, cid="to-cancel"))
    assert broker.cancel(asset_info, "to-cancel").status == "cancelled"
    assert broker.mark(asset_info, snap(bars((100, 100, 100, 100), (99, 99, 98, 98))), []) == []


def test_leverage_sets_how_much_an_allocation_may_buy(db, asset_info):
    broker = PaperBroker({"leverage": 2.0})
    market = snap(bars((100, 100, 100, 100)))
    assert broker.submit(order(asset_info, market, quantity=200, cid="lev-ok")).status \
        == "filled"
    rejected = broker.submit(order(asset_info, market, quantity=201, cid="lev-too-much"))
    assert rejected.status == "rejected"
    assert "exceeds" in rejected.message


def test_closing_orders_are_not_limited_by_the_allocation(broker, asset_info):
    pos = held(asset_info, quantity=500.0)
    result = broker.close(pos, order(asset_info, snap(bars((100, 100, 100, 100))), "sell",
                                     quantity=500.0, cid="close-big",
                                     closes_position_id=pos.id))
    assert result.status == "filled"
    assert result.fills[0].position_id == pos.id


def test_closing_with_the_wrong_side_is_rejected(broker, asset_info):
    pos = held(asset_info)
    result = broker.close(pos, order(asset_info, snap(bars((100, 100, 100, 100))), "buy",
                                     cid="close-wrong", closes_position_id=pos.id))
    assert result.status == "rejected"


def test_close_after_an_exit_is_refused(broker, asset_info):
    pos = held(asset_info)
    broker.mark(asset_info, snap(bars((100, 100, 100, 100), (97, 97, 96, 96))), [pos])
    result = broker.close(pos, order(asset_info, snap(bars((96, 96, 96, 96))), "sell",
                                     cid="close-late", closes_position_id=pos.id))
    assert result.status == "rejected" and "stop loss" in result.message


def test_the_book_survives_a_new_broker_instance(broker, asset_info, db):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), cid="before-restart"))
    db.session.remove()
    restarted = PaperBroker()
    found = restarted.lookup(asset_info, "before-restart")
    assert found.status == "filled" and found.fills[0].price == pytest.approx(100.10)
    assert restarted.lookup(asset_info, "never-sent").status == "not_found"
    again = restarted.submit(order(asset_info, snap(bars((50, 50, 50, 50))),
                                   cid="before-restart"))
    assert again.fills[0].price == pytest.approx(100.10)  # idempotent across restarts


def test_orders_without_a_price_are_rejected_not_raised(broker, asset_info):
    assert broker.submit(order(asset_info, None, cid="no-snapshot")).status == "rejected"
    assert broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))),
                               order_type="limit", cid="no-limit")).status == "rejected"
    assert broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), quantity=0,
                               cid="zero")).status == "rejected"


@pytest.mark.parametrize(("sent", "stored"), [(0, 0.0), (-5.0, -5.0), (float("nan"), 0.0)])
def test_a_rejected_quantity_is_booked_as_sent_and_named(broker, asset_info, db, sent, stored):
    from lts.models import PaperOrder

    result = broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), quantity=sent,
                                 cid=f"bad-{stored}"))
    assert result.status == "rejected"
    assert "quantity must be a positive number" in result.message
    db.session.rollback()  # end the test's read snapshot: the broker wrote in its own
    row = db.session.query(PaperOrder).filter_by(client_order_id=f"bad-{stored}").one()
    assert row.quantity == stored
    assert broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), quantity=sent,
                               cid=f"bad-{stored}")).status == "rejected"  # idempotent


def test_lookup_of_another_assets_order_is_not_found(broker, asset_info):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), cid="mine"))
    other = AssetInfo(id=asset_info.id + 1000, portfolio_id=1, symbol="X", name="X",
                      allocated_capital=1.0)
    assert broker.lookup(other, "mine").status == "not_found"


def test_later_bars_only(broker, asset_info):
    # A limit placed as the T0+1 bar ended ignores that bar even though it crosses.
    placed = bars((100, 100, 100, 100), (100, 100, 98, 99))
    broker.submit(order(asset_info, snap(placed), order_type="limit", price=99.0,
                        cid="late-limit"))
    assert broker.mark(asset_info, snap(placed), []) == []
    assert placed.index[-1] == T0 + timedelta(minutes=1)


# --------------------------------------------------- every bar since the last check


class Loader:
    """A ``snapshot.history`` stand-in that records what it was asked."""

    def __init__(self, frame: pd.DataFrame | None = None, error: Exception | None = None):
        self.frame, self.error, self.calls = frame, error, []

    def __call__(self, start: datetime, end: datetime) -> pd.DataFrame:
        self.calls.append((start, end))
        if self.error is not None:
            raise self.error
        return self.frame[(self.frame.index >= start) & (self.frame.index < end)]


def flat_then(dips: dict[int, tuple[float, float, float, float]], minutes: int = 20
              ) -> pd.DataFrame:
    """``minutes`` 1-minute bars from T0 at 100, with the bars at minute k replaced."""
    return bars(*[dips.get(k, (100, 100, 100, 100)) for k in range(minutes)])


def window(frame: pd.DataFrame, last: int, size: int = 5, loader=None) -> MarketSnapshot:
    """The snapshot of the ``size`` bars ending at minute ``last``, with a history loader."""
    candles = frame.iloc[last - size + 1:last + 1]
    return MarketSnapshot("TEST", candles, candles.index[-1].to_pydatetime(), history=loader)


def test_a_stop_crossed_before_the_window_fires_on_that_bar_through_history(
        broker, asset_info):
    frame = flat_then({2: (100, 100, 90, 99)})
    loader = Loader(frame)
    (fill,) = broker.mark(asset_info, window(frame, 10, loader=loader), [held(asset_info)])
    assert (fill.reason, fill.price, fill.time) == ("stop_loss", 99.0,
                                                    T0 + timedelta(minutes=2))
    assert loader.calls == [(T0, T0 + timedelta(minutes=6))]


def test_no_gap_no_history_call(broker, asset_info):
    frame = flat_then({})
    loader = Loader(frame)
    assert broker.mark(asset_info, window(frame, 4, loader=loader), [held(asset_info)]) == []
    assert loader.calls == []


def test_a_failing_loader_leaves_the_window_checked(broker, asset_info):
    from lts.plugins.base import PluginError

    frame = flat_then({2: (100, 100, 90, 99), 8: (100, 100, 98, 99)})
    loader = Loader(error=PluginError("no bars today"))
    (fill,) = broker.mark(asset_info, window(frame, 10, loader=loader), [held(asset_info)])
    assert (fill.price, fill.time) == (99.0, T0 + timedelta(minutes=8))
    assert len(loader.calls) == 1


def test_checked_bars_are_remembered_only_when_it_matters(broker, asset_info, db):
    from lts.models import PaperPositionCheck

    frame = flat_then({})
    position = held(asset_info, opened_at=T0 + timedelta(minutes=7))
    broker.mark(asset_info, window(frame, 9, size=10), [position])  # in the newer half
    db.session.rollback()
    assert db.session.get(PaperPositionCheck, position.id) is None
    broker.mark(asset_info, window(frame, 15, loader=Loader(frame)), [position])  # a gap
    db.session.rollback()
    assert db.session.get(PaperPositionCheck, position.id).last_checked_bar == \
        T0 + timedelta(minutes=15)
    # Next time only the bars after 15 are asked for: a dip before it is history.
    loader = Loader(flat_then({12: (100, 100, 90, 99)}))
    assert broker.mark(asset_info, window(frame, 19, size=3, loader=loader), [position]) == []
    assert loader.calls == [(T0 + timedelta(minutes=15, seconds=1),
                             T0 + timedelta(minutes=17))]


def test_a_resting_limit_fills_on_the_bar_before_the_window_that_crossed_it(
        broker, asset_info, db):
    placed = bars((100, 100, 100, 100))
    broker.submit(order(asset_info, snap(placed), order_type="limit", price=98.0,
                        cid="limit-gap"))
    frame = flat_then({3: (99, 99, 97.5, 98.5), 12: (97, 97, 96, 96)})
    (fill,) = broker.mark(asset_info, window(frame, 14, loader=Loader(frame)), [])
    assert (fill.client_order_id, fill.price, fill.time) == ("limit-gap", 98.0,
                                                             T0 + timedelta(minutes=3))


def test_a_resting_order_remembers_its_checked_bars(broker, asset_info, db):
    broker.submit(order(asset_info, snap(bars((100, 100, 100, 100))), order_type="limit",
                        price=90.0, cid="limit-far"))
    frame = flat_then({})
    assert broker.mark(asset_info, window(frame, 12, loader=Loader(frame)), []) == []
    db.session.rollback()
    row = db.session.query(PaperOrder).filter_by(client_order_id="limit-far").one()
    assert row.last_checked_bar == T0 + timedelta(minutes=12)


# --------------------------------------------------------------- mark_many (issue 16)

def _sibling(asset_row, symbol: str) -> AssetInfo:  # type: ignore[no-untyped-def]
    """Another asset of ``asset_row``'s portfolio."""
    from tests.factories import gen_asset

    row = gen_asset(asset_row.portfolio, symbol, allocated_capital=10_000.0)
    return AssetInfo(id=row.id, portfolio_id=row.portfolio_id, symbol=symbol, name=symbol,
                     allocated_capital=10_000.0)


def _count_statements(db):  # type: ignore[no-untyped-def]
    """A list that collects the SELECTs run on the app's engine (listen/remove pair)."""
    from sqlalchemy import event

    seen: list[str] = []

    def before(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", before)


def test_mark_many_answers_like_mark_per_asset_from_one_read(broker, asset_info, asset_row,
                                                             db):
    other = _sibling(asset_row, "OTHER")
    idle = _sibling(asset_row, "IDLE")
    placed = snap(bars((100, 100, 100, 100)))
    broker.submit(order(other, placed, order_type="limit", price=99.0, cid="limit-other"))
    broker.submit(order(asset_info, placed, order_type="limit", price=90.0, cid="limit-far"))
    dip = snap(bars((100, 100, 100, 100), (100, 100.5, 98.5, 99)))
    stopped = held(asset_info)  # stop 99: the dip stops it
    kept = PositionInfo(**{**held(other, stop=95.0, pid=8).__dict__})  # stop 95: stays
    seen, stop = _count_statements(db)
    try:
        answers = broker.mark_many([(asset_info, dip, [stopped]), (other, dip, [kept]),
                                    (idle, dip, [])])
    finally:
        stop()
    assert [[(f.client_order_id, f.price, f.reason) for f in a] for a in answers] == [
        [("paper-exit-7", 99.0, "stop_loss")],
        [("limit-other", 99.0, "limit")],
        [],
    ]
    # Two reads for the three assets' books (orders, position checks), and one more for
    # the filled limit's row: per asset it was two reads each.
    assert len(seen) == 3
    assert broker.lookup(other, "limit-other").status == "filled"
    assert broker.lookup(asset_info, "limit-far").status == "submitted"
    # The booked exit is reported again, to its own asset only, until recorded.
    again = broker.mark_many([(other, dip, [kept]), (asset_info, dip, [stopped])])
    assert again[0] == []
    assert [f.client_order_id for f in again[1]] == ["paper-exit-7"]


def test_mark_many_fails_one_asset_alone(broker, asset_info, asset_row):
    other = _sibling(asset_row, "OTHER")
    placed = snap(bars((100, 100, 100, 100)))
    broker.submit(order(asset_info, placed, order_type="limit", price=99.0, cid="limit-a"))
    broker.submit(order(other, placed, order_type="limit", price=99.0, cid="limit-b"))
    dip = bars((100, 100, 100, 100), (100, 100.5, 98.5, 99))
    broken = MarketSnapshot("TEST", dip.drop(columns=["low"]),
                            dip.index[-1].to_pydatetime() + timedelta(minutes=1))
    first, second = broker.mark_many([(asset_info, broken, []), (other, snap(dip), [])])
    assert isinstance(first, KeyError)
    assert [f.client_order_id for f in second] == ["limit-b"]
    assert broker.lookup(asset_info, "limit-a").status == "submitted"


def test_mark_many_of_the_memory_book_uses_its_own_mark(asset_info):
    from lts.plugins.broker.paper_memory import MemoryPaperBroker

    memory = MemoryPaperBroker({"spread_bps": 10.0, "slippage_bps": 5.0})
    memory.submit(order(asset_info, snap(bars((100, 100, 100, 100))), order_type="limit",
                        price=99.0, cid="limit-m"))
    (answer,) = memory.mark_many([(asset_info, snap(bars((100, 100, 100, 100),
                                                         (100, 100.5, 98.5, 99))), [])])
    assert [f.client_order_id for f in answer] == ["limit-m"]
