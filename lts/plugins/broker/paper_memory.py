"""The ``paper`` broker's book in memory, for backtests: the same fill rules, no tables.

:class:`MemoryPaperBroker` is a :class:`~lts.plugins.broker.paper.PaperBroker` whose book
(the ``paper_orders`` rows and the positions' newest-checked-bar marks) lives in plain
dictionaries instead of the database. Every pricing and fill rule is the paper broker's
own, called, not copied: :meth:`PaperBroker._book` (rejections, market fill price,
commission, fill time), :func:`~lts.plugins.broker.paper._first_cross` (resting limit
and stop orders), :func:`~lts.plugins.broker.paper.exit_trigger` (stop loss / take
profit, stop first) and :meth:`PaperBroker.result_of`. So a backtest fills exactly what
the live paper broker fills on the same bars; ``tests/integration/test_backtest_one_engine.py``
compares the two.

Why not the table: a backtest writes nothing to the live database, and each booking
through SQLite cost more than the whole rest of a bar's step.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lts.plugins.base import (
    AssetInfo,
    BrokerResult,
    BrokerState,
    Fill,
    MarketSnapshot,
    PositionInfo,
)
from lts.plugins.broker.paper import (
    EXIT_PREFIX,
    PaperBroker,
    _bars_since,
    _finite_positive,
    _first_cross,
    exit_trigger,
    since_opening,
)

# Columns of a paper_orders row that _book leaves out (the table's NULLs).
_ROW_DEFAULTS: dict[str, Any] = {"fill_price": None, "filled_at": None, "message": None,
                                 "details": None, "last_checked_bar": None}


class MemoryPaperBroker(PaperBroker):
    """The paper broker on an in-memory book (see the module docstring).

    The book is per instance: a backtest builds one per asset. Each bar is checked
    once: the replay ticks every bar, and the check mark moves to the newest bar at
    every ``mark`` (the table only writes it now and then; checking a bar twice
    changes nothing, so the fills are the same).
    """

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, app_config)
        self.book: dict[str, dict[str, Any]] = {}  # by client_order_id, in booking order
        self._ids = itertools.count(1)
        self._resting: dict[str, dict[str, Any]] = {}  # submitted limit/stop rows
        self._checked: dict[int, datetime] = {}  # position id -> newest bar checked

    @classmethod
    def like(cls, broker: PaperBroker) -> MemoryPaperBroker:
        """A memory broker with ``broker``'s (validated) config and settings."""
        return cls(dict(broker.config), dict(broker.app_config))

    # ---------------------------------------------------------------- storage
    def _row(self, client_order_id: str) -> Mapping[str, Any] | None:
        """The booked row with this client id, if any."""
        return self.book.get(client_order_id)

    def _insert(self, values: dict[str, Any], forget_position: int | None = None
                ) -> Mapping[str, Any]:
        """Book a row (a repeated client id answers with the first booking)."""
        existing = self.book.get(values["client_order_id"])
        if existing is not None:
            return existing
        row = {**_ROW_DEFAULTS, **values, "id": next(self._ids)}
        self.book[row["client_order_id"]] = row
        if row["status"] == "submitted" and row["order_type"] in ("limit", "stop"):
            self._resting[row["client_order_id"]] = row
        if forget_position is not None and row["status"] == "filled":
            self._checked.pop(forget_position, None)
        return row

    # ------------------------------------------------------------- contract
    def cancel(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Cancel a resting order; a filled or unknown one is answered as it stands."""
        row = self.book.get(client_order_id)
        if row is not None and row["asset_id"] == asset.id and row["status"] == "submitted":
            row.update(status="cancelled", message="cancelled")
            self._resting.pop(client_order_id, None)
        return self.lookup(asset, client_order_id)

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo], *, _retry: bool = False) -> list[Fill]:
        """Fill resting orders and stop/target exits the new bars trigger.

        The same answer as :meth:`PaperBroker.mark`: exits already booked for positions
        still passed as open are reported again, then the resting orders the new bars
        fill, then the new exits.
        """
        exit_ids = {f"{EXIT_PREFIX}{p.id}": p for p in positions if p.asset_id == asset.id}
        booked = sorted((self.book[c] for c in exit_ids if c in self.book),
                        key=lambda row: row["id"])
        fills = [self._fill_of(row) for row in booked]
        resting = [row for row in self._resting.values() if row["asset_id"] == asset.id]
        # A position without a finite stop or target can trigger nothing (exit_trigger
        # answers None at once): not watched, so most bars of most backtests skip this.
        watched = [p for c, p in exit_ids.items() if c not in self.book
                   and (_finite_positive(p.stop_loss) or _finite_positive(p.take_profit))]
        candles = snapshot.candles
        if candles.empty or not (resting or watched):
            return fills
        since: dict[tuple[str, int], datetime] = {
            ("order", row["id"]): row["last_checked_bar"] or since_opening(row["created_at"])
            for row in resting}
        since.update({("position", p.id): self._checked.get(p.id) or since_opening(p.opened_at)
                      for p in watched})
        bars, _gap = _bars_since(snapshot, min(since.values()))
        newest = bars.index[-1].to_pydatetime()
        filled = []
        for row in resting:
            crossed = _first_cross(bars, since[("order", row["id"])], row["side"],
                                   row["order_type"], float(row["price"]))
            if crossed is None:
                row["last_checked_bar"] = newest
                continue
            when, price = crossed
            price = self.fill_price(price)  # the paper broker's rounding (price_decimals)
            row.update(status="filled", fill_price=price, filled_at=when,
                       commission=self.commission(row["quantity"], price))
            del self._resting[row["client_order_id"]]
            filled.append(self._fill_of(row))
        exits = []
        for position in watched:
            trigger = exit_trigger(bars, position, since[("position", position.id)])
            if trigger is None:
                self._checked[position.id] = newest
                continue
            row = self._insert(self._exit_row(asset, position, *trigger))
            self._checked.pop(position.id, None)
            exits.append(self._fill_of(row))
        return fills + filled + exits

    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Every order the book holds for ``asset``, by client id (as the table answers)."""
        return BrokerState(orders={coid: self.result_of(row) for coid, row in self.book.items()
                                   if row["asset_id"] == asset.id})
