"""Broker ``paper`` (the default): simulated fills, booked in the ``paper_orders`` table.

Fill rules (SPEC 2a), with every cost in basis points (1 bp = 0.01 %) of the price so one
config fits a 1.10 currency pair and a 4,000 index alike:

- **market** orders fill at once at the snapshot's last close moved against the trader
  by ``spread_bps / 2 + slippage_bps``: a buy at ``close * (1 + c)``, a sell at
  ``close * (1 - c)`` with ``c = (spread_bps / 2 + slippage_bps) / 10_000``, as of the
  end of that (last complete) bar;
- **bar time** (SPEC 2a, :mod:`lts.plugins.bars`): bars are stamped by period start, so
  every check below starts with the first bar stamped at or after the fill (or the
  placing of a resting order), the bar that began when the decision's bar ended;
- **limit** orders rest and fill on the first later bar that trades through the limit,
  at the limit or at the bar's open when the open is better (a gap in the trader's
  favour); **stop** entry orders likewise trigger on the first later bar through the
  stop, at the stop or at the open when the bar gaps past it;
- **stop loss / take profit** of open positions are checked by :meth:`PaperBroker.mark`
  on every bar from the position's opening on, oldest first, however long ago the
  previous check was (see "Every bar" below): a long stops when
  low <= stop (a short when high >= stop), takes profit when high >= target (short: low
  <= target). When one bar touches both, the stop wins. A bar opening beyond the stop
  fills at its open, not at the stop price. These exits pay no spread or slippage;
- **precision**: with ``price_decimals`` set, every fill price (market, limit, stop,
  exit) is rounded half-even to it, and :meth:`PaperBroker.instrument` tells LTS so that
  limit prices, stop losses and take profits are stored on the same grid; with
  ``quantity_decimals`` set, LTS rounds sized quantities down to it
  (:mod:`lts.plugins.precision`). Both default to empty: no rounding;
- every fill pays ``commission_fixed + commission_pct / 100 * quantity * fill price``;
- an opening order may not cost more than ``allocated_capital * leverage`` at the
  reference price (the last close for market orders, the limit or stop price
  otherwise): such an order is rejected, never shrunk.

Each ``submit``/``close``/``mark`` writes its records in its own short transaction on
its own connection, never inside the caller's session, so the book survives restarts
and ``lookup``/``reconcile`` answer from it: that is what the engine's crash-safety
reconciliation relies on. ``submit`` is idempotent on ``client_order_id``: a second
submit returns the first answer and trades nothing.

``mark`` reports the fills it makes, and again the stop-loss / take-profit exit of any
position the caller still passes as open, so an exit the engine missed (crash) is
reported until the engine records it; exits have the client id ``paper-exit-<id>``.

**Every bar** (SPEC 2a, "Protection never lapses"): the book keeps, per resting order
and per position it watches, the newest bar it checked. When the snapshot's window
does not reach back to it (the loop was down, or the portfolio runs less often than
its lookback), ``mark`` loads the missing bars through ``snapshot.history`` (the
pipeline's ``bars()``, handed over by the engine) and checks them first. Bars that
cannot be loaded were reported by the engine's loader; the check then goes on with the
bars it has. Checking a bar twice is harmless (a bar that had triggered booked its fill
then), so the newest-bar mark is written only when it matters: after a gap, or once it
falls into the older half of the window, which spares a write on most ticks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate
from sqlalchemy import Connection, Select, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lts.models.paper import PaperOrder, PaperPositionCheck
from lts.models.types import utcnow
from lts.plugins.bars import bar_end, bar_period
from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    BrokerResult,
    BrokerState,
    Fill,
    InstrumentSpec,
    MarketSnapshot,
    OrderRequest,
    PluginError,
    PositionInfo,
)
from lts.plugins.broker._sizing import leverage_field, lot_step_field
from lts.plugins.precision import round_price

log = logging.getLogger(__name__)
_TABLE = PaperOrder.__table__
_CHECKS = PaperPositionCheck.__table__
_CHECKS_OF_ASSET = select(_CHECKS.c.position_id, _CHECKS.c.last_checked_bar).where(
    _CHECKS.c.asset_id == bindparam("asset_id"))
_INSERT_CHECK = insert(_CHECKS)
_ADVANCE_CHECK = (update(_CHECKS)
                  .where(_CHECKS.c.position_id == bindparam("b_position_id"),
                         _CHECKS.c.last_checked_bar < bindparam("b_bar"))
                  .values(last_checked_bar=bindparam("b_bar")))
_ADVANCE_ORDER = (update(_TABLE)
                  .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.status == "submitted",
                         or_(_TABLE.c.last_checked_bar.is_(None),
                             _TABLE.c.last_checked_bar < bindparam("b_bar")))
                  .values(last_checked_bar=bindparam("b_bar")))
_FORGET_CHECK = delete(_CHECKS).where(_CHECKS.c.position_id == bindparam("position_id"))
_PRICE_COLUMNS = ["open", "high", "low", "close"]
#: Checks cover bars stamped *after* a moment; the first one starts *at* the opening.
_INSTANT = timedelta(microseconds=1)
_BY_CLIENT_ID = select(_TABLE).where(_TABLE.c.client_order_id == bindparam("client_order_id"))
# OR-ed equalities, not an expanding IN: that one is re-rendered into SQL text at every
# execution, and this runs for every asset on every tick.
_RESTING_CONDITION = and_(_TABLE.c.asset_id == bindparam("asset_id"),
                          _TABLE.c.status == "submitted",
                          or_(_TABLE.c.order_type == "limit", _TABLE.c.order_type == "stop"))
_RESTING = select(_TABLE).where(_RESTING_CONDITION).order_by(_TABLE.c.id)
_RESTING_OR_EXITS = select(_TABLE).where(or_(
    _RESTING_CONDITION,
    and_(_TABLE.c.asset_id == bindparam("asset_id"),
         _TABLE.c.client_order_id.in_(bindparam("exit_ids", expanding=True))),
)).order_by(_TABLE.c.id)
# The same for a batch of assets (:meth:`PaperBroker.mark_many`): one expanding IN per
# batch, not per asset.
_RESTING_OF_ASSETS = and_(_TABLE.c.asset_id.in_(bindparam("asset_ids", expanding=True)),
                          _TABLE.c.status == "submitted",
                          or_(_TABLE.c.order_type == "limit", _TABLE.c.order_type == "stop"))
_RESTING_MANY = select(_TABLE).where(_RESTING_OF_ASSETS).order_by(_TABLE.c.id)
_RESTING_OR_EXITS_MANY = select(_TABLE).where(or_(
    _RESTING_OF_ASSETS,
    and_(_TABLE.c.asset_id.in_(bindparam("asset_ids", expanding=True)),
         _TABLE.c.client_order_id.in_(bindparam("exit_ids", expanding=True))),
)).order_by(_TABLE.c.id)
_CHECKS_OF_ASSETS = select(_CHECKS.c.asset_id, _CHECKS.c.position_id,
                           _CHECKS.c.last_checked_bar).where(
    _CHECKS.c.asset_id.in_(bindparam("asset_ids", expanding=True)))
# Built once, columns from the parameters' keys: building ``.values(**row)`` per order
# (coercion and cache key of every value) cost a third of a submit.
_INSERT = insert(_TABLE)
_INSERT_RETURNING = insert(_TABLE).returning(*_TABLE.c)
_BPS = 10_000.0
_CAPITAL_TOLERANCE = 1e-9
EXIT_PREFIX = "paper-exit-"


class PaperConfig(marshmallow.Schema):
    """Costs and leverage of the simulated exchange."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    spread_bps = fields.Float(load_default=2.0, validate=validate.Range(min=0, max=10_000),
                              metadata={"description": "Bid-ask spread in basis points of "
                                                       "the price; market orders pay half."})
    slippage_bps = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=10_000),
                                metadata={"description": "Extra adverse move of market "
                                                         "fills, in basis points."})
    commission_fixed = fields.Float(load_default=0.0, validate=validate.Range(min=0),
                                    metadata={"description": "Commission per fill, in the "
                                                             "account currency."})
    commission_pct = fields.Float(load_default=0.01, validate=validate.Range(min=0, max=100),
                                  metadata={"description": "Commission per fill in percent "
                                                           "of its notional (0.01 = 1 bp)."})
    leverage = leverage_field(1000)
    lot_step = lot_step_field()
    price_decimals = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=10),
        metadata={"description": "Decimals of the simulated exchange's prices (5 for "
                                 "EUR/USD, 2 for an index): fills, limits, stop losses "
                                 "and take profits are rounded half-even to them. Empty: "
                                 "prices as computed."})
    quantity_decimals = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=10),
        metadata={"description": "Decimals of an order quantity (0: whole units): sized "
                                 "quantities are rounded down to them. Empty: lot_step "
                                 "alone."})


