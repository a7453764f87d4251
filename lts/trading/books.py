"""The storage port: what the trading rules read and write, behind one small interface.

The rules (the order state machine, fills into positions and P&L, the pre-trade risk
checks, the equity kill switch) live in :mod:`~lts.trading.order_state`,
:mod:`~lts.trading.positions`, :mod:`~lts.trading.orders` and :mod:`~lts.trading.risk`
and reach storage only through :class:`Books`. Two implementations:

* :class:`SqlBooks` (the live loop, manual orders, cancel, reconciliation): one idiom,
  SQLAlchemy Core statements built once, on the caller's write connection and inside
  the caller's transaction. Orders and positions are :class:`Record` objects (plain
  attributes named as the columns); :meth:`SqlBooks.write` turns what changed into one
  UPDATE per changed row, one INSERT per new position and one executemany for every
  audit row of the unit. Why not ORM objects: booking an answer through the ORM cost
  about 1.5 ms per order (identity map, flushes, refresh after commit).
* :class:`MemoryBooks` (backtests and tests): the same records held in dictionaries,
  no database. Writes take effect at once; :meth:`MemoryBooks.write` has nothing to do.
  There is no rollback: a unit that raises half-way leaves what it changed (a backtest
  stops on such an error; the live loop uses :class:`SqlBooks`).

Because both run the very same rule functions, the money-safety rules of SPEC 2a
(state machine, exactly-once booking of fills, margin, risk states, reduce-only, the
equity kill switch) hold in both; ``tests/integration/test_books_port.py`` runs the
same scenarios on each.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from lts.models import AuditLog, Order, Portfolio, Position
from lts.plugins.base import PositionInfo
from lts.trading.errors import RiskRejected
from lts.trading.order_state import OPEN_STATUSES, is_terminal
from lts.trading.positions import (
    mark_rows,
    mark_to_market,
    open_positions,
    position_info,
    reanchor,
    settle_opened,
    settle_opened_many,
)
from lts.trading.risk import RiskSubject, load_subject
from lts.trading.units import config_leverage

_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_PORTFOLIOS = Portfolio.__table__
_AUDIT = AuditLog.__table__
_AUDIT_COLUMNS = tuple(c.name for c in _AUDIT.c if c.name != "id")
_ORDER_COLUMNS = tuple(c.name for c in _ORDERS.c)
_POSITION_COLUMNS = tuple(c.name for c in _POSITIONS.c)


def audit_values(action: str, resource: str, now: datetime, *, outcome: str = "ok",
                 user_id: int | None = None, **details: Any) -> dict[str, Any]:
    """Return the values of an AuditLog row (see :meth:`Books.add_audit`)."""
    return {"action": action, "resource": resource, "timestamp": now, "outcome": outcome,
            "user_id": user_id, "details": details, "ip": None}


class Record:
    """A row as a plain mutable object whose attributes are the column names.

    It remembers the values it was loaded with and the columns assigned since, so only
    those are written. An assigned column is written even when the value is unchanged:
    the state machine stamps ``updated_at`` with the tick time, and that stamp must win
    over the column's onupdate default (wall-clock time), which fills in only when
    ``updated_at`` was not assigned at all.
    """

    def __init__(self, values: dict[str, Any], *, new: bool = False) -> None:
        self.__dict__.update(values)
        self.__dict__["_loaded"] = {} if new else dict(values)
        self.__dict__["_assigned"] = set()

    def __setattr__(self, name: str, value: Any) -> None:
        """Set a column and remember that it was assigned."""
        self.__dict__[name] = value
        self._assigned.add(name)

    def __getattr__(self, name: str) -> Any:
        """Only called for unknown attributes: a typo must fail loudly."""
        raise AttributeError(name)

    def __repr__(self) -> str:
        """The id and status, enough to follow a record in a failure message."""
        return f"Record(id={self.__dict__.get('id')}, status={self.__dict__.get('status')})"

    def values(self) -> dict[str, Any]:
        """Return every column value."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def changes(self) -> dict[str, Any]:
        """Return the columns assigned since loading or differing from the loaded value."""
        return {k: v for k, v in self.values().items()
                if k in self._assigned or self._loaded.get(k, _MISSING) != v}

    def saved(self) -> None:
        """Everything is written: later changes are counted from here."""
        self.__dict__["_loaded"] = self.values()
        self.__dict__["_assigned"] = set()


