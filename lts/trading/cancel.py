"""Cancelling a live order through its broker, exactly once, in the order state machine.

A cancel is an order-state change, so it follows the placing sequence of
:mod:`lts.trading.orders`:

1. one write transaction re-reads the order under the write lock (``FOR UPDATE`` on
   PostgreSQL), refuses an order that is no longer live, and commits the request's
   audit row (``order.cancel_requested``): the intent is on record before the broker
   hears of it;
2. the broker's ``cancel()`` is called with no transaction open; when it does not
   answer with the order's state (a broker that cannot cancel, a timeout), the order is
   looked up instead, so what gets booked is always the broker's word on the order;
3. one write transaction books that answer through the state machine (a fill that won
   the race is booked as a fill) together with the ``order.cancel`` audit row.

Cancels pass every risk state: they only ever remove exposure. Two cancels of one order
are harmless: brokers answer a second cancel with the order as it stands, and booking
an answer already booked changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, select

from lts.errors import Conflict, NotFound, ServiceError
from lts.extensions import db
from lts.models import Order
from lts.plugins.base import BrokerResult
from lts.trading.books import SqlBooks, write_audit_rows
from lts.trading.clock import system_clock
from lts.trading.errors import PluginCallError
from lts.trading.manual import _executor, _plugin_source, _unit
from lts.trading.orders import OrderExecutor, apply_broker_result, audit_values
from lts.trading.plugin_calls import PluginCaller
from lts.trading.plugin_source import PluginSource
from lts.trading.units import AssetUnit

# Live orders a cancel may stop: ``pending`` is excluded, its placing call is in flight.
CANCELLABLE = ("submitted", "partially_filled", "unknown")
# Broker answers that describe the order itself (anything else: ask with lookup()).
_ORDER_STATES = ("submitted", "partially_filled", "filled", "cancelled")
_ORDERS = Order.__table__
_LIVE_STATE = select(_ORDERS.c.status).where(_ORDERS.c.id == bindparam("order_id"))


class OrderNotCancellable(Conflict):
    """The order is filled, cancelled, rejected or in error: nothing is left to cancel."""

    code = "order_not_cancellable"


class OrderInFlight(Conflict):
    """The order is ``pending``: its placing call is in flight; retry in a moment."""

    code = "order_in_flight"


class CancelRefused(Conflict):
    """The broker kept the order live (it cannot cancel, or refused to)."""

    code = "cancel_refused"


class CancelUnconfirmed(ServiceError):
    """Neither the cancel nor a lookup answered: the order's fate is not known yet."""

    status = 502
    code = "broker_unavailable"


@dataclass(frozen=True)
class CancelOutcome:
    """What became of a cancel: the order's status before and after, and the broker's word."""

    order_id: int
    client_order_id: str
    before: str
    status: str
    message: str = ""
    answered: bool = True

    @property
    def cancelled(self) -> bool:
        """Whether the order ended cancelled."""
        return self.status == "cancelled"

    def raise_unless_cancelled(self) -> None:
        """Raise the error that explains why the order is not cancelled (API answers)."""
        if self.cancelled:
            return
        if not self.answered:
            raise CancelUnconfirmed(
                f"the broker did not confirm the cancel of order {self.order_id} "
                f"({self.message}); it is still {self.status}: retry, a cancel is safe to "
                "repeat")
        if self.status in CANCELLABLE:
            raise CancelRefused(f"the broker kept order {self.order_id} {self.status}: "
                                f"{self.message or 'cancel refused'}")
        raise OrderNotCancellable(f"order {self.order_id} is {self.status}: it "
                                  f"{_too_late(self.status)} before the cancel reached "
                                  "the broker")


def _too_late(status: str) -> str:
    """How an order that stopped being live ended, in words."""
    return {"filled": "filled", "rejected": "was rejected", "error": "failed"}.get(
        status, f"became {status}")


def check_cancellable(order_id: int, status: str) -> None:
    """Refuse an order that is not live (409 with a code saying why)."""
    if status == "pending":
        raise OrderInFlight(f"order {order_id} is pending: it is being sent to the broker; "
                            "retry in a moment")
    if status not in CANCELLABLE:
        raise OrderNotCancellable(f"order {order_id} is {status}: only submitted, partially "
                                  "filled or unknown orders can be cancelled",
                                  {"status": [f"is {status}"]})