def _iso(value: datetime | None) -> str | None:
    """Render a timestamp for JSON."""
    return value.isoformat() if value is not None else None


def since_opening(moment: datetime) -> datetime:
    """The check mark before any bar was checked: just before ``moment``.

    Bars are checked when stamped after the mark, so the bar stamped exactly at the
    fill (it began as the decision's bar ended) is the first one checked.
    """
    return moment - _INSTANT


def _finite_positive(value: float | None) -> bool:
    """Tell whether ``value`` is a finite number above zero."""
    return value is not None and math.isfinite(value) and value > 0


def _is_resting(row: Mapping[str, Any]) -> bool:
    """Tell whether a book row is a resting order (:data:`_RESTING_CONDITION`)."""
    return row["status"] == "submitted" and row["order_type"] in ("limit", "stop")


def _first_cross(candles: pd.DataFrame, after: datetime, side: str, order_type: str,
                 price: float) -> tuple[datetime, float] | None:
    """Find the first bar after ``after`` that fills a resting order; its time and price."""
    start = candles.index.searchsorted(pd.Timestamp(after), side="right")
    if start >= len(candles):
        return None
    opens = candles["open"].to_numpy()[start:]
    highs = candles["high"].to_numpy()[start:]
    lows = candles["low"].to_numpy()[start:]
    buy = side == "buy"
    if order_type == "limit":
        hit = lows <= price if buy else highs >= price
    else:  # stop entry
        hit = highs >= price if buy else lows <= price
    if not hit.any():
        return None
    first = int(np.argmax(hit))
    bar_open = float(opens[first])
    if order_type == "limit":
        fill = min(price, bar_open) if buy else max(price, bar_open)
    else:
        fill = max(price, bar_open) if buy else min(price, bar_open)
    return candles.index[start + first].to_pydatetime(), fill