_MISSING = object()
# Column defaults a new row gets when the rules do not set them (the models' defaults).
_POSITION_DEFAULTS: dict[str, Any] = {
    "id": None, "current_price": None, "unrealized_pnl": 0.0, "realized_pnl": 0.0,
    "broker_position_id": None, "closed_at": None, "close_order_id": None,
    "exit_price": None, "commission": 0.0, "stop_loss": None, "take_profit": None,
}
_ORDER_DEFAULTS: dict[str, Any] = {
    "id": None, "price": None, "stop_loss": None, "take_profit": None,
    "broker_order_id": None, "filled_quantity": 0.0, "fill_price": None,
    "commission": 0.0, "reason": None, "broker_response": None, "filled_at": None,
    "placed_by": None, "plugin_versions": None, "source": "strategy",
}


class Books(Protocol):
    """What the trading rules read and write (see the module docstring).

    Orders and positions handed out are records: change their attributes, then
    :meth:`write` makes the unit's changes durable (with the caller's commit).
    """

    # orders ---------------------------------------------------------------------------
    def load_order(self, order_id: int) -> Any:
        """The order ``order_id`` (locked against concurrent bookings where that applies)."""

    def order_by_client_id(self, client_order_id: str) -> Any | None:
        """The order with this ``client_order_id``, if any."""

    def new_order(self, **values: Any) -> Any:
        """Create an order row now (it gets its id at once) and return it."""

    # positions ------------------------------------------------------------------------
    def related_positions(self, order: Any) -> list[Any]:
        """The open position ``order`` closes and every position it opened."""

    def new_position(self, **values: Any) -> Any:
        """Create a position with ``values``."""

    def position_closed_by(self, order_id: int) -> Any | None:
        """The open position whose closing order is ``order_id``, if any."""

    def position(self, position_id: int) -> Any | None:
        """The position ``position_id``, if any."""

    def closable_position(self, position_id: int) -> PositionInfo:
        """The position a closing order closes; RiskRejected unless it may be closed now."""

    def mark(self, asset_id: int, price: float, now: datetime) -> list[PositionInfo]:
        """Mark the asset's open positions at ``price``; their views, marked."""

    def settle_opened(self, order_id: int, last_price: float, *, anchor: str,
                      reference: float, now: datetime,
                      price_decimals: int | None = None) -> None:
        """Exits of the position ``order_id`` opened moved to its fill; marked at the close."""

    # audit ----------------------------------------------------------------------------
    def add_audit(self, values: dict[str, Any]) -> None:
        """Add an audit row (see :func:`audit_values`), written with the unit."""

    # portfolio reads and the kill switch ----------------------------------------------
    def risk_subject(self, asset_id: int, now: datetime, *, closing: bool = False
                     ) -> RiskSubject:
        """What the pre-trade checks need of the asset and its portfolio (risk.py)."""

    def portfolio_pnl(self, portfolio_id: int) -> tuple[float, float, dict[int, float]]:
        """(realized, unrealized, unrealized per asset holding positions)."""

    def halt(self, portfolio_id: int, now: datetime, **details: Any) -> bool:
        """Move the portfolio to ``halted`` and audit it; False when it already was."""

    # the unit -------------------------------------------------------------------------
    def write(self) -> None:
        """Make every change of the unit durable (within the caller's transaction)."""


