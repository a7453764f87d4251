"""Core-statement :class:`~lts.trading.books.Books` for the hot path of placing orders.

Why: booking a broker answer through the ORM cost about 1.5 ms per order (identity map,
unit-of-work flushes, autoflush before each read, refresh after commit). Here the order
and its positions are plain :class:`Record` objects with the ORM attribute names, so the
same rules (:func:`~lts.trading.orders.apply_broker_result`, the state machine, the fill
arithmetic) run on them unchanged, and :meth:`CoreBooks.write` turns what changed into a
handful of Core statements inside the caller's transaction: one UPDATE of the order,
one INSERT or UPDATE per position, one executemany for every audit row of the step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from lts.models import AuditLog, Order, Position

_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_AUDIT = AuditLog.__table__
_AUDIT_COLUMNS = tuple(c.name for c in _AUDIT.c if c.name != "id")
# FOR UPDATE (PostgreSQL; SQLite's IMMEDIATE transaction already excludes writers): a
# reconciliation booking the same order waits, then sees the fills already counted.
_ORDER_BY_ID = select(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).with_for_update()
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
_POSITION_DEFAULTS: dict[str, Any] = {
    "id": None, "current_price": None, "unrealized_pnl": 0.0, "realized_pnl": 0.0,
    "broker_position_id": None, "closed_at": None, "close_order_id": None,
    "exit_price": None, "commission": 0.0,
}
_MISSING = object()
# Statements built once; the SET / VALUES columns come from the parameters' keys, so one
# statement serves every combination of changed columns (SQLAlchemy caches each shape).
_UPDATE_ORDER = update(_ORDERS).where(_ORDERS.c.id == bindparam("pk_"))
_UPDATE_POSITION = update(_POSITIONS).where(_POSITIONS.c.id == bindparam("pk_"))
_INSERT_POSITION = insert(_POSITIONS).returning(_POSITIONS.c.id)
_INSERT_AUDIT = insert(_AUDIT)


class Record:
    """A table row as a plain mutable object whose attributes are the column names.

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

    def values(self) -> dict[str, Any]:
        """Return every column value."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def changes(self) -> dict[str, Any]:
        """Return the columns assigned since loading or differing from the loaded value."""
        return {k: v for k, v in self.values().items()
                if k in self._assigned or self._loaded.get(k, _MISSING) != v}


def audit_row_values(row: AuditLog) -> dict[str, Any]:
    """Turn an (unsaved) AuditLog object into the values of an INSERT."""
    return {name: getattr(row, name) for name in _AUDIT_COLUMNS}


def write_audit_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows with one executemany (every dict has every column)."""
    if rows:
        connection.execute(_INSERT_AUDIT, [{name: row.get(name) for name in _AUDIT_COLUMNS}
                                           for row in rows])


class CoreBooks:
    """:class:`~lts.trading.books.Books` on one connection; call :meth:`write` at the end."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.audit_rows: list[dict[str, Any]] = []
        self._positions: list[Record] = []

    def load_order(self, order_id: int) -> Record:
        """Read one order row."""
        row = self.connection.execute(_ORDER_BY_ID, {"order_id": order_id}).one()
        return Record(dict(row._mapping))

    def add(self, row: Any) -> None:
        """Collect an audit row given as an AuditLog object."""
        self.audit_rows.append(audit_row_values(row))

    def add_audit_values(self, values: dict[str, Any]) -> None:
        """Collect an audit row given as column values (the state machine's way)."""
        self.audit_rows.append(values)

    def related_positions(self, order: Any) -> list[Any]:
        """The open position ``order`` closes and any it opened, as they stand in memory.

        The ORM flushes before it queries, so a second fill of one answer finds the
        position the first fill opened or closed. Here nothing is written before
        :meth:`write`, so the tracked records (new ones included) are matched in memory
        with the same condition as the query.
        """
        rows = self.connection.execute(_RELATED_POSITIONS, {"order_id": order.id,
                                                            "asset_id": order.asset_id}).all()
        for row in rows:
            self._known(dict(row._mapping))
        return [p for p in self._positions
                if (p.close_order_id == order.id and p.status == "open")
                or p.order_id == order.id]

    def new_position(self, **values: Any) -> Any:
        """Create a position record, inserted by :meth:`write`."""
        position = Record({**_POSITION_DEFAULTS, **values}, new=True)
        self._positions.append(position)
        return position

    def position_closed_by(self, order_id: int) -> Any | None:
        """Return the open position ``order_id`` closes, as it stands in memory."""
        for row in self.connection.execute(_CLOSED_BY, {"order_id": order_id}):
            self._known(dict(row._mapping))
        return next((p for p in self._positions
                     if p.close_order_id == order_id and p.status == "open"), None)

    def _known(self, values: dict[str, Any]) -> Record:
        """Return the record already tracked for this row, or track a new one."""
        for position in self._positions:
            if position.id is not None and position.id == values["id"]:
                return position
        position = Record(values)
        self._positions.append(position)
        return position

    def write(self, order: Record) -> None:
        """Write what changed: the order, the positions, then every audit row at once."""
        connection = self.connection
        changes = order.changes()
        if changes:
            connection.execute(_UPDATE_ORDER, {"pk_": order.id, **changes})
        for position in self._positions:
            if position.id is None:
                values = position.values()
                del values["id"]
                position.id = connection.execute(_INSERT_POSITION, values).scalar_one()
            else:
                changed = position.changes()
                if changed:
                    connection.execute(_UPDATE_POSITION, {"pk_": position.id, **changed})
        write_audit_rows(connection, self.audit_rows)
        self.audit_rows = []