def exit_trigger(candles: pd.DataFrame, position: PositionInfo,
                 after: datetime | None = None) -> tuple[datetime, float, str] | None:
    """Find the first bar after ``after`` that hits a stop or target, from the opening on.

    Returns (bar time, fill price, ``stop_loss`` | ``take_profit``), or None. The stop
    wins when one bar touches both; a bar opening beyond a level fills at its open.
    """
    stop, target = position.stop_loss, position.take_profit
    if not _finite_positive(stop) and not _finite_positive(target):
        return None
    opening = since_opening(position.opened_at)
    since = opening if after is None else max(after, opening)
    start = candles.index.searchsorted(pd.Timestamp(since), side="right")
    if start >= len(candles):
        return None
    opens = candles["open"].to_numpy()[start:]
    highs = candles["high"].to_numpy()[start:]
    lows = candles["low"].to_numpy()[start:]
    long = position.side == "long"
    stop_hit = np.zeros(len(opens), dtype=bool)
    target_hit = np.zeros(len(opens), dtype=bool)
    if _finite_positive(stop):
        stop_hit = lows <= stop if long else highs >= stop
    if _finite_positive(target):
        target_hit = highs >= target if long else lows <= target
    hit = stop_hit | target_hit
    if not hit.any():
        return None
    first = int(np.argmax(hit))
    bar_open = float(opens[first])
    when = candles.index[start + first].to_pydatetime()
    if stop_hit[first]:
        assert stop is not None
        price = min(stop, bar_open) if long else max(stop, bar_open)
        return when, price, "stop_loss"
    assert target is not None
    price = max(target, bar_open) if long else min(target, bar_open)
    return when, price, "take_profit"


def _next_second(moment: datetime) -> datetime:
    """The first whole second after ``moment``: where bars not yet checked may start.

    Bars sit on grids of whole seconds, so asking from there misses none and reads well
    in the audit of a range that could not be loaded.
    """
    return (moment + timedelta(seconds=1)).replace(microsecond=0)


