"""Placing orders: risk checks and the ``pending`` row in one transaction, then the broker.

The sequence is the heart of crash safety:

1. ``BEGIN IMMEDIATE``; lock the portfolio; run the risk checks; insert the Order row
   ``pending`` with its deterministic ``client_order_id``; commit.
2. Call the broker with no transaction open (the engine's session holds nothing).
3. In a new short transaction, record what the broker said.

A crash between 1 and 3 leaves a ``pending``/``unknown`` row that reconciliation looks
up by ``client_order_id``; the order is never sent a second time.

Between 1 and 3 the order is **in flight**: the row names its process (``placed_by``)
and this process lists it (:func:`~lts.trading.lease.placing_here`), so no
reconciliation concludes "the broker never had it" while the answer may still be on its
way (SPEC 2a).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lts.database import retry_unit
from lts.models import Asset, AuditLog, Order, Position
from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    BrokerResult,
    InstrumentSpec,
    MarketSnapshot,
    OrderRequest,
    PositionInfo,
)
from lts.plugins.precision import exit_crossed, round_price
from lts.trading.books import Books, SqlBooks, audit_values, write_audit_rows
from lts.trading.clock import epoch_seconds
from lts.trading.errors import PluginCallError, RiskRejected
from lts.trading.lease import placing, process_holder_id
from lts.trading.order_state import advance, is_terminal
from lts.trading.plugin_calls import PluginCaller
from lts.trading.plugin_versions import app_registry, order_plugin_versions
from lts.trading.positions import apply_fill
from lts.trading.risk import OrderCheck, RiskLimits, check_order
from lts.trading.sizing import fit_quantity
from lts.trading.units import instrument_of

log = logging.getLogger(__name__)
_EPSILON = 1e-9
# Beyond the broker timeout, how long a placing call may still take to book its answer
# (a busy database, a slow commit): past timeout + margin it cannot be in flight.
IN_FLIGHT_MARGIN_SECONDS = 50.0


def placing_window(timeout: float) -> timedelta:
    """How long after its creation an order's placing call may still be in flight."""
    return timedelta(seconds=timeout + IN_FLIGHT_MARGIN_SECONDS)


@dataclass(frozen=True)
class OrderIntent:
    """An order the engine (or a user) wants placed, before any row exists.

    ``reference_price`` is the price the order was sized at; it is stored as the row's
    ``price`` for market orders so risk checks can value orders not yet filled.
    """

    asset_id: int
    side: str
    quantity: float
    reference_price: float
    order_type: str = "market"
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    reason: str = ""
    source: str = "strategy"
    closes_position_id: int | None = None
    flatten: bool = False

    @property
    def notional(self) -> float:
        """Quantity times the price it is expected to trade at."""
        return self.quantity * (self.price if self.price is not None else self.reference_price)


@dataclass(frozen=True)
class PlacedOrder:
    """What became of an intent: the row's id and status, or why there is no row."""

    order_id: int | None
    client_order_id: str
    status: str
    rejected_by: str | None = None
    message: str = ""
    duplicate: bool = False
    retry_after: int | None = None  # seconds, when the rate limit refused it
    #: The instrument's price decimals it was placed with (None: not known): the exits
    #: moved to its fill (``Decision.exit_anchor``) are rounded to them.
    price_decimals: int | None = None


def client_order_id(asset_id: int, tick_time: datetime, n: int | str) -> str:
    """``lts-<asset_id>-<tick epoch seconds>-<n>`` (SPEC 2a)."""
    return f"lts-{asset_id}-{epoch_seconds(tick_time)}-{n}"


def next_manual_client_order_id(session: Session | Connection, asset_id: int,
                                now: datetime) -> str:
    """Return a client id for a manual order: ``...-m<n>`` never collides with a tick's ids.

    Counting is safe because every id handed out is stored, in the same write
    transaction that counted: placed orders as ``pending`` rows, risk refusals as
    ``rejected`` rows (:meth:`OrderExecutor._refused`), and a refusal by the rate limit
    takes no id at all. Rows are never deleted, so no id is ever given twice.
    """
    prefix = client_order_id(asset_id, now, "m")
    count = session.scalar(select(func.count(Order.id))
                           .where(Order.client_order_id.like(f"{prefix}%"))) or 0
    return f"{prefix}{count + 1}"