def write_audit_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows with one executemany (missing columns are NULL)."""
    if rows:
        connection.execute(_INSERT_AUDIT, [{name: row.get(name) for name in _AUDIT_COLUMNS}
                                           for row in rows])


# ------------------------------------------------------------------------------ SQL

# FOR UPDATE (PostgreSQL; SQLite's IMMEDIATE transaction already excludes writers): a
# reconciliation booking the same order waits, then sees the fills already counted.
_ORDER_BY_ID = select(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).with_for_update()
_ORDER_BY_COID = select(_ORDERS).where(_ORDERS.c.client_order_id == bindparam("coid"))
# The asset condition changes no answer (an order only opens or closes positions of its
# own asset) but lets SQLite search by the asset index: without it the planner scanned
# every open position (status index) for each order booked.
_RELATED_POSITIONS = select(_POSITIONS).where(
    _POSITIONS.c.asset_id == bindparam("asset_id"),
    or_((_POSITIONS.c.close_order_id == bindparam("order_id"))
        & (_POSITIONS.c.status == "open"),
        _POSITIONS.c.order_id == bindparam("order_id"))).order_by(_POSITIONS.c.id)
_CLOSED_BY = select(_POSITIONS).where(_POSITIONS.c.close_order_id == bindparam("order_id"),
                                      _POSITIONS.c.status == "open")
_POSITION_BY_ID = select(_POSITIONS).where(_POSITIONS.c.id == bindparam("position_id"))
_CLOSABLE = (select(_POSITIONS, _ORDERS.c.status.label("prior_status"),
                    _ORDERS.c.client_order_id.label("prior_client_order_id"))
             .outerjoin(_ORDERS, _ORDERS.c.id == _POSITIONS.c.close_order_id)
             .where(_POSITIONS.c.id == bindparam("pid")))


def _closable(position: Any, prior_status: str | None, prior_coid: str | None
              ) -> PositionInfo:
    """The rule of :meth:`Books.closable_position`, on a position and its closing order."""
    if position is None or position.status != "open":
        raise RiskRejected("position", "the position is not open")
    if position.close_order_id is not None and prior_status is not None \
            and not is_terminal(prior_status):
        raise RiskRejected("position", f"closing order {prior_coid} is still live")
    return position_info(position)
# Statements built once; the SET / VALUES columns come from the parameters' keys, so one
# statement serves every combination of changed columns (SQLAlchemy caches each shape).
_UPDATE_ORDER = update(_ORDERS).where(_ORDERS.c.id == bindparam("pk_"))
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_UPDATE_POSITION = update(_POSITIONS).where(_POSITIONS.c.id == bindparam("pk_"))
_INSERT_POSITION = insert(_POSITIONS).returning(_POSITIONS.c.id)
_INSERT_AUDIT = insert(_AUDIT)
# Only a portfolio not yet halted: the rowcount says whether this call halted it.
_HALT = update(_PORTFOLIOS).where(_PORTFOLIOS.c.id == bindparam("pid"),
                                  _PORTFOLIOS.c.risk_state != "halted"
                                  ).values(risk_state="halted")


class SqlBooks:
    """:class:`Books` on one connection, inside the caller's write transaction.

    Rows read are tracked, so a second look at the same row (a second fill of one answer)
    sees the first one's changes before anything is written, as the rules expect.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.audit_rows: list[dict[str, Any]] = []
        self._orders: dict[int, Record] = {}
        self._positions: list[Record] = []

    # orders
    def load_order(self, order_id: int) -> Record:
        """Read one order row (``FOR UPDATE`` off SQLite)."""
        if order_id in self._orders:
            return self._orders[order_id]
        row = self.connection.execute(_ORDER_BY_ID, {"order_id": order_id}).one()
        return self._track_order(dict(row._mapping))

    def order_by_client_id(self, client_order_id: str) -> Record | None:
        """The order with this client id: tracked first, else read."""
        for order in self._orders.values():
            if order.client_order_id == client_order_id:
                return order
        row = self.connection.execute(_ORDER_BY_COID, {"coid": client_order_id}).first()
        return None if row is None else self._track_order(dict(row._mapping))

    def new_order(self, **values: Any) -> Record:
        """Insert the order now (its id is needed at once), then track it."""
        full = {**_ORDER_DEFAULTS, **values}
        del full["id"]
        # NULLs are left to the table (a JSON column given None would store JSON null).
        full["id"] = self.connection.execute(
            _INSERT_ORDER, {k: v for k, v in full.items() if v is not None}).scalar_one()
        return self._track_order(full)

    def _track_order(self, values: dict[str, Any]) -> Record:
        order = Record(values)
        self._orders[order.id] = order
        return order

    # positions
    def related_positions(self, order: Any) -> list[Record]:
        """The open position ``order`` closes and any it opened, as they stand in memory."""
        for row in self.connection.execute(_RELATED_POSITIONS, {"order_id": order.id,
                                                                "asset_id": order.asset_id}):
            self._known(dict(row._mapping))
        return [p for p in self._positions
                if (p.close_order_id == order.id and p.status == "open")
                or p.order_id == order.id]

    def new_position(self, **values: Any) -> Record:
        """Create a position record, inserted by :meth:`write`."""
        position = Record({**_POSITION_DEFAULTS, **values}, new=True)
        self._positions.append(position)
        return position

    def position_closed_by(self, order_id: int) -> Record | None:
        """Return the open position ``order_id`` closes, as it stands in memory."""
        for row in self.connection.execute(_CLOSED_BY, {"order_id": order_id}):
            self._known(dict(row._mapping))
        return next((p for p in self._positions
                     if p.close_order_id == order_id and p.status == "open"), None)

    def position(self, position_id: int) -> Record | None:
        """The position ``position_id``: tracked first, else read."""
        for position in self._positions:
            if position.id == position_id:
                return position
        row = self.connection.execute(_POSITION_BY_ID, {"position_id": position_id}).first()
        return None if row is None else self._known(dict(row._mapping))

    def closable_position(self, position_id: int) -> PositionInfo:
        """One read of the position joined to its current closing order."""
        row = self.connection.execute(_CLOSABLE, {"pid": position_id}).first()
        if row is None:
            return _closable(None, None, None)
        info = _closable(row, row.prior_status, row.prior_client_order_id)
        # Tracked: the closing order placed next links it without reading it again.
        self._known({c: row._mapping[c] for c in _POSITION_COLUMNS})
        return info

    def mark(self, asset_id: int, price: float, now: datetime) -> list[PositionInfo]:
        """One read of the open positions, one executemany UPDATE (positions.mark_rows).

        Written at once, not by :meth:`write`: call it after the unit's fills are written.
        """
        still_open = open_positions(self.connection, [asset_id]).get(asset_id, [])
        return mark_rows(self.connection, still_open, price, now)

    def settle_opened(self, order_id: int, last_price: float, *, anchor: str,
                      reference: float, now: datetime,
                      price_decimals: int | None = None) -> None:
        """:func:`lts.trading.positions.settle_opened` on this connection (written at once)."""
        settle_opened(self.connection, order_id, last_price, anchor=anchor,
                      reference=reference, now=now, price_decimals=price_decimals)

    def settle_opened_many(self, opened: Sequence[tuple[int, float, str, float, int | None]],
                           now: datetime) -> None:
        """:func:`lts.trading.positions.settle_opened_many` on this connection (at once)."""
        settle_opened_many(self.connection, opened, now)

    def _known(self, values: dict[str, Any]) -> Record:
        """Return the record already tracked for this row, or track a new one."""
        for position in self._positions:
            if position.id is not None and position.id == values["id"]:
                return position
        position = Record(values)
        self._positions.append(position)
        return position

    # audit
    def add_audit(self, values: dict[str, Any]) -> None:
        """Collect an audit row, inserted by :meth:`write`."""
        self.audit_rows.append(values)

    # portfolio
    def risk_subject(self, asset_id: int, now: datetime, *, closing: bool = False
                     ) -> RiskSubject:
        """:func:`lts.trading.risk.load_subject` on this connection (locks on PostgreSQL)."""
        return load_subject(self.connection, asset_id, now, closing=closing)

    def portfolio_pnl(self, portfolio_id: int) -> tuple[float, float, dict[int, float]]:
        """One grouped query (:func:`lts.trading.statistics.portfolio_pnl`)."""
        from lts.trading.statistics import portfolio_pnl

        return portfolio_pnl(self.connection, portfolio_id)

    def halt(self, portfolio_id: int, now: datetime, **details: Any) -> bool:
        """A conditional UPDATE and, when it halted, its audit row (written at once)."""
        result = self.connection.execute(_HALT, {"pid": portfolio_id})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        write_audit_rows(self.connection, [audit_values(
            "portfolio.kill_switch", f"portfolio:{portfolio_id}", now, outcome="ok",
            **details)])
        return True

    # the unit
    def write(self) -> None:
        """Write what changed: the orders, the positions, then every audit row at once."""
        connection = self.connection
        for order in self._orders.values():
            changes = order.changes()
            if changes:
                connection.execute(_UPDATE_ORDER, {"pk_": order.id, **changes})
                order.saved()
        for position in self._positions:
            if position.id is None:
                values = position.values()
                del values["id"]
                position.id = connection.execute(_INSERT_POSITION, values).scalar_one()
                position.saved()
            else:
                changed = position.changes()
                if changed:
                    connection.execute(_UPDATE_POSITION, {"pk_": position.id, **changed})
                    position.saved()
        write_audit_rows(connection, self.audit_rows)
        self.audit_rows = []