def _bars_since(snapshot: MarketSnapshot, since: datetime) -> tuple[pd.DataFrame, bool]:
    """The snapshot's bars, preceded by the older ones since ``since`` it lacks.

    Returns (bars, gap): ``gap`` tells that the window did not reach back to ``since``
    (whether the older bars could be loaded or not). Bars are asked of
    ``snapshot.history`` from the first second after ``since`` to the window's first
    bar; a failure was reported by the engine's loader, and the check goes on with the
    window alone.
    """
    candles = snapshot.candles
    first = candles.index[0]
    moment = pd.Timestamp(since)
    period = bar_period(candles.index)
    if first <= moment or (period is not None and first - moment <= period):
        return candles, False
    if snapshot.history is None:
        log.warning("%s: bars from %s to %s are not in the window and no history loader "
                    "was given: they are not checked", snapshot.symbol, since, first)
        return candles, True
    try:
        older = snapshot.history(_next_second(since), first.to_pydatetime())
    except PluginError as exc:
        log.warning("%s: checking without the bars from %s to %s: %s", snapshot.symbol,
                    since, first, exc)
        return candles, True
    older = older.loc[(older.index > moment) & (older.index < first), _PRICE_COLUMNS]
    if older.empty:
        return candles, True
    return pd.concat([older, candles[_PRICE_COLUMNS]]), True