def ensure_no_transaction(session: Session) -> None:
    """End a read-only transaction before a broker call; unsaved changes are a bug."""
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a broker call was about to run with unsaved changes")
        session.commit()


def audit(session: Session, action: str, resource: str, now: datetime, *,
          outcome: str = "ok", user_id: int | None = None, **details: Any) -> None:
    """Add an AuditLog row to the current transaction."""
    session.add(AuditLog(action=action, resource=resource, timestamp=now, outcome=outcome,
                         user_id=user_id, details=details))


__all__ = ["audit_values"]  # re-exported: callers of the booking rules import it here


_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)


def stage_pending(books: Books, intent: OrderIntent, coid: str | Callable[[], str],
                  now: datetime, limits: RiskLimits, *, leverage: float = 1.0,
                  user_id: int | None = None,
                  plugin_versions: Callable[[], dict[str, Any] | None] = lambda: None,
                  placed_by: str | None = None) -> tuple[Any, PositionInfo | None]:
    """Step 1 of placing on any books: the risk checks, the ``pending`` row, its audit row.

    Returns the order record and, for a closing order, the position it closes (now
    linked to it). Raises RiskRejected naming the check that refused it; nothing is
    written then. ``coid`` may be a function, called after the risk subject is read
    (on PostgreSQL that read locks the portfolio row, and a manual id counted before
    that lock would miss an order committed while we waited: both "-m1", the second a
    false "duplicate", never sent). The caller commits (SqlBooks) or not (MemoryBooks).
    """
    closing = intent.closes_position_id is not None
    subject = books.risk_subject(intent.asset_id, now, closing=closing)
    if callable(coid):
        coid = coid()
    check_order(subject, OrderCheck(notional=intent.notional, closing=closing,
                                    flatten=intent.flatten, leverage=leverage), limits)
    closing_info = None
    if intent.closes_position_id is not None:
        closing_info = books.closable_position(intent.closes_position_id)
    order = books.new_order(
        asset_id=intent.asset_id, order_type=intent.order_type, side=intent.side,
        quantity=intent.quantity,
        price=intent.price if intent.price is not None else intent.reference_price,
        stop_loss=intent.stop_loss, take_profit=intent.take_profit, status="pending",
        client_order_id=coid, reason=intent.reason or None, source=intent.source,
        created_at=now, updated_at=now, placed_by=placed_by,
        plugin_versions=plugin_versions())
    if closing_info is not None:
        books.position(closing_info.id).close_order_id = order.id
    books.add_audit(audit_values(
        "order.created", f"order:{order.id}", now, user_id=user_id, client_order_id=coid,
        side=intent.side, quantity=intent.quantity, source=intent.source,
        reason=intent.reason))
    books.write()
    return order, closing_info


PRECISION_CHECK = "instrument_precision"


def fit_intent(intent: OrderIntent, spec: InstrumentSpec | None) -> OrderIntent:
    """``intent`` on the instrument's grid, as it is stored and sent (SPEC 2a).

    Prices sent to the broker (the limit or stop price, stop loss, take profit) are
    rounded half-even to the broker's price decimals; the reference price (the last
    close a market order was sized and risk-checked at, a valuation, not a broker
    price) is kept, so the risk checks value the order as it was sized (rounded up, it
    could push a fully allocated order over its allocation). An opening order's quantity is
    rounded down to its quantity decimals (:func:`~lts.trading.sizing.fit_quantity`: never
    more than the checks allowed). A closing order keeps its quantity: it closes what
    the position holds. Raises :class:`RiskRejected` (check ``instrument_precision``)
    when an opening quantity rounds to 0 or below the broker's minimum, or when rounding
    moves a stop loss or take profit onto or past the price (a buy's stop at or above
    its price would trigger at once): refused, never placed unprotected.
    """
    if spec is None:
        return intent
    decimals = spec.price_decimals
    price = None if intent.price is None else round_price(intent.price, decimals)
    stop = None if intent.stop_loss is None else round_price(intent.stop_loss, decimals)
    target = None if intent.take_profit is None else round_price(intent.take_profit, decimals)
    quantity = intent.quantity
    if intent.closes_position_id is None and not intent.flatten:
        quantity, why = fit_quantity(quantity, spec)
        if quantity <= 0 and why is not None:
            raise RiskRejected(PRECISION_CHECK, why)
        market = intent.price if intent.price is not None else intent.reference_price
        stored = round_price(market, decimals)
        for kind, level, rounded in (("stop_loss", intent.stop_loss, stop),
                                     ("take_profit", intent.take_profit, target)):
            if exit_crossed(intent.side, market, level, rounded, kind, stored):
                raise RiskRejected(PRECISION_CHECK, (
                    f"{kind.replace('_', ' ')} {level:.10g} rounds to {rounded:.10g} at "
                    f"the instrument's {decimals} price decimals, on or past the "
                    f"{intent.side} price {stored:.10g}: on the wrong side, not placed"))
    fitted = replace(intent, quantity=quantity, price=price, stop_loss=stop,
                     take_profit=target)
    return intent if fitted == intent else fitted