# --------------------------------------------------------------------------- memory

class _Watched(Record):
    """A :class:`MemoryBooks` record: any assignment marks its asset's figures stale."""

    def __init__(self, values: dict[str, Any], stale: set[int]) -> None:
        state = self.__dict__
        state.update(values)
        state.update(_loaded={}, _assigned=set(), _stale=stale)  # Record(values, new=True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Set a column, remember it, and mark the asset (before and after) stale."""
        state = self.__dict__
        if name == "asset_id":
            state["_stale"].add(state["asset_id"])
        state[name] = value
        state["_assigned"].add(name)
        state["_stale"].add(state["asset_id"])


class MemoryBooks:
    """:class:`Books` on plain Python objects, for backtests: no database at all.

    ``portfolios`` and ``assets`` hold what the rules read of them, as dictionaries keyed
    by id with the columns' names (``total_capital``, ``risk_state`` for a portfolio;
    ``portfolio_id``, ``allocated_capital``, ``is_active``, ``broker_config`` for an
    asset); :meth:`add_portfolio` and :meth:`add_asset` fill them with defaults.
    Orders, positions and audit rows are kept in creation order.
    """

    def __init__(self) -> None:
        self.portfolios: dict[int, dict[str, Any]] = {}
        self.assets: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, Record] = {}
        self.positions: dict[int, Record] = {}
        self.audit: list[dict[str, Any]] = []
        self._order_ids = itertools.count(1)
        self._position_ids = itertools.count(1)
        # Indexes, so a replay of 100,000 bars costs the same per bar at the end as at the
        # start (a scan of every order or position per read grew with the trades):
        self._by_coid: dict[str, Record] = {}
        self._orders_of: dict[int, list[Record]] = {}  # per asset, creation order
        self._opened_by: dict[int, list[Record]] = {}  # per opening order id
        # Per asset: the positions that may still be open (closed ones are pruned on the
        # next read; a position never reopens) and the realized P&L of those pruned.
        self._live: dict[int, list[Record]] = {}
        self._closed_realized: dict[int, float] = {}
        self._live_orders: dict[int, list[Record]] = {}  # per asset: maybe not terminal
        self._unordered: set[int] = set()  # assets with an order created "in the past"
        # Asset ids per portfolio, rebuilt when ``assets`` changes size (see _portfolio_assets)
        self._assets_of: dict[int, list[int]] = {}
        self._assets_seen = -1
        # Per asset: (committed margin, realized, unrealized, any position) as risk_subject
        # and portfolio_pnl work them out, kept until a record of the asset is assigned or
        # created (``_stale``): a tick reads every asset's figures once per order placed.
        self._figures: dict[int, tuple[float, float, float, bool]] = {}
        self._stale: set[int] = set()

    def add_portfolio(self, portfolio_id: int, *, total_capital: float,
                      risk_state: str = "active", **values: Any) -> dict[str, Any]:
        """Register a portfolio (other columns in ``values``)."""
        row = {"id": portfolio_id, "total_capital": float(total_capital),
               "risk_state": risk_state, **values}
        self.portfolios[portfolio_id] = row
        return row

    def add_asset(self, asset_id: int, portfolio_id: int, *, allocated_capital: float = 0.0,
                  is_active: bool = True, broker_config: dict[str, Any] | None = None,
                  **values: Any) -> dict[str, Any]:
        """Register an asset of ``portfolio_id`` (other columns in ``values``)."""
        if portfolio_id not in self.portfolios:
            raise KeyError(f"portfolio_id {portfolio_id} is not registered")
        row = {"id": asset_id, "portfolio_id": portfolio_id,
               "allocated_capital": float(allocated_capital), "is_active": is_active,
               "broker_config": dict(broker_config or {}), **values}
        self.assets[asset_id] = row
        return row

    # orders
    def load_order(self, order_id: int) -> Record:
        """The stored order (KeyError when there is none, as ``.one()`` raises)."""
        return self.orders[order_id]

    def order_by_client_id(self, client_order_id: str) -> Record | None:
        """The order with this client id, if any (client ids never change)."""
        return self._by_coid.get(client_order_id)

    def new_order(self, **values: Any) -> Record:
        """Store a new order under the next id; client ids are unique, as in the table."""
        coid = values.get("client_order_id")
        if coid is not None and coid in self._by_coid:
            raise DuplicateClientOrderId(coid)
        # new=True: no copy of the loaded values (nothing here is written back; a long
        # replay holds thousands of records)
        order = _Watched({**_ORDER_DEFAULTS, **values, "id": next(self._order_ids)},
                         self._stale)
        self._stale.add(order.asset_id)
        self.orders[order.id] = order
        if coid is not None:
            self._by_coid[coid] = order
        of_asset = self._orders_of.setdefault(order.asset_id, [])
        if of_asset and order.created_at < of_asset[-1].created_at:
            self._unordered.add(order.asset_id)
        of_asset.append(order)
        self._live_orders.setdefault(order.asset_id, []).append(order)
        return order

    # positions
    def related_positions(self, order: Any) -> list[Record]:
        """The open position ``order`` closes and any it opened, by id."""
        found = {p.id: p for p in self._open(order.asset_id)
                 if p.close_order_id == order.id}
        found.update((p.id, p) for p in self._opened_by.get(order.id, ())
                     if p.asset_id == order.asset_id)
        return [found[key] for key in sorted(found)]

    def new_position(self, **values: Any) -> Record:
        """Store a new position under the next id."""
        position = _Watched({**_POSITION_DEFAULTS, **values, "id": next(self._position_ids)},
                            self._stale)
        self._stale.add(position.asset_id)
        self.positions[position.id] = position
        self._live.setdefault(position.asset_id, []).append(position)
        if position.order_id is not None:
            self._opened_by.setdefault(position.order_id, []).append(position)
        return position

    def position_closed_by(self, order_id: int) -> Record | None:
        """The open position ``order_id`` closes, if any."""
        order = self.orders.get(order_id)
        assets = [order.asset_id] if order is not None else list(self._live)
        return next((p for asset_id in assets for p in self._open(asset_id)
                     if p.close_order_id == order_id), None)

    def position(self, position_id: int) -> Record | None:
        """The position ``position_id``, if any."""
        return self.positions.get(position_id)

    def closable_position(self, position_id: int) -> PositionInfo:
        """The position and its current closing order, from memory."""
        position = self.positions.get(position_id)
        prior = self.orders.get(position.close_order_id) \
            if position is not None and position.close_order_id is not None else None
        return _closable(position, prior.status if prior else None,
                         prior.client_order_id if prior else None)

    def open_positions(self, asset_id: int) -> list[Record]:
        """The asset's open positions, oldest first.

        Positions found closed leave the asset's live list for good (a position never
        reopens), their realized P&L counted once in :meth:`_realized_closed`.
        """
        return list(self._open(asset_id))

    def _open(self, asset_id: int) -> list[Record]:
        """:meth:`open_positions` without the copy: the live list itself, read-only."""
        live = self._live.get(asset_id)
        if not live:
            return []
        still = [p for p in live if p.status == "open"]
        if len(still) != len(live):
            closed = sum(p.realized_pnl for p in live if p.status != "open")
            self._closed_realized[asset_id] = self._closed_realized.get(asset_id, 0.0) + closed
            self._live[asset_id] = still
        return still

    def _asset_pnl(self, asset_id: int, still: list[Record] | None = None
                   ) -> tuple[float, float, bool]:
        """(realized, unrealized of the open positions, whether it has any position)."""
        if still is None:
            still = self._open(asset_id)
        realized = self._closed_realized.get(asset_id, 0.0)
        realized += sum(p.realized_pnl for p in still)
        unrealized = sum(p.unrealized_pnl for p in still)
        return realized, unrealized, bool(still) or asset_id in self._closed_realized

    def open_orders(self, asset_id: int) -> list[Record]:
        """The asset's orders not in a terminal state, oldest first (terminal ones pruned)."""
        return list(self._pending(asset_id))

    def _pending(self, asset_id: int) -> list[Record]:
        """:meth:`open_orders` without the copy: the live list itself, read-only."""
        live = self._live_orders.get(asset_id)
        if not live:
            return []
        still = [o for o in live if not is_terminal(o.status)]
        if len(still) != len(live):
            self._live_orders[asset_id] = still
        return still

    def mark(self, asset_id: int, price: float, now: datetime) -> list[PositionInfo]:
        """Mark the asset's open positions at ``price``; their views (see SqlBooks.mark)."""
        still = self._open(asset_id)
        for position in still:
            mark_to_market(position, price, now)
        return [position_info(p) for p in still]

    def settle_opened(self, order_id: int, last_price: float, *, anchor: str,
                      reference: float, now: datetime,
                      price_decimals: int | None = None) -> None:
        """:func:`lts.trading.positions.settle_opened` on the records."""
        for position in self._opened_by.get(order_id, ()):
            if position.status != "open":
                continue
            position.stop_loss = reanchor(position.stop_loss, anchor, reference,
                                          position.entry_price, price_decimals)
            position.take_profit = reanchor(position.take_profit, anchor, reference,
                                            position.entry_price, price_decimals)
            mark_to_market(position, last_price, now)

    # audit
    def add_audit(self, values: dict[str, Any]) -> None:
        """Keep the audit row."""
        self.audit.append(dict(values))

    # portfolio
    def _portfolio_assets(self, portfolio_id: int) -> list[int]:
        """The portfolio's asset ids in registration order (read-only).

        Assets are only ever added: the index is rebuilt when their number changes.
        """
        if self._assets_seen != len(self.assets):
            self._assets_of = {}
            for asset_id, row in self.assets.items():
                self._assets_of.setdefault(row["portfolio_id"], []).append(asset_id)
            self._assets_seen = len(self.assets)
        return self._assets_of.get(portfolio_id, [])

    def risk_subject(self, asset_id: int, now: datetime, *, closing: bool = False
                     ) -> RiskSubject:
        """The same figures :func:`lts.trading.risk.load_subject` reads, from memory."""
        asset = self.assets[asset_id]
        portfolio = self.portfolios[asset["portfolio_id"]]
        siblings = self._portfolio_assets(portfolio["id"])
        since = now - timedelta(minutes=1)
        recent = sum(_created_since(self._orders_of.get(each, ()), since,
                                    ordered=each not in self._unordered) for each in siblings)
        if closing:
            return RiskSubject(portfolio["id"], portfolio["risk_state"], asset_id,
                               float(asset["allocated_capital"]), recent,
                               asset_active=bool(asset["is_active"]))
        equity = float(portfolio["total_capital"])
        committed = other_margin = 0.0
        for each in siblings:
            used, realized, unrealized, _ = self._figures_of(each)
            equity += realized + unrealized
            if each == asset_id:
                committed = used
            elif used:
                other_margin += used / config_leverage(self.assets[each]["broker_config"])
        return RiskSubject(portfolio["id"], portfolio["risk_state"], asset_id,
                           float(asset["allocated_capital"]), recent, committed,
                           equity=equity, other_margin=other_margin,
                           asset_active=bool(asset["is_active"]))

    def _figures_of(self, asset_id: int) -> tuple[float, float, float, bool]:
        """(committed margin, realized, unrealized, any position) of the asset's records."""
        figures = self._figures.get(asset_id)
        if figures is None or asset_id in self._stale:
            still = self._open(asset_id)
            # An order closing a position closed meanwhile is terminal (filled): only
            # open positions' closing orders can still be live.
            closing_ids = {p.close_order_id for p in still if p.close_order_id is not None}
            used = sum(p.quantity * p.entry_price for p in still)
            used += sum(o.quantity * (o.price or 0.0) for o in self._pending(asset_id)
                        if o.status in OPEN_STATUSES and o.id not in closing_ids)
            figures = (used, *self._asset_pnl(asset_id, still))
            self._figures[asset_id] = figures
            self._stale.discard(asset_id)
        return figures

    def portfolio_pnl(self, portfolio_id: int) -> tuple[float, float, dict[int, float]]:
        """(realized, unrealized, unrealized per asset holding positions)."""
        realized = 0.0
        per_asset: dict[int, float] = {}
        for asset_id in self._portfolio_assets(portfolio_id):
            _, asset_realized, unrealized, any_position = self._figures_of(asset_id)
            if any_position:
                realized += asset_realized
                per_asset[asset_id] = unrealized
        return realized, sum(per_asset.values()), per_asset

    def halt(self, portfolio_id: int, now: datetime, **details: Any) -> bool:
        """Halt the portfolio and audit it, unless it already was halted."""
        portfolio = self.portfolios[portfolio_id]
        if portfolio["risk_state"] == "halted":
            return False
        portfolio["risk_state"] = "halted"
        self.add_audit(audit_values("portfolio.kill_switch", f"portfolio:{portfolio_id}",
                                    now, outcome="ok", **details))
        return True

    # the unit
    def write(self) -> None:
        """Nothing to do: every change is already in memory."""

    # views for reports and tests
    def audit_of(self, resource: str) -> list[dict[str, Any]]:
        """Audit rows of one resource (``order:7``), oldest first."""
        return [row for row in self.audit if row["resource"] == resource]


def _created_since(orders: Sequence[Record], since: datetime, *, ordered: bool) -> int:
    """How many of ``orders`` (creation order) were created after ``since``.

    ``ordered`` (no order was created with an earlier time than the one before it, as
    in a replay, whose clock never goes back): counted from the newest back while they
    are recent, so a long replay does not scan every order it placed. Otherwise all.
    """
    if not ordered:
        return sum(1 for order in orders if order.created_at > since)
    count = 0
    for order in reversed(orders):
        if order.created_at <= since:
            break
        count += 1
    return count


class DuplicateClientOrderId(ValueError):
    """A second order with a client id already stored (the table's unique constraint)."""

    def __init__(self, client_order_id: str) -> None:
        super().__init__(f"client_order_id {client_order_id!r} already exists")
        self.client_order_id = client_order_id


def records(rows: Iterable[Any], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Column values of records or ORM rows, for comparing two books in tests and reports."""
    return [{c: getattr(row, c) for c in columns} for row in rows]


ORDER_COLUMNS = _ORDER_COLUMNS
POSITION_COLUMNS = _POSITION_COLUMNS