def _newest_checked(bars: pd.DataFrame, window: pd.DataFrame,
                    since: Mapping[tuple[str, int], datetime], gap: bool,
                    filled: Sequence[tuple[int, float, float, datetime]],
                    exits: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], datetime]:
    """The newest-checked-bar marks worth writing, by ("order"|"position", id).

    Only for items still watched (not filled now), and only after a gap or once the
    old mark falls into the older half of the window: checking again bars already
    checked finds nothing new, so most ticks write nothing.
    """
    newest = bars.index[-1].to_pydatetime()
    middle = window.index[len(window) // 2]
    done = {("order", row_id) for row_id, *_ in filled}
    done |= {("position", int(values["position_id"])) for values in exits}
    return {key: newest for key, moment in since.items()
            if key not in done and pd.Timestamp(moment) < pd.Timestamp(newest)
            and (gap or pd.Timestamp(moment) < middle)}


class PaperBroker(BrokerPlugin):
    """Simulated exchange with spread, slippage, commission and a persistent order book."""

    name = "paper"
    interface_version = "1.0"
    description = ("Simulated fills with spread, slippage and commission; SL before TP "
                   "when one bar touches both.")
    config_schema = PaperConfig

    # ---------------------------------------------------------------- pricing

    def instrument(self, asset: AssetInfo) -> InstrumentSpec | None:
        """The config's ``price_decimals`` / ``quantity_decimals``; None when neither is set.

        The memory book of backtests inherits it, so a backtest rounds as the live
        paper broker does.
        """
        spec = self.__dict__.get("_instrument_spec", False)
        if spec is False:  # worked out once: the config of an instance never changes
            prices, quantities = self.config.get("price_decimals"), \
                self.config.get("quantity_decimals")
            spec = None if prices is None and quantities is None else InstrumentSpec(
                price_decimals=None if prices is None else int(prices),
                quantity_decimals=None if quantities is None else int(quantities))
            self.__dict__["_instrument_spec"] = spec
        return spec

    def fill_price(self, price: float) -> float:
        """A simulated fill price on the exchange's grid: half-even to ``price_decimals``."""
        decimals = self.config.get("price_decimals")
        return price if decimals is None else round_price(price, int(decimals))

    def market_fill_price(self, side: str, reference: float) -> float:
        """Return the fill price of a market order: ``reference`` moved against the trader.

        Rounded to ``price_decimals`` when set (:meth:`fill_price`), like every fill.
        """
        cost = (float(self.config["spread_bps"]) / 2 + float(self.config["slippage_bps"])) / _BPS
        return self.fill_price(reference * (1 + cost) if side == "buy"
                               else reference * (1 - cost))

    def commission(self, quantity: float, price: float) -> float:
        """Return the commission of one fill."""
        return (float(self.config["commission_fixed"])
                + float(self.config["commission_pct"]) / 100.0 * quantity * price)

    def max_quantity(self, allocation: float, price: float) -> float:
        """Return the most an allocation buys at ``price`` (before lot rounding)."""
        if price <= 0 or allocation <= 0:
            return 0.0
        return allocation * float(self.config["leverage"]) / price

    # --------------------------------------------------------------- storage

    def _engine(self) -> Any:
        """Return the database engine of the current app (the book lives in its database)."""
        from lts.extensions import db

        try:
            return db.engine
        except RuntimeError as exc:  # outside an app context
            raise PluginError(f"paper broker needs an app context: {exc}") from exc

    def _write(self) -> Any:
        """Return a write transaction context: SQLite takes its write lock up front."""
        engine = self._engine()
        # Building an option engine on every call showed in profiles (one per order);
        # keep the one made for the current engine (tests and forks change engines).
        cached = getattr(self, "_write_engine", None)
        if cached is None or cached[0] is not engine:
            cached = (engine, engine.execution_options(sqlite_immediate=True))
            self._write_engine = cached
        return cached[1].begin()

    def _rows(self, condition: Any, **parameters: Any) -> list[Mapping[str, Any]]:
        """Read paper orders matching ``condition`` (a statement or a clause) briefly."""
        statement = condition if isinstance(condition, Select) else (
            select(_TABLE).where(condition).order_by(_TABLE.c.id))
        with self._engine().connect() as connection:
            result = connection.execute(statement, parameters)
            return [row._mapping for row in result]

    def _row(self, client_order_id: str) -> Mapping[str, Any] | None:
        """Return the paper order with ``client_order_id``, if any."""
        rows = self._rows(_BY_CLIENT_ID, client_order_id=client_order_id)
        return rows[0] if rows else None

    def _insert(self, values: dict[str, Any], forget_position: int | None = None
                ) -> Mapping[str, Any]:
        """Book a new order in its own transaction; on a duplicate id return the first.

        ``forget_position``: a position this order closes, whose check mark goes too.
        """
        try:
            with self._write() as connection:
                row = connection.execute(_INSERT_RETURNING, values).one()._mapping
                if forget_position is not None and row["status"] == "filled":
                    connection.execute(_FORGET_CHECK, {"position_id": forget_position})
        except IntegrityError:
            # Same client id submitted concurrently (or replayed): the first one stands.
            existing = self._row(values["client_order_id"])
            if existing is None:
                raise
            return existing
        return row

    @staticmethod
    def _fill_row(connection: Connection, row_id: int, price: float, commission: float,
                  when: datetime) -> bool:
        """Mark a resting order filled unless someone else did; tell whether we did."""
        result = connection.execute(
            update(_TABLE)
            .where(and_(_TABLE.c.id == row_id, _TABLE.c.status == "submitted"))
            .values(status="filled", fill_price=price, commission=commission, filled_at=when)
        )
        return bool(result.rowcount)

    # -------------------------------------------------------------- results

    @staticmethod
    def _fill_of(row: Mapping[str, Any]) -> Fill:
        """Return the fill of a filled paper order."""
        return Fill(
            client_order_id=row["client_order_id"],
            quantity=float(row["quantity"]),
            price=float(row["fill_price"]),
            time=row["filled_at"],
            commission=float(row["commission"]),
            position_id=row["position_id"],
            reason=row["kind"] if row["kind"] in ("stop_loss", "take_profit")
            else row["order_type"],
        )

    def result_of(self, row: Mapping[str, Any]) -> BrokerResult:
        """Return the broker answer describing a paper order."""
        raw = {
            "broker": "paper",
            "id": row["id"],
            "client_order_id": row["client_order_id"],
            "status": row["status"],
            "side": row["side"],
            "order_type": row["order_type"],
            "kind": row["kind"],
            "quantity": row["quantity"],
            "price": row["price"],
            "fill_price": row["fill_price"],
            "commission": row["commission"],
            "stop_loss": row["stop_loss"],
            "take_profit": row["take_profit"],
            "position_id": row["position_id"],
            "created_at": _iso(row["created_at"]),
            "filled_at": _iso(row["filled_at"]),
            "message": row["message"],
        }
        fills = (self._fill_of(row),) if row["status"] == "filled" else ()
        return BrokerResult(status=row["status"], broker_order_id=f"paper-{row['id']}",
                            fills=fills, message=row["message"] or "", raw=raw)

    # ------------------------------------------------------------- contract

    def submit(self, request: OrderRequest) -> BrokerResult:
        """Book and (for market orders) fill ``request``; idempotent on its client id.

        No read first: the unique ``client_order_id`` makes a repeated submit fail to
        insert, and :meth:`_insert` then answers with the first booking. That saves a
        connection round trip on every order, the common case.
        """
        return self.result_of(self._insert(self._book(request, kind=(
            "close" if request.closes_position_id is not None else "open"))))

    def _book(self, request: OrderRequest, kind: str,
              position: PositionInfo | None = None) -> dict[str, Any]:
        """Decide what happens to ``request`` and return the row to book."""
        snapshot = request.snapshot
        now = snapshot.as_of if snapshot is not None else utcnow()
        values: dict[str, Any] = {
            "client_order_id": request.client_order_id,
            "asset_id": request.asset.id,
            "side": request.side,
            "order_type": request.order_type,
            "kind": kind,
            "quantity": request.quantity,
            "price": request.price if request.order_type != "market" else None,
            "stop_loss": request.stop_loss,
            "take_profit": request.take_profit,
            "position_id": request.closes_position_id,
            "created_at": now,
            "status": "submitted",
            "commission": 0.0,
        }

        def reject(message: str) -> dict[str, Any]:
            values.update(status="rejected", message=message)
            quantity = values["quantity"]
            if not isinstance(quantity, int | float) or quantity != quantity:
                values["quantity"] = 0.0  # NaN or a non-number cannot be stored as sent
            return values

        if request.side not in ("buy", "sell"):
            return reject(f"unknown side {request.side!r}")
        if not _finite_positive(request.quantity):
            return reject(f"quantity must be a positive number, got {request.quantity!r}")
        if request.order_type == "market":
            if snapshot is None or snapshot.candles.empty:
                return reject("a market order needs a snapshot with a last price")
            reference = snapshot.last_price
        elif request.order_type in ("limit", "stop"):
            if not _finite_positive(request.price):
                return reject(f"a {request.order_type} order needs a positive price")
            assert request.price is not None
            reference = request.price
        else:
            return reject(f"unknown order type {request.order_type!r}")
        if not _finite_positive(reference):
            return reject(f"no usable price (got {reference!r})")

        if kind == "open":
            affordable = self.max_quantity(request.asset.allocated_capital, reference)
            if request.quantity > affordable * (1 + _CAPITAL_TOLERANCE):
                return reject(
                    f"quantity {request.quantity:g} exceeds what allocated capital "
                    f"{request.asset.allocated_capital:g} x leverage "
                    f"{float(self.config['leverage']):g} buys at {reference:g} "
                    f"({affordable:g})")
        elif position is not None:
            expected = "sell" if position.side == "long" else "buy"
            if request.side != expected:
                return reject(f"closing a {position.side} position needs a {expected} order")
            if request.quantity > position.quantity * (1 + _CAPITAL_TOLERANCE):
                return reject(f"quantity {request.quantity:g} exceeds the position's "
                              f"{position.quantity:g}")

        if request.order_type == "market":
            assert snapshot is not None
            price = self.market_fill_price(request.side, reference)
            values.update(status="filled", fill_price=price,
                          filled_at=bar_end(snapshot.candles, now),
                          commission=self.commission(request.quantity, price),
                          details={"reference_price": reference})
        return values

    def close(self, position: PositionInfo, request: OrderRequest) -> BrokerResult:
        """Close ``position`` with ``request`` (normally a market order of its size)."""
        existing = self._row(request.client_order_id)
        if existing is not None:
            return self.result_of(existing)
        exit_row = self._row(f"{EXIT_PREFIX}{position.id}")
        if exit_row is not None:
            return BrokerResult(
                status="rejected",
                message=f"position {position.id} was already closed by its "
                        f"{exit_row['kind'].replace('_', ' ')} ({exit_row['client_order_id']})",
                raw={"broker": "paper", "exit_client_order_id": exit_row["client_order_id"]})
        values = self._book(request, kind="close", position=position)
        values["position_id"] = position.id
        # The position is gone once this fills: its check mark goes in the same write.
        return self.result_of(self._insert(values, forget_position=position.id))

    def cancel(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Cancel a resting order; a filled or unknown one is answered as it stands."""
        with self._write() as connection:
            connection.execute(
                update(_TABLE)
                .where(and_(_TABLE.c.client_order_id == client_order_id,
                            _TABLE.c.asset_id == asset.id,
                            _TABLE.c.status == "submitted"))
                .values(status="cancelled", message="cancelled")
            )
        return self.lookup(asset, client_order_id)

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo], *, _retry: bool = False) -> list[Fill]:
        """Fill resting orders and stop/target exits the new bars trigger (see module doc)."""
        exit_ids = {f"{EXIT_PREFIX}{p.id}": p for p in positions if p.asset_id == asset.id}
        rows, checked = self._watched(asset.id, exit_ids)
        return self._mark_watched(asset, snapshot, positions, exit_ids, rows, checked,
                                  retry=_retry)

    def mark_many(self, requests: Sequence[tuple[AssetInfo, MarketSnapshot,
                                                 Sequence[PositionInfo]]]
                  ) -> list[list[Fill] | Exception]:
        """:meth:`mark` for several assets, their book read in two queries for them all.

        Each asset's fills, or the exception its marking raised (one asset's failure is
        not its neighbours'); writes stay per asset, only when something is filled or a
        check mark moves, exactly as :meth:`mark` makes them. A failing read raises: no
        asset was marked. A subclass that overrides :meth:`mark` gets its own ``mark``
        per asset (the batched read knows only this book).
        """
        if type(self).mark is not PaperBroker.mark:
            return super().mark_many(requests)
        exit_ids: list[dict[str, PositionInfo]] = [
            {f"{EXIT_PREFIX}{p.id}": p for p in positions if p.asset_id == asset.id}
            for asset, _, positions in requests]
        asset_ids = list(dict.fromkeys(asset.id for asset, _, _ in requests))
        rows, checked = self._watched_many(
            asset_ids, [cid for ids in exit_ids for cid in ids],
            [asset.id for (asset, _, _), ids in zip(requests, exit_ids, strict=True) if ids])
        answers: list[list[Fill] | Exception] = []
        seen: set[int] = set()
        for (asset, snapshot, positions), ids in zip(requests, exit_ids, strict=True):
            try:
                if asset.id in seen:  # asked twice: the read above may be stale by now
                    answers.append(self.mark(asset, snapshot, positions))
                    continue
                seen.add(asset.id)
                mine = [row for row in rows.get(asset.id, ())
                        if row["client_order_id"] in ids or _is_resting(row)]
                answers.append(self._mark_watched(
                    asset, snapshot, positions, ids, mine,
                    checked.get(asset.id, {}) if ids else {}))
            except Exception as exc:
                answers.append(exc)
        return answers

    def _mark_watched(self, asset: AssetInfo, snapshot: MarketSnapshot,
                      positions: Sequence[PositionInfo], exit_ids: Mapping[str, PositionInfo],
                      rows: Sequence[Mapping[str, Any]], checked: Mapping[int, datetime], *,
                      retry: bool = False) -> list[Fill]:
        """:meth:`mark` once the asset's watched rows and position checks are read."""
        fills: list[Fill] = []
        booked_exits: set[str] = set()
        resting: list[Mapping[str, Any]] = []
        for row in rows:
            if row["client_order_id"] in exit_ids:
                booked_exits.add(row["client_order_id"])
                fills.append(self._fill_of(row))
            else:
                resting.append(row)
        watched = [p for cid, p in exit_ids.items() if cid not in booked_exits]
        candles = snapshot.candles
        if candles.empty or not (resting or watched):
            return fills
        since = {("order", row["id"]): row["last_checked_bar"]
                 or since_opening(row["created_at"]) for row in resting}
        since.update({("position", p.id): checked.get(p.id) or since_opening(p.opened_at)
                      for p in watched})
        bars, gap = _bars_since(snapshot, min(since.values()))

        filled: list[tuple[int, float, float, datetime]] = []
        new_rows: list[dict[str, Any]] = []
        for row in resting:
            crossed = _first_cross(bars, since[("order", row["id"])], row["side"],
                                   row["order_type"], float(row["price"]))
            if crossed is not None:
                when, price = crossed
                price = self.fill_price(price)
                filled.append((row["id"], price, self.commission(row["quantity"], price), when))
        for position in watched:
            trigger = exit_trigger(bars, position, since[("position", position.id)])
            if trigger is not None:
                new_rows.append(self._exit_row(asset, position, *trigger))
        marks = _newest_checked(bars, candles, since, gap, filled, new_rows)
        if not filled and not new_rows and not marks:
            return fills
        try:
            with self._write() as connection:
                done = [row_id for row_id, price, commission, when in filled
                        if self._fill_row(connection, row_id, price, commission, when)]
                for values in new_rows:
                    connection.execute(_INSERT, values)
                    connection.execute(_FORGET_CHECK, {"position_id": values["position_id"]})
                self._write_marks(connection, asset.id, marks, checked)
        except IntegrityError:
            if retry:
                raise
            # Another caller booked the same exit first: report what the book now says.
            return self.mark(asset, snapshot, positions, _retry=True)
        if done:
            fills.extend(self._fill_of(row) for row in self._rows(_TABLE.c.id.in_(done)))
        fills.extend(self._fill_of(values) for values in new_rows)
        return fills

    def _watched(self, asset_id: int, exit_ids: Mapping[str, PositionInfo]
                 ) -> tuple[list[Mapping[str, Any]], dict[int, datetime]]:
        """Resting orders and booked exits of the asset, and its positions' newest checks."""
        with self._engine().connect() as connection:
            # Statements built once (this runs for every asset on every tick).
            if exit_ids:
                result = connection.execute(_RESTING_OR_EXITS, {
                    "asset_id": asset_id, "exit_ids": list(exit_ids)})
            else:
                result = connection.execute(_RESTING, {"asset_id": asset_id})
            rows = [row._mapping for row in result]
            checked = ({position_id: bar for position_id, bar in connection.execute(
                _CHECKS_OF_ASSET, {"asset_id": asset_id})} if exit_ids else {})
        return rows, checked

    def _watched_many(self, asset_ids: Sequence[int], exit_ids: Sequence[str],
                      holding: Sequence[int]
                      ) -> tuple[dict[int, list[Mapping[str, Any]]],
                                 dict[int, dict[int, datetime]]]:
        """:meth:`_watched` of several assets, by asset id, on one connection.

        Rows are the assets' resting orders and those of their rows whose client id is in
        ``exit_ids`` (the caller keeps each asset's own); checks are read for the
        ``holding`` assets only.
        """
        rows: dict[int, list[Mapping[str, Any]]] = {}
        checked: dict[int, dict[int, datetime]] = {}
        with self._engine().connect() as connection:
            statement = _RESTING_OR_EXITS_MANY if exit_ids else _RESTING_MANY
            for row in connection.execute(statement, {"asset_ids": list(asset_ids),
                                                      "exit_ids": list(exit_ids)}):
                mapping = row._mapping
                rows.setdefault(mapping["asset_id"], []).append(mapping)
            if holding:
                for asset_id, position_id, bar in connection.execute(
                        _CHECKS_OF_ASSETS, {"asset_ids": list(holding)}):
                    checked.setdefault(asset_id, {})[position_id] = bar
        return rows, checked

    def _exit_row(self, asset: AssetInfo, position: PositionInfo, when: datetime,
                  price: float, reason: str) -> dict[str, Any]:
        """The book row of a position's stop-loss or take-profit exit."""
        price = self.fill_price(price)
        return {
            "client_order_id": f"{EXIT_PREFIX}{position.id}",
            "asset_id": asset.id,
            "side": "sell" if position.side == "long" else "buy",
            "order_type": "market",
            "kind": reason,
            "quantity": position.quantity,
            "price": position.stop_loss if reason == "stop_loss" else position.take_profit,
            "status": "filled",
            "fill_price": price,
            "commission": self.commission(position.quantity, price),
            "position_id": position.id,
            "created_at": when,
            "filled_at": when,
        }

    @staticmethod
    def _write_marks(connection: Connection, asset_id: int,
                     marks: Mapping[tuple[str, int], datetime],
                     checked: Mapping[int, datetime]) -> None:
        """Move the newest-checked-bar marks forward (never back: a racing check may lead)."""
        orders = [{"b_id": key, "b_bar": bar} for (kind, key), bar in marks.items()
                  if kind == "order"]
        known = [{"b_position_id": key, "b_bar": bar} for (kind, key), bar in marks.items()
                 if kind == "position" and key in checked]
        fresh = [{"position_id": key, "asset_id": asset_id, "last_checked_bar": bar}
                 for (kind, key), bar in marks.items()
                 if kind == "position" and key not in checked]
        if orders:
            connection.execute(_ADVANCE_ORDER, orders)
        if known:
            connection.execute(_ADVANCE_CHECK, known)
        if fresh:
            connection.execute(_INSERT_CHECK, fresh)

    def lookup(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Answer from the paper book; ``not_found`` when it never booked that id."""
        row = self._row(client_order_id)
        if row is None or row["asset_id"] != asset.id:
            return BrokerResult(status="not_found",
                                message=f"paper broker has no order {client_order_id!r}")
        return self.result_of(row)

    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Return every order the paper book holds for ``asset``, by client id.

        The paper broker keeps no position book of its own: positions are the engine's
        ``positions`` table, built from these fills.
        """
        rows = self._rows(_TABLE.c.asset_id == asset.id)
        return BrokerState(orders={row["client_order_id"]: self.result_of(row) for row in rows})