RATE_LIMIT_CHECK = "max_orders_per_minute"
_RATE_WINDOW = timedelta(minutes=1)
_ASSETS = Asset.__table__
_SIBLINGS = _ASSETS.alias("siblings")
# Creation times of the orders of the asset's portfolio inside the rate-limit window
# (the same orders risk.load_subject counts), oldest first.
_WINDOW_ORDERS = (select(_ORDERS.c.created_at)
                  .join(_SIBLINGS, _SIBLINGS.c.id == _ORDERS.c.asset_id)
                  .join(_ASSETS, _ASSETS.c.portfolio_id == _SIBLINGS.c.portfolio_id)
                  .where(_ASSETS.c.id == bindparam("asset_id"),
                         _ORDERS.c.created_at > bindparam("since"))
                  .order_by(_ORDERS.c.created_at))


def _retry_after(connection: Connection, asset_id: int, now: datetime, limit: int) -> int:
    """Whole seconds until the portfolio is back under ``limit`` orders a minute (>= 1).

    That is when the order whose leaving brings the count below the limit (the oldest,
    unless the limit was lowered meanwhile) is a minute old.
    """
    times = connection.scalars(_WINDOW_ORDERS, {"asset_id": asset_id,
                                                "since": now - _RATE_WINDOW}).all()
    index = len(times) - limit
    if index < 0 or index >= len(times):
        return 1
    leaves = times[index] + _RATE_WINDOW
    return max(1, math.ceil((leaves - now).total_seconds()))


@dataclass(frozen=True)
class RateWindow:
    """Where a portfolio stands against ``max_orders_per_minute`` (the RateLimit fields).

    ``remaining``: orders it may still send now; ``reset``: whole seconds until the
    window frees a slot (the order whose leaving brings the count below the limit is a
    minute old; 0 when no order is in the window).
    """

    limit: int
    remaining: int
    reset: int


def rate_window(connection: Connection, asset_id: int, now: datetime, limit: int
                ) -> RateWindow:
    """The rate-limit window of the portfolio of ``asset_id`` at ``now``.

    The same orders the ``max_orders_per_minute`` check counts.
    """
    times = connection.scalars(_WINDOW_ORDERS, {"asset_id": asset_id,
                                                "since": now - _RATE_WINDOW}).all()
    if not times:
        return RateWindow(limit, limit, 0)
    leaves = times[min(max(0, len(times) - limit), len(times) - 1)] + _RATE_WINDOW
    return RateWindow(limit, max(0, limit - len(times)),
                      max(1, math.ceil((leaves - now).total_seconds())))