def cancel_order(order_id: int, *, user_id: int | None = None, via: str = "api",
                 ip: str | None = None, now: datetime | None = None,
                 plugins: PluginSource | None = None) -> CancelOutcome:
    """Cancel one live order through its broker (see the module doc for the sequence).

    ``user_id``/``via``/``ip`` say who asked, for the audit rows (``via`` is ``api``,
    ``dashboard`` or ``cli``). Raises NotFound, OrderInFlight or OrderNotCancellable
    before anything is sent; otherwise returns what the broker made of it.
    """
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    check_cancellable(order.id, order.status)
    coid, asset_id = order.client_order_id, order.asset_id
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    plugins = plugins or _plugin_source(app)
    now = now or system_clock()
    unit = _unit(asset_id, plugins)
    caller = PluginCaller(app)
    executor: OrderExecutor | None = None
    who = {"user_id": user_id, "ip": ip, "via": via}
    try:
        executor, timeout = _executor(caller)
        before = _record_request(executor, order_id, coid, who, now)
        answer, message = _ask_broker(caller, unit, coid, timeout)
        return _book(executor, order_id, before, answer, message, who, now)
    finally:
        caller.close()
        if executor is not None:
            executor.close()


def _lock_order(connection: Connection, order_id: int) -> str:
    """Read the order's status under the write lock (``FOR UPDATE`` off SQLite)."""
    statement = _LIVE_STATE
    if connection.dialect.name != "sqlite":
        statement = statement.with_for_update()
    status = connection.execute(statement, {"order_id": order_id}).scalar_one_or_none()
    if status is None:
        raise NotFound(f"order {order_id} not found")
    return str(status)


def _audit(action: str, order_id: int, now: datetime, who: dict[str, Any], *,
           outcome: str = "ok", **details: Any) -> dict[str, Any]:
    """An audit row naming the one who asked (user id, ip, and by which interface)."""
    values = audit_values(action, f"order:{order_id}", now, outcome=outcome,
                          user_id=who["user_id"], via=who["via"], **details)
    values["ip"] = who["ip"]
    return values


def _record_request(executor: OrderExecutor, order_id: int, coid: str,
                    who: dict[str, Any], now: datetime) -> str:
    """Step 1: re-check under the lock and commit the request's audit row."""
    with executor.transaction() as connection:
        status = _lock_order(connection, order_id)
        check_cancellable(order_id, status)
        write_audit_rows(connection, [_audit("order.cancel_requested", order_id, now, who,
                                             client_order_id=coid, status=status)])
    return status


def _ask_broker(caller: PluginCaller, unit: AssetUnit, coid: str, timeout: float
                ) -> tuple[BrokerResult | None, str]:
    """Step 2: cancel, then look the order up unless the answer already describes it.

    Returns the broker's word on the order (None when neither call answered) and the
    message explaining a refusal or a failure.
    """
    broker = unit.broker
    message = ""
    try:
        answer = caller.call("broker", broker.name, "cancel", broker.cancel, unit.info, coid,
                             timeout=timeout)
    except PluginCallError as exc:
        answer, message = None, f"cancel failed: {exc.summary}"
    if answer is not None and answer.status in _ORDER_STATES:
        return answer, answer.message
    if answer is not None:
        message = answer.message or f"cancel answered {answer.status}"
    try:
        state = caller.call("broker", broker.name, "lookup", broker.lookup, unit.info, coid,
                            timeout=timeout)
    except PluginCallError as exc:
        return None, f"{message}; lookup failed: {exc.summary}"
    return state, message


def _book(executor: OrderExecutor, order_id: int, before: str, answer: BrokerResult | None,
          message: str, who: dict[str, Any], now: datetime) -> CancelOutcome:
    """Step 3: book the broker's word and the ``order.cancel`` audit row together."""
    with executor.transaction() as connection:
        _lock_order(connection, order_id)
        books = SqlBooks(connection)
        order = books.load_order(order_id)
        if answer is not None:
            apply_broker_result(books, order, answer, now)
        books.write()
        outcome = "ok" if order.status == "cancelled" else (
            "error" if answer is None else "denied")
        write_audit_rows(connection, [_audit(
            "order.cancel", order_id, now, who, outcome=outcome,
            client_order_id=order.client_order_id, before=before, after=order.status,
            message=message)])
        return CancelOutcome(order_id=order_id, client_order_id=order.client_order_id,
                             before=before, status=order.status, message=message,
                             answered=answer is not None)