def _rejected_row(intent: OrderIntent, coid: str, now: datetime, reason: str,
                  plugin_versions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values of a ``rejected`` order row for an intent the risk checks refused."""
    return {"plugin_versions": plugin_versions,
            "asset_id": intent.asset_id, "order_type": intent.order_type,
            "side": intent.side, "quantity": intent.quantity,
            "price": intent.price if intent.price is not None else intent.reference_price,
            "stop_loss": intent.stop_loss, "take_profit": intent.take_profit,
            "status": "rejected", "client_order_id": coid, "reason": reason,
            "source": intent.source, "created_at": now, "updated_at": now}


class OrderExecutor:
    """Places orders and books broker answers, for the engine and for manual orders."""

    def __init__(self, session: Session, caller: PluginCaller, limits: RiskLimits,
                 timeout: float) -> None:
        self.session = session
        self.caller = caller
        self.limits = limits
        self.timeout = timeout
        self._connection: Connection | None = None
        self._versions: dict[int, dict[str, Any] | None] = {}
        self._deferred: list[tuple[Any, list[dict[str, Any]]]] = []

    def defer(self, statement: Any, params: list[dict[str, Any]]) -> None:
        """Run ``statement`` with ``params`` at the start of the next write transaction.

        For writes the tick must make before anything reads them but that need no
        transaction of their own (the allocations: written with the first order placed
        after them, whose risk check reads them, or else with the portfolio's
        statistics). A transaction that fails keeps them for the next one.
        """
        if params:
            self._deferred.append((statement, params))

    def discard_deferred(self) -> None:
        """Forget deferred writes (the portfolio they belong to failed)."""
        self._deferred.clear()

    def close(self) -> None:
        """Return the executor's connection to the pool (it holds no transaction)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite) on the executor's connection.

        Why a connection of its own, kept for the executor's life (a tick): a session
        transaction checks a connection out of the pool and back, and expires the
        session's objects at every commit; with two write transactions per order that
        bookkeeping cost more than the SQL. Only Core statements run here. The session
        must hold no transaction of its own meanwhile, so a read snapshot never outlives
        the write it should see.
        """
        ensure_no_transaction(self.session)
        if self._connection is None:
            self._connection = self.session.get_bind().connect().execution_options(
                sqlite_immediate=True)
        flushed = list(self._deferred)
        with self._connection.begin():
            for statement, params in flushed:
                self._connection.execute(statement, params)
            yield self._connection
        # Committed: those are written (on an exception they stay for the next one).
        del self._deferred[:len(flushed)]

    def plugin_versions(self, connection: Connection, asset_id: int
                        ) -> dict[str, Any] | None:
        """The plugin versions recorded on the asset's orders (read once per executor)."""
        if asset_id not in self._versions:
            registry = app_registry(getattr(self.caller, "app", None))
            self._versions[asset_id] = order_plugin_versions(connection, asset_id, registry)
        return self._versions[asset_id]

    # ------------------------------------------------------------------ placing

    def place(self, intent: OrderIntent, coid: str | Callable[[Connection], str],
              asset: AssetInfo, broker: BrokerPlugin, snapshot: MarketSnapshot | None,
              now: datetime, *, leverage: float = 1.0, user_id: int | None = None
              ) -> PlacedOrder:
        """Check, write ``pending``, commit, send, and book the answer.

        ``coid`` may be a function of the connection, called inside the write transaction
        (manual orders count existing ids there, so two at once cannot pick the same).
        """
        spec = instrument_of(broker, asset)
        try:
            intent = fit_intent(intent, spec)
        except RiskRejected as exc:
            return self._refused(intent, coid if callable(coid) else None,
                                 coid if isinstance(coid, str) else "", exc, now, user_id)
        # Nothing has reached the broker yet: a unit the database refused as a whole
        # (deadlock, serialization failure, lock timeout) is simply run again.
        created = retry_unit(lambda: self._insert_pending(intent, coid, asset, snapshot, now,
                                                          leverage, user_id),
                             what="placing an order")
        if not isinstance(created, tuple):
            return created
        order_id, request, position = created
        with placing(order_id):
            result = self._send(broker, request, position)
            # Booking only records the broker's answer; a refused attempt kept nothing.
            placed = retry_unit(lambda: self._book(order_id, request.client_order_id, result,
                                                   now), what="booking an order")
        return placed if spec is None else replace(placed, price_decimals=spec.price_decimals)

    def _insert_pending(self, intent: OrderIntent,
                        coid: str | Callable[[Connection], str],
                        asset: AssetInfo, snapshot: MarketSnapshot | None, now: datetime,
                        leverage: float, user_id: int | None
                        ) -> tuple[int, OrderRequest, Any] | PlacedOrder:
        """Step 1: the risk checks and the ``pending`` row in one write transaction."""
        make_coid = coid if callable(coid) else None
        coid = coid if isinstance(coid, str) else f"lts-{intent.asset_id}-pending"
        counted: list[str] = []
        try:
            with self.transaction() as connection:
                def resolve(connection: Connection = connection) -> str:
                    assert make_coid is not None
                    counted.append(make_coid(connection))
                    return counted[-1]

                order, closing_info = stage_pending(
                    SqlBooks(connection), intent, resolve if make_coid else coid, now,
                    self.limits, leverage=leverage, user_id=user_id,
                    plugin_versions=functools.partial(self.plugin_versions, connection,
                                                      intent.asset_id),
                    placed_by=process_holder_id())
                order_id, coid = order.id, order.client_order_id
                request = OrderRequest(
                    client_order_id=coid, asset=asset, side=intent.side,  # type: ignore[arg-type]
                    quantity=intent.quantity, order_type=intent.order_type,  # type: ignore[arg-type]
                    price=intent.price, stop_loss=intent.stop_loss,
                    take_profit=intent.take_profit,
                    closes_position_id=intent.closes_position_id, snapshot=snapshot,
                )
        except RiskRejected as exc:
            return self._refused(intent, make_coid, coid, exc, now, user_id)
        except IntegrityError:
            # The same decision of the same tick was already written (a replayed tick):
            # the existing row is that order; reconciliation owns it from here.
            coid = counted[-1] if counted else coid
            with self.transaction() as connection:
                existing = connection.execute(select(Order.id, Order.status).where(
                    Order.client_order_id == coid)).first()
            if existing is None:
                raise
            return PlacedOrder(existing[0], coid, existing[1], duplicate=True,
                               message="client_order_id already exists: not sent again")
        return order_id, request, closing_info

    def _refused(self, intent: OrderIntent, make_coid: Callable[[Connection], str] | None,
                 coid: str, exc: RiskRejected, now: datetime, user_id: int | None
                 ) -> PlacedOrder:
        """Record a risk refusal: a ``rejected`` row and its audit row for a manual order.

        A user who asked for an order is owed its record (its id, why it was refused),
        so a manual refusal stores a ``rejected`` row under a new client id, in one
        transaction with its audit row. Strategy refusals stay audit-only: the tick's
        decision and the audit say why, and a refused strategy would otherwise add a
        row every tick. The rate limit stores no row either (it would keep its own
        window full): it says when the oldest order in the window leaves it instead.
        """
        throttled = exc.check == RATE_LIMIT_CHECK
        stored = intent.source == "manual" and not throttled
        with self.transaction() as connection:
            retry_after = _retry_after(connection, intent.asset_id, now,
                                       self.limits.max_orders_per_minute) if throttled else None
            if make_coid is not None:
                if stored:
                    # The id counted in the rolled-back transaction was never stored:
                    # lock the portfolio (PostgreSQL) and count again, as placing does.
                    SqlBooks(connection).risk_subject(intent.asset_id, now)
                coid = make_coid(connection) if stored else ""
            order_id = None
            if stored:
                order_id = connection.execute(_INSERT_ORDER, _rejected_row(
                    intent, coid, now, f"refused by the {exc.check} check: {exc.message}",
                    self.plugin_versions(connection, intent.asset_id))).scalar_one()
            write_audit_rows(connection, [audit_values(
                "order.risk_rejected",
                f"order:{order_id}" if order_id is not None else f"asset:{intent.asset_id}",
                now, outcome="denied", user_id=user_id, check=exc.check,
                message=exc.message, client_order_id=coid or None, source=intent.source)])
        return PlacedOrder(order_id, coid, "rejected", rejected_by=exc.check,
                           message=exc.message, retry_after=retry_after)

    def _send(self, broker: BrokerPlugin, request: OrderRequest, position: Any) -> BrokerResult:
        """Step 2: the broker call, with no transaction open; failures mean ``unknown``."""
        ensure_no_transaction(self.session)
        try:
            if position is not None:
                return self.caller.call("broker", broker.name, "close", broker.close,
                                        position, request, timeout=self.timeout)
            return self.caller.call("broker", broker.name, "submit", broker.submit, request,
                                    timeout=self.timeout)
        except PluginCallError as exc:
            # It may have reached the broker: never 'failed', looked up later instead.
            return BrokerResult(status="unknown", message=exc.summary)

    def _book(self, order_id: int, coid: str, result: BrokerResult, now: datetime
              ) -> PlacedOrder:
        """Step 3: record the broker's answer in a new short transaction."""
        with self.transaction() as connection:
            # One read of the row, the shared rules on plain records, then one statement
            # per table (see lts.trading.books): a fraction of the ORM's cost.
            books = SqlBooks(connection)
            order = books.load_order(order_id)
            apply_broker_result(books, order, result, now)
            books.write()
            status = order.status
        return PlacedOrder(order_id, coid, status, message=result.message)


def apply_broker_result(session: Books, order: Any, result: BrokerResult,
                        now: datetime) -> None:
    """Move ``order`` along the state machine to what the broker says, booking new fills.

    Idempotent: fills already counted in ``filled_quantity`` are skipped, so the same
    answer seen twice (submit, then a lookup) books nothing twice. ``session`` is the
    unit's :class:`~lts.trading.books.Books` and ``order`` one of its records; nothing
    is durable until ``session.write()``.
    """
    # Assigned only when they change, stamped with the booking's clock: the same answer
    # seen twice writes nothing, and no row gets the database's wall-clock onupdate
    # stamp (a backtest's books have none; both must hold the same rows).
    if result.broker_order_id and order.broker_order_id != result.broker_order_id:
        order.broker_order_id = result.broker_order_id
        order.updated_at = now
    response = dict(result.raw)
    if result.message:
        response.setdefault("message", result.message)
    response.setdefault("status", result.status)
    if order.broker_response != response:
        order.broker_response = response
        order.updated_at = now
    status = result.status
    if status == "not_found":
        if order.status == "submitted":
            advance(session, order, "unknown", now, "broker lost track of the order")
        if order.status in ("pending", "unknown"):
            advance(session, order, "error", now,
                    f"the broker has no order {order.client_order_id}: never sent")
            _release_position(session, order)
        return
    _book_new_fills(session, order, result, now)
    if status == "unknown":
        if order.status in ("pending", "submitted"):
            advance(session, order, "unknown", now, result.message or "outcome unknown")
        return
    if order.status == "partially_filled" and status in ("submitted", "partially_filled"):
        return
    if is_terminal(order.status) or order.status == status:
        return
    if status == "filled":
        order.filled_at = max((f.time for f in result.fills), default=now)
    advance(session, order, status, now, result.message or None)
    if status in ("cancelled", "rejected"):
        _release_position(session, order)


def _book_new_fills(session: Books, order: Any, result: BrokerResult,
                    now: datetime) -> None:
    """Apply the fills of ``result`` beyond what the order already has booked."""
    seen = 0.0
    for fill in result.fills:
        seen += fill.quantity
        if seen <= order.filled_quantity + _EPSILON:
            continue
        apply_fill(session, order, fill, now)
        order.updated_at = now


def _release_position(session: Books, order: Any) -> None:
    """Free the position of a closing order that died, for another closing order."""
    position = session.position_closed_by(order.id)
    if position is not None:
        position.close_order_id = None


def place_on_books(books: Books, intent: OrderIntent, coid: str, asset: AssetInfo,
                   broker: BrokerPlugin, snapshot: MarketSnapshot | None, now: datetime,
                   limits: RiskLimits, *, leverage: float = 1.0) -> PlacedOrder:
    """Place a strategy's order on books that need no transactions (MemoryBooks).

    The same three steps as :meth:`OrderExecutor.place`, on the same rule functions:
    :func:`stage_pending` (risk checks, ``pending`` row, audit), the broker called
    directly (no thread, no timeout: a backtest's broker is the paper simulation), then
    :func:`apply_broker_result`. A broker exception books ``unknown``, as a failed call
    does live. A risk refusal is audit-only (``order.risk_rejected``), as for a
    strategy's order live; there is no rate-limit wait, no lease and no in-flight list:
    nothing else writes to these books meanwhile.
    """
    spec = instrument_of(broker, asset)
    try:
        intent = fit_intent(intent, spec)
        order, position = stage_pending(books, intent, coid, now, limits, leverage=leverage)
    except RiskRejected as exc:
        books.add_audit(audit_values(
            "order.risk_rejected", f"asset:{intent.asset_id}", now, outcome="denied",
            check=exc.check, message=exc.message, client_order_id=coid, source=intent.source))
        books.write()
        return PlacedOrder(None, coid, "rejected", rejected_by=exc.check, message=exc.message)
    request = OrderRequest(
        client_order_id=coid, asset=asset, side=intent.side,  # type: ignore[arg-type]
        quantity=intent.quantity, order_type=intent.order_type,  # type: ignore[arg-type]
        price=intent.price, stop_loss=intent.stop_loss, take_profit=intent.take_profit,
        closes_position_id=intent.closes_position_id, snapshot=snapshot)
    try:
        result = broker.close(position, request) if position is not None \
            else broker.submit(request)
    except Exception as exc:  # it may have reached the broker: never 'failed'
        result = BrokerResult(status="unknown", message=f"{type(exc).__name__}: {exc}")
    apply_broker_result(books, order, result, now)
    books.write()
    return PlacedOrder(order.id, coid, order.status, message=result.message,
                       price_decimals=None if spec is None else spec.price_decimals)
