"""A fake OANDA v20 REST server: real HTTP on a loopback port, v20's JSON shapes and codes.

It holds one account (balance, orders, trades, transactions) and a few instruments in
memory, fills market orders at its bid/ask, places stop-loss / take-profit orders on
fill, and speaks the documented answers: 201 with ``orderCreateTransaction`` and an
``orderFillTransaction`` or ``orderCancelTransaction``; 400 with an
``orderRejectTransaction``; 404 for an unknown ``@clientID``; 401 for a bad token. Decimals
are strings, times RFC 3339 with nanoseconds, ids decimal strings (a trade's id is the id
of the fill that opened it, as in v20).

Faults are switched on :attr:`FakeV20.faults` (see :class:`Faults`): latency, a read
timeout after an order is accepted, 500 (before or after the order is booked), 429 with
``Retry-After``, order rejection, cancellation (insufficient margin, FOK not filled), a
partial fill, an expired token. :meth:`FakeV20.set_price` moves the market and lets
resting orders trigger, e.g. a broker-side stop loss between two ticks.

Start it in a test with :func:`serve` (a context manager) or alone with
``python -m tests.fakes.oanda_v20`` (``make run-fake-oanda``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

TOKEN = "fake-v20-token-0123456789abcdef"
ACCOUNT = "101-004-2468013-001"
GRANULARITIES = {
    "S5": 5, "S10": 10, "S15": 15, "S30": 30, "M1": 60, "M2": 120, "M4": 240, "M5": 300,
    "M10": 600, "M15": 900, "M30": 1800, "H1": 3600, "H2": 7200, "H3": 10800,
    "H4": 14400, "H6": 21600, "H8": 28800, "H12": 43200, "D": 86400,
}
_MAX_CANDLES = 5000


def v20_time(moment: datetime) -> str:
    """RFC 3339, UTC, nanoseconds: how v20 writes every time."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def parse_v20_time(text: str) -> datetime:
    """Parse an RFC 3339 time or a UNIX timestamp, as v20 query parameters allow."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    value = text.rstrip("Z")
    head, _, fraction = value.partition(".")
    moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if fraction:
        moment = moment.replace(microsecond=int((fraction + "000000")[:6]))
    return moment


def dec(value: float, places: int) -> str:
    """A decimal as v20 sends it: a string with a fixed number of places."""
    return f"{value:.{places}f}"


@dataclass
class Faults:
    """Switchable faults; counters count down as they fire."""

    latency: float = 0.0                 # seconds added to every answer
    expired_token: bool = False          # every call answers 401
    hang_after_accept: int = 0           # POST orders: book it, then answer too late
    hang_seconds: float = 1.5
    error_500_before: int = 0            # POST orders: 500 without booking
    error_500_after: int = 0             # POST orders: book it, then answer 500
    error_429: int = 0                   # POST orders: 429 with Retry-After, not booked
    retry_after: str = "1"
    reject_reason: str | None = None     # next order: 400 with MARKET_ORDER_REJECT
    cancel_reason: str | None = None     # next order: 201 with ORDER_CANCEL (margin, FOK)
    partial_fraction: float | None = None  # next IOC order: fill this part, cancel the rest


@dataclass
class InstrumentSpec:
    """A tradeable instrument and the base of its deterministic price path."""

    name: str
    base: float
    display_precision: int = 5
    pip_location: int = -4
    margin_rate: float = 0.0333
    minimum_trade_size: float = 1.0
    trade_units_precision: int = 0
    display_name: str = ""

    def as_json(self) -> dict[str, Any]:
        """The v20 ``Instrument`` object."""
        return {
            "name": self.name, "type": "CURRENCY",
            "displayName": self.display_name or self.name.replace("_", "/"),
            "pipLocation": self.pip_location, "displayPrecision": self.display_precision,
            "tradeUnitsPrecision": self.trade_units_precision,
            "minimumTradeSize": dec(self.minimum_trade_size, self.trade_units_precision),
            "maximumTrailingStopDistance": "1.00000",
            "minimumTrailingStopDistance": "0.00050",
            "maximumPositionSize": "0", "maximumOrderUnits": "100000000",
            "marginRate": f"{self.margin_rate:.4f}",
        }


DECIMAL_TEXT = re.compile(r"^\d+(\.\d+)?$")


def _noise(name: str, step: int) -> float:
    """A repeatable number in [-1, 1] for (instrument, step)."""
    digest = hashlib.sha256(f"{name}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 63 - 1.0


@dataclass
class FakeV20:
    """The fake account and market; :meth:`app` serves it."""

    token: str = TOKEN
    account_id: str = ACCOUNT
    balance: float = 100_000.0
    half_spread: float = 0.00005            # relative: bid = mid (1 - x), ask = mid (1 + x)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    faults: Faults = field(default_factory=Faults)
    instruments: dict[str, InstrumentSpec] = field(default_factory=lambda: {
        "EUR_USD": InstrumentSpec("EUR_USD", 1.1000),
        "GBP_USD": InstrumentSpec("GBP_USD", 1.2700),
        "USD_JPY": InstrumentSpec("USD_JPY", 150.00, display_precision=3,
                                  pip_location=-2),
        "TEST": InstrumentSpec("TEST", 100.0, display_precision=5, margin_rate=0.05),
    })

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.release = threading.Event()
        self.prices: dict[str, float] = {}
        #: Bars fed per instrument (:meth:`feed`): candles come from them.
        self.fed: dict[str, Any] = {}
        self.transactions: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, dict[str, Any]] = {}
        self.last_id = 1  # the account's CREATE transaction
        self.requests: list[tuple[str, str]] = []
        #: Query parameters of every request, by path.
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        #: POST /orders that booked an order, by client id: "never placed twice".
        self.placed: Counter[str] = Counter()

    # ------------------------------------------------------------ market

    def mid_at(self, instrument: str, moment: datetime) -> float:
        """The deterministic mid price path (5-second steps)."""
        spec = self.instruments[instrument]
        seconds = moment.timestamp()
        step = int(seconds // 5)
        wave = 0.002 * math.sin(seconds / 5400.0) + 0.0006 * _noise(spec.name, step)
        return spec.base * math.exp(wave)

    def mid(self, instrument: str) -> float:
        """The current mid: a price set by the test, else the path at the clock."""
        if instrument in self.prices:
            return self.prices[instrument]
        return self.mid_at(instrument, self.clock())

    def quote(self, instrument: str) -> tuple[float, float]:
        """(bid, ask) now, at the instrument's precision."""
        mid = self.mid(instrument)
        places = self.instruments[instrument].display_precision
        bid = round(mid * (1 - self.half_spread), places)
        ask = round(mid * (1 + self.half_spread), places)
        return bid, ask

    def set_price(self, instrument: str, mid: float) -> list[dict[str, Any]]:
        """Move the market; resting orders it crosses fill now. Returns their fills."""
        with self.lock:
            self.prices[instrument] = mid
            return self._trigger(instrument)

    def feed(self, instrument: str, bars: Any) -> None:
        """Serve ``bars`` (OHLCV frame, stamped by period start) as ``instrument``'s market.

        Candles of a granularity are built from the fed bars stamped inside each candle
        (so a granularity the bars' spacing divides), instead of the built-in price
        path: the pipeline contract suite feeds its data this way. An unknown
        instrument is added (precision 5).
        """
        with self.lock:
            self.instruments.setdefault(instrument, InstrumentSpec(instrument, 100.0))
            self.fed[instrument] = bars.sort_index()

    def _fed_candles(self, instrument: str, period: int, factor: float, component: str,
                     start: datetime | None, end: datetime | None, count: int | None
                     ) -> list[dict[str, Any]]:
        """v20 candlesticks of fed bars: ``from`` / ``to`` / ``count`` as v20 reads them."""
        bars = self.fed[instrument]
        now = self.clock().timestamp()
        places = self.instruments[instrument].display_precision
        stamps = (bars.index.as_unit("ns").asi8 // 10**9 // period) * period
        groups = bars.groupby(stamps, sort=True)
        frame = groups.agg({"open": "first", "high": "max", "low": "min", "close": "last",
                            "volume": "sum"})
        values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
        rows = [(int(stamp), row) for stamp, row in zip(frame.index, values, strict=True)
                if stamp <= now]
        if start is not None:
            rows = [r for r in rows if r[0] >= start.timestamp()]
        if end is not None:
            rows = [r for r in rows if r[0] < end.timestamp()]
        if count is not None:
            rows = rows[:count] if start is not None and end is None else rows[-count:]
        elif start is None:
            rows = rows[-500:]
        key = {"M": "mid", "B": "bid", "A": "ask"}[component]
        return [{"complete": stamp + period <= now, "volume": int(row[4]),
                 "time": v20_time(datetime.fromtimestamp(stamp, UTC)),
                 key: {c: dec(float(row[i]) * factor, places) for i, c in enumerate("ohlc")}}
                for stamp, row in rows]

    def candles(self, instrument: str, granularity: str, component: str,
                start: datetime | None, end: datetime | None, count: int | None
                ) -> list[dict[str, Any]]:
        """v20 candlesticks: stamped by period start, the forming one ``complete: false``."""
        period = GRANULARITIES[granularity]
        factor = {"M": 1.0, "B": 1 - self.half_spread, "A": 1 + self.half_spread}[component]
        if instrument in self.fed:
            return self._fed_candles(instrument, period, factor, component, start, end,
                                     count)
        now = self.clock().timestamp()
        spec = self.instruments[instrument]
        places = spec.display_precision
        newest = math.floor(now / period) * period  # the forming candle
        if start is not None:
            first = math.ceil(start.timestamp() / period) * period
            last = newest if end is None else min(
                newest, math.ceil(end.timestamp() / period) * period - period)
            if count is not None and end is None:
                last = min(last, first + (count - 1) * period)
        else:
            last = newest if end is None else min(
                newest, math.ceil(end.timestamp() / period) * period - period)
            first = last - ((count or 500) - 1) * period
        stamps = range(int(first), int(last) + 1, period) if last >= first else range(0)
        out = []
        for stamp in stamps:
            opened = datetime.fromtimestamp(stamp, UTC)
            closed = datetime.fromtimestamp(min(stamp + period, now), UTC)
            o = self.mid_at(instrument, opened) * factor
            c = self.mid_at(instrument, closed) * factor
            wick = 1 + 0.0002 * (1 + _noise(spec.name + "w", stamp))
            out.append({
                "complete": stamp + period <= now,
                "volume": 10 + int(abs(_noise(spec.name + "v", stamp)) * 100),
                "time": v20_time(opened),
                {"M": "mid", "B": "bid", "A": "ask"}[component]: {
                    "o": dec(o, places), "h": dec(max(o, c) * wick, places),
                    "l": dec(min(o, c) / wick, places), "c": dec(c, places)},
            })
        return out

    # ------------------------------------------------------------ books

    def _tx(self, kind: str, **values: Any) -> dict[str, Any]:
        """Append a transaction with the common fields; return it."""
        self.last_id += 1
        tx = {"id": str(self.last_id), "time": v20_time(self.clock()), "userID": 1234567,
              "accountID": self.account_id, "batchID": str(self.last_id),
              "requestID": f"6{self.last_id:017d}", "type": kind, **values}
        self.transactions.append(tx)
        return tx

    def open_trades(self, instrument: str | None = None) -> list[dict[str, Any]]:
        """Open trades, oldest first (FIFO)."""
        return [t for t in sorted(self.trades.values(), key=lambda t: int(t["id"]))
                if t["state"] == "OPEN" and (instrument is None or t["instrument"] == instrument)]

    def unrealized(self, trade: dict[str, Any]) -> float:
        """Unrealized P&L of an open trade at the current quote."""
        bid, ask = self.quote(trade["instrument"])
        units = float(trade["currentUnits"])
        exit_price = bid if units > 0 else ask
        return (exit_price - float(trade["price"])) * units

    def margin_used(self) -> float:
        """Margin of the open trades."""
        return sum(abs(float(t["currentUnits"])) * self.mid(t["instrument"])
                   * self.instruments[t["instrument"]].margin_rate
                   for t in self.open_trades())

    def summary(self) -> dict[str, Any]:
        """The v20 ``AccountSummary``."""
        unrealized = sum(self.unrealized(t) for t in self.open_trades())
        nav = self.balance + unrealized
        used = self.margin_used()
        return {
            "id": self.account_id, "alias": "Fake practice", "currency": "USD",
            "createdByUserID": 1234567, "createdTime": "2024-01-02T03:04:05.000000000Z",
            "balance": dec(self.balance, 4), "pl": "0.0000", "resettablePL": "0.0000",
            "financing": "0.0000", "commission": "0.0000", "guaranteedExecutionFees": "0.0000",
            "marginRate": "0.02", "openTradeCount": len(self.open_trades()),
            "openPositionCount": len({t["instrument"] for t in self.open_trades()}),
            "pendingOrderCount": sum(1 for o in self.orders.values() if o["state"] == "PENDING"),
            "hedgingEnabled": False, "unrealizedPL": dec(unrealized, 4), "NAV": dec(nav, 4),
            "marginUsed": dec(used, 4), "marginAvailable": dec(max(nav - used, 0.0), 4),
            "positionValue": dec(used * 30, 4), "marginCloseoutUnrealizedPL": dec(unrealized, 4),
            "marginCloseoutNAV": dec(nav, 4), "marginCloseoutMarginUsed": dec(used, 4),
            "marginCloseoutPercent": dec(used / (2 * nav) if nav > 0 else 0.0, 5),
            "withdrawalLimit": dec(max(nav - used, 0.0), 4),
            "lastTransactionID": str(self.last_id),
        }

    def find_order(self, specifier: str) -> dict[str, Any] | None:
        """An order by id or ``@clientID``."""
        if specifier.startswith("@"):
            wanted = specifier[1:]
            return next((o for o in self.orders.values()
                         if (o.get("clientExtensions") or {}).get("id") == wanted), None)
        return self.orders.get(specifier)

    def find_trade(self, specifier: str) -> dict[str, Any] | None:
        """A trade by id or ``@clientID``."""
        if specifier.startswith("@"):
            wanted = specifier[1:]
            return next((t for t in self.trades.values()
                         if (t.get("clientExtensions") or {}).get("id") == wanted), None)
        return self.trades.get(specifier)

    # ------------------------------------------------------------ orders

    def reject(self, spec: dict[str, Any], reason: str, status: int = 400
               ) -> tuple[dict[str, Any], int]:
        """A ``<TYPE>_REJECT`` transaction and the 400 answer carrying it."""
        kind = f"{spec.get('type', 'MARKET')}_ORDER_REJECT"
        tx = self._tx(kind, **{k: v for k, v in spec.items() if k != "type"},
                      reason="CLIENT_ORDER", rejectReason=reason)
        return {"orderRejectTransaction": tx, "relatedTransactionIDs": [tx["id"]],
                "lastTransactionID": str(self.last_id), "errorCode": reason,
                "errorMessage": f"The order was rejected: {reason}"}, status

    def create_order(self, spec: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Book a v20 order specification; the 201/400 answer."""
        kind = spec.get("type")
        instrument = spec.get("instrument")
        if kind not in ("MARKET", "LIMIT", "STOP") or instrument not in self.instruments:
            return self.reject(spec, "INSTRUMENT_UNKNOWN")
        try:
            units = float(spec["units"])
        except (KeyError, TypeError, ValueError):
            return self.reject(spec, "UNITS_INVALID")
        if units == 0 or not math.isfinite(units):
            return self.reject(spec, "UNITS_INVALID")
        coid = (spec.get("clientExtensions") or {}).get("id")
        if coid and any((o.get("clientExtensions") or {}).get("id") == coid
                        and o["state"] == "PENDING" for o in self.orders.values()):
            return self.reject(spec, "CLIENT_ORDER_ID_ALREADY_EXISTS")
        if self.faults.reject_reason:
            reason, self.faults.reject_reason = self.faults.reject_reason, None
            return self.reject(spec, reason)
        created = self._tx(f"{kind}_ORDER", **{k: v for k, v in spec.items() if k != "type"},
                           reason="CLIENT_ORDER")
        if coid:
            self.placed[coid] += 1
        order = {"id": created["id"], "createTime": created["time"], "state": "PENDING",
                 "type": kind, **{k: v for k, v in spec.items() if k != "type"}}
        order.setdefault("timeInForce", "FOK" if kind == "MARKET" else "GTC")
        order.setdefault("positionFill", "DEFAULT")
        self.orders[order["id"]] = order
        answer: dict[str, Any] = {"orderCreateTransaction": created}
        related = [created["id"]]
        if kind == "MARKET":
            fill, cancel = self._execute_market(order)
            if fill is not None:
                answer["orderFillTransaction"] = fill
                related.append(fill["id"])
            if cancel is not None:
                answer["orderCancelTransaction"] = cancel
                related.append(cancel["id"])
        else:
            self._trigger(instrument)
            order = self.orders[order["id"]]
            if order["state"] == "FILLED":
                fill = self._by_id(order["fillingTransactionID"])
                answer["orderFillTransaction"] = fill
                related.append(fill["id"])
        answer["relatedTransactionIDs"] = related
        answer["lastTransactionID"] = str(self.last_id)
        return answer, 201

    def _by_id(self, transaction_id: str) -> dict[str, Any]:
        """A transaction by id."""
        return next(t for t in self.transactions if t["id"] == transaction_id)

    def _cancel(self, order: dict[str, Any], reason: str) -> dict[str, Any]:
        """Cancel an order with v20's ``ORDER_CANCEL``."""
        tx = self._tx("ORDER_CANCEL", orderID=order["id"], reason=reason,
                      **({"clientOrderID": order["clientExtensions"]["id"]}
                         if (order.get("clientExtensions") or {}).get("id") else {}))
        order.update(state="CANCELLED", cancellingTransactionID=tx["id"],
                     cancelledTime=tx["time"])
        return tx

    def _execute_market(self, order: dict[str, Any]
                        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Fill (all, part or none of) a market order now."""
        instrument = order["instrument"]
        units = float(order["units"])
        if self.faults.cancel_reason:
            reason, self.faults.cancel_reason = self.faults.cancel_reason, None
            return None, self._cancel(order, reason)
        bid, ask = self.quote(instrument)
        price = ask if units > 0 else bid
        spec = self.instruments[instrument]
        opening = order.get("positionFill") != "REDUCE_ONLY"
        if opening and abs(units) * price * spec.margin_rate > float(
                self.summary()["marginAvailable"]):
            return None, self._cancel(order, "INSUFFICIENT_MARGIN")
        part = units
        fraction = self.faults.partial_fraction
        if fraction is not None and order.get("timeInForce") == "IOC":
            self.faults.partial_fraction = None
            step = 10 ** -spec.trade_units_precision
            part = math.copysign(max(step, math.floor(abs(units) * fraction / step) * step),
                                 units)
        if not opening:
            opposite = sum(-float(t["currentUnits"]) for t in self.open_trades(instrument)
                           if (float(t["currentUnits"]) > 0) != (units > 0))
            if opposite == 0:
                return None, self._cancel(order, "POSITION_CLOSEOUT_FAILED")
            if abs(part) > abs(opposite):
                part = math.copysign(abs(opposite), units)
        fill = self._fill(order, part, price, reason="MARKET_ORDER")
        cancel = self._cancel(order, "INSUFFICIENT_LIQUIDITY") if part != units else None
        if cancel is not None:
            order["fillingTransactionID"] = fill["id"]
        return fill, cancel

    def _fill(self, order: dict[str, Any], units: float, price: float, reason: str,
              only_trade: str | None = None) -> dict[str, Any]:
        """Fill ``units`` of ``order`` at ``price``: reduce opposite trades FIFO, open the rest."""
        instrument = order["instrument"]
        spec = self.instruments[instrument]
        places = spec.display_precision
        remaining = units
        closed: list[dict[str, Any]] = []
        reduced: dict[str, Any] | None = None
        pl = 0.0
        mode = order.get("positionFill", "DEFAULT")
        if mode != "OPEN_ONLY":
            for trade in self.open_trades(instrument):
                if only_trade is not None and trade["id"] != only_trade:
                    continue
                current = float(trade["currentUnits"])
                if remaining == 0 or (current > 0) == (remaining > 0):
                    continue
                take = math.copysign(min(abs(current), abs(remaining)), -current)
                realized = (price - float(trade["price"])) * -take
                pl += realized
                entry = {"tradeID": trade["id"], "units": dec(take, spec.trade_units_precision),
                         "price": dec(price, places), "realizedPL": dec(realized, 4),
                         "financing": "0.0000", "guaranteedExecutionFee": "0.0000",
                         "halfSpreadCost": "0.0000"}
                remaining -= take
                if abs(take) >= abs(current):
                    closed.append(entry)
                else:
                    reduced = entry
        self.balance += pl
        values: dict[str, Any] = {
            "orderID": order["id"], "instrument": instrument,
            "units": dec(units, spec.trade_units_precision), "price": dec(price, places),
            "fullVWAP": dec(price, places),
            "fullPrice": {"type": "PRICE", "time": v20_time(self.clock()),
                          "bids": [{"price": dec(self.quote(instrument)[0], places),
                                    "liquidity": "10000000"}],
                          "asks": [{"price": dec(self.quote(instrument)[1], places),
                                    "liquidity": "10000000"}],
                          "closeoutBid": dec(self.quote(instrument)[0], places),
                          "closeoutAsk": dec(self.quote(instrument)[1], places)},
            "reason": reason, "pl": dec(pl, 4), "financing": "0.0000", "commission": "0.0000",
            "guaranteedExecutionFee": "0.0000", "accountBalance": dec(self.balance, 4),
            "gainQuoteHomeConversionFactor": "1", "lossQuoteHomeConversionFactor": "1",
            "halfSpreadCost": "0.0000",
        }
        coid = (order.get("clientExtensions") or {}).get("id")
        if coid:
            values["clientOrderID"] = coid
        if closed:
            values["tradesClosed"] = closed
        if reduced:
            values["tradeReduced"] = reduced
        opens = remaining if mode != "REDUCE_ONLY" else 0.0
        if opens:
            values["tradeOpened"] = {
                "tradeID": str(self.last_id + 1),
                "units": dec(opens, spec.trade_units_precision), "price": dec(price, places),
                "guaranteedExecutionFee": "0.0000", "halfSpreadCost": "0.0000",
                "initialMarginRequired": dec(abs(opens) * price * spec.margin_rate, 4)}
            if order.get("tradeClientExtensions"):
                values["tradeOpened"]["clientExtensions"] = order["tradeClientExtensions"]
        tx = self._tx("ORDER_FILL", **values)
        for entry in closed:
            trade = self.trades[entry["tradeID"]]
            trade.update(state="CLOSED", currentUnits="0", closeTime=tx["time"],
                         averageClosePrice=entry["price"],
                         realizedPL=dec(float(trade["realizedPL"]) + float(entry["realizedPL"]), 4))
            trade.setdefault("closingTransactionIDs", []).append(tx["id"])
            for key in ("stopLossOrder", "takeProfitOrder"):
                linked = trade.pop(key, None)
                if linked is not None and linked["id"] != order["id"] \
                        and self.orders[linked["id"]]["state"] == "PENDING":
                    self._cancel(self.orders[linked["id"]], "LINKED_TRADE_CLOSED")
        if reduced:
            trade = self.trades[reduced["tradeID"]]
            trade["currentUnits"] = dec(float(trade["currentUnits"]) + float(reduced["units"]),
                                        spec.trade_units_precision)
            trade.setdefault("closingTransactionIDs", []).append(tx["id"])
        order.update(state="FILLED", fillingTransactionID=tx["id"], filledTime=tx["time"])
        if closed:
            order["tradeClosedIDs"] = [c["tradeID"] for c in closed]
        if opens:
            trade_id = tx["id"]
            order["tradeOpenedID"] = trade_id
            trade = {
                "id": trade_id, "instrument": instrument, "price": dec(price, places),
                "openTime": tx["time"], "state": "OPEN",
                "initialUnits": dec(opens, spec.trade_units_precision),
                "initialMarginRequired": values["tradeOpened"]["initialMarginRequired"],
                "currentUnits": dec(opens, spec.trade_units_precision),
                "realizedPL": "0.0000", "unrealizedPL": "0.0000",
                "marginUsed": values["tradeOpened"]["initialMarginRequired"],
                "financing": "0.0000", "dividendAdjustment": "0.0000",
            }
            if order.get("tradeClientExtensions"):
                trade["clientExtensions"] = order["tradeClientExtensions"]
            self.trades[trade_id] = trade
            for key, kind in (("stopLossOnFill", "STOP_LOSS"), ("takeProfitOnFill", "TAKE_PROFIT")):
                details = order.get(key)
                if details:
                    created = self._tx(f"{kind}_ORDER", tradeID=trade_id, price=details["price"],
                                       timeInForce=details.get("timeInForce", "GTC"),
                                       triggerCondition="DEFAULT", reason="ON_FILL",
                                       orderFillTransactionID=tx["id"])
                    child = {"id": created["id"], "createTime": created["time"],
                             "type": kind, "tradeID": trade_id, "price": details["price"],
                             "timeInForce": details.get("timeInForce", "GTC"),
                             "triggerCondition": "DEFAULT", "state": "PENDING"}
                    self.orders[child["id"]] = child
                    trade["stopLossOrder" if kind == "STOP_LOSS" else "takeProfitOrder"] = child
        return tx

    def _trigger(self, instrument: str) -> list[dict[str, Any]]:
        """Fill resting orders the current quote crosses (stops first)."""
        bid, ask = self.quote(instrument)
        fills = []
        pending = sorted((o for o in self.orders.values() if o["state"] == "PENDING"),
                         key=lambda o: (o["type"] != "STOP_LOSS", int(o["id"])))
        for order in pending:
            if order["state"] != "PENDING":
                continue  # cancelled by a fill earlier in this loop
            if order["type"] in ("STOP_LOSS", "TAKE_PROFIT"):
                trade = self.trades[order["tradeID"]]
                if trade["instrument"] != instrument or trade["state"] != "OPEN":
                    continue
                units = float(trade["currentUnits"])
                level = float(order["price"])
                market = bid if units > 0 else ask
                if order["type"] == "STOP_LOSS":
                    hit = market <= level if units > 0 else market >= level
                    price = min(level, market) if units > 0 else max(level, market)
                    reason = "STOP_LOSS_ORDER"
                else:
                    hit = market >= level if units > 0 else market <= level
                    price = level
                    reason = "TAKE_PROFIT_ORDER"
                if hit:
                    fills.append(self._fill(order | {"instrument": instrument},
                                            -units, price, reason, only_trade=trade["id"]))
                    self.orders[order["id"]].update(state="FILLED",
                                                    fillingTransactionID=fills[-1]["id"],
                                                    filledTime=fills[-1]["time"])
            elif order.get("instrument") == instrument and order["type"] in ("LIMIT", "STOP"):
                units = float(order["units"])
                level = float(order["price"])
                market = ask if units > 0 else bid
                if order["type"] == "LIMIT":
                    hit = market <= level if units > 0 else market >= level
                else:
                    hit = market >= level if units > 0 else market <= level
                if hit:
                    fills.append(self._fill(order, units, level,
                                            reason=f"{order['type']}_ORDER"))
        return fills

    def close_trade(self, specifier: str, units_text: str) -> tuple[dict[str, Any], int]:
        """``PUT trades/{specifier}/close``: a market order closing the trade."""
        trade = self.find_trade(specifier)
        if trade is None or trade["state"] != "OPEN":
            return {"errorCode": "NO_SUCH_TRADE",
                    "errorMessage": "The Trade specified does not exist"}, 404
        current = float(trade["currentUnits"])
        units = abs(current) if units_text == "ALL" else min(abs(float(units_text)), abs(current))
        spec = {"instrument": trade["instrument"],
                "units": dec(-math.copysign(units, current),
                             self.instruments[trade["instrument"]].trade_units_precision),
                "timeInForce": "FOK", "positionFill": "REDUCE_ONLY",
                "tradeClose": {"tradeID": trade["id"], "units": units_text}}
        created = self._tx("MARKET_ORDER", **spec, reason="TRADE_CLOSE")
        order = {"id": created["id"], "createTime": created["time"], "state": "PENDING",
                 "type": "MARKET", **spec}
        self.orders[order["id"]] = order
        bid, ask = self.quote(trade["instrument"])
        fill = self._fill(order, -math.copysign(units, current), bid if current > 0 else ask,
                          reason="MARKET_ORDER_TRADE_CLOSE", only_trade=trade["id"])
        return {"orderCreateTransaction": created, "orderFillTransaction": fill,
                "relatedTransactionIDs": [created["id"], fill["id"]],
                "lastTransactionID": str(self.last_id)}, 200

    def set_trade_orders(self, specifier: str, wanted: dict[str, Any]
                         ) -> tuple[dict[str, Any], int]:
        """``PUT trades/{specifier}/orders``: create or replace the trade's SL / TP.

        v20's SetDependentOrders: each given order replaces the trade's current one of
        that kind (``ORDER_CANCEL`` with ``CLIENT_REQUEST_REPLACED``, then a
        ``STOP_LOSS_ORDER`` / ``TAKE_PROFIT_ORDER`` with ``reason: REPLACEMENT`` and
        ``replacesOrderID``); ``null`` cancels it. A level the market already crossed
        fills at once, as at OANDA.
        """
        trade = self.find_trade(specifier)
        if trade is None or trade["state"] != "OPEN":
            return {"errorCode": "NO_SUCH_TRADE",
                    "errorMessage": "The Trade specified does not exist"}, 404
        body: dict[str, Any] = {}
        related: list[str] = []
        for key, kind, slot in (("takeProfit", "TAKE_PROFIT", "takeProfitOrder"),
                                ("stopLoss", "STOP_LOSS", "stopLossOrder")):
            if key not in wanted:
                continue
            details = wanted[key]
            name = key + "Order"
            if details is not None and (not isinstance(details, dict)
                                        or not DECIMAL_TEXT.match(str(details.get("price")))):
                reject = self._tx(f"{kind}_ORDER_REJECT", tradeID=trade["id"],
                                  reason="REPLACEMENT", rejectReason="PRICE_INVALID",
                                  **({"price": details.get("price")}
                                     if isinstance(details, dict) else {}))
                return {f"{name}RejectTransaction": reject,
                        "relatedTransactionIDs": [*related, reject["id"]],
                        "lastTransactionID": str(self.last_id), "errorCode": "PRICE_INVALID",
                        "errorMessage": f"Invalid value specified for '{key}.price'"}, 400
            old = trade.get(slot)
            if old is not None and self.orders[old["id"]]["state"] == "PENDING":
                cancel = self._cancel(self.orders[old["id"]], "CLIENT_REQUEST_REPLACED")
                body[f"{name}CancelTransaction"] = cancel
                related.append(cancel["id"])
            trade.pop(slot, None)
            if details is None:
                continue
            extra = {"replacesOrderID": old["id"]} if old is not None else {}
            created = self._tx(f"{kind}_ORDER", tradeID=trade["id"], price=details["price"],
                               timeInForce=details.get("timeInForce", "GTC"),
                               triggerCondition="DEFAULT",
                               reason="REPLACEMENT" if old is not None else "CLIENT_ORDER",
                               **extra)
            child = {"id": created["id"], "createTime": created["time"], "type": kind,
                     "tradeID": trade["id"], "price": details["price"],
                     "timeInForce": details.get("timeInForce", "GTC"),
                     "triggerCondition": "DEFAULT", "state": "PENDING", **extra}
            if old is not None:
                self.orders[old["id"]]["replacedByOrderID"] = child["id"]
            self.orders[child["id"]] = child
            trade[slot] = child
            body[f"{name}Transaction"] = created
            related.append(created["id"])
        for fill in self._trigger(trade["instrument"]):
            if fill.get("tradesClosed") and any(
                    c["tradeID"] == trade["id"] for c in fill["tradesClosed"]):
                kind = "stopLoss" if fill["reason"] == "STOP_LOSS_ORDER" else "takeProfit"
                body[f"{kind}OrderFillTransaction"] = fill
                related.append(fill["id"])
        return {**body, "relatedTransactionIDs": related,
                "lastTransactionID": str(self.last_id)}, 200

    def positions(self) -> list[dict[str, Any]]:
        """Open positions per instrument (v20 ``Position``)."""
        out = []
        for instrument in sorted({t["instrument"] for t in self.open_trades()}):
            trades = self.open_trades(instrument)
            places = self.instruments[instrument].display_precision
            sides = {}
            for name, sign in (("long", 1), ("short", -1)):
                mine = [t for t in trades if float(t["currentUnits"]) * sign > 0]
                units = sum(float(t["currentUnits"]) for t in mine)
                side = {"units": dec(units, 0), "pl": "0.0000", "resettablePL": "0.0000",
                        "financing": "0.0000", "guaranteedExecutionFees": "0.0000",
                        "unrealizedPL": dec(sum(self.unrealized(t) for t in mine), 4)}
                if mine:
                    side["averagePrice"] = dec(sum(float(t["price"]) * float(t["currentUnits"])
                                                   for t in mine) / units, places)
                    side["tradeIDs"] = [t["id"] for t in mine]
                sides[name] = side
            unrealized = sum(self.unrealized(t) for t in trades)
            out.append({"instrument": instrument, "pl": "0.0000", "resettablePL": "0.0000",
                        "financing": "0.0000", "commission": "0.0000",
                        "guaranteedExecutionFees": "0.0000",
                        "unrealizedPL": dec(unrealized, 4),
                        "marginUsed": dec(sum(float(t["marginUsed"]) for t in trades), 4),
                        **sides})
        return out

    # ------------------------------------------------------------ HTTP

    def app(self) -> Flask:
        """The Flask app speaking v20 for this account."""
        app = Flask("fake_v20")
        fake = self

        def error(status: int, message: str, code: str | None = None) -> Response:
            body = {"errorMessage": message}
            if code:
                body["errorCode"] = code
            response = jsonify(body)
            response.status_code = status
            return response

        @app.before_request
        def gate() -> Response | None:
            fake.requests.append((request.method, request.path))
            fake.queries.append((request.path, request.args.to_dict(flat=False)))
            if fake.faults.latency:
                time.sleep(fake.faults.latency)
            expected = f"Bearer {fake.token}"
            if fake.faults.expired_token or request.headers.get("Authorization") != expected:
                return error(401, "Insufficient authorization to perform request.")
            parts = request.path.split("/")
            if len(parts) > 3 and parts[2] == "accounts" and parts[3] != fake.account_id:
                return error(403, "The provided request was forbidden.")
            return None

        def answer(body: dict[str, Any], status: int = 200) -> Response:
            response = jsonify(body)
            response.status_code = status
            return response

        base = "/v3/accounts/<account>"

        @app.get(f"{base}/summary")
        def summary(account: str) -> Response:
            with fake.lock:
                return answer({"account": fake.summary(), "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/instruments")
        def instruments(account: str) -> Response:
            return answer({"instruments": [i.as_json() for i in fake.instruments.values()],
                           "lastTransactionID": str(fake.last_id)})

        @app.post(f"{base}/orders")
        def post_order(account: str) -> Response:
            faults = fake.faults
            if faults.error_429:
                faults.error_429 -= 1
                response = error(429, "Too many requests")
                response.headers["Retry-After"] = faults.retry_after
                return response
            if faults.error_500_before:
                faults.error_500_before -= 1
                return error(500, "Internal server error")
            payload = request.get_json(silent=True) or {}
            spec = payload.get("order")
            if not isinstance(spec, dict):
                return error(400, "Invalid value specified for 'order'", "INVALID_VALUE")
            with fake.lock:
                body, status = fake.create_order(spec)
            if status == 201 and faults.error_500_after:
                faults.error_500_after -= 1
                return error(500, "Internal server error")
            if status == 201 and faults.hang_after_accept:
                faults.hang_after_accept -= 1
                fake.release.wait(faults.hang_seconds)
            return answer(body, status)

        def listing(key: str, records: dict[str, dict[str, Any]], state: str) -> Response:
            """``GET orders`` / ``GET trades``: newest first, by state and instrument."""
            state = request.args.get("state", state)
            instrument = request.args.get("instrument")
            count = int(request.args.get("count", 50))
            with fake.lock:
                rows = [r for r in sorted(records.values(), key=lambda r: -int(r["id"]))
                        if (state == "ALL" or r["state"] == state)
                        and (instrument is None or r.get("instrument") == instrument)]
                return answer({key: rows[:count], "lastTransactionID": str(fake.last_id)})

        def one(key: str, found: dict[str, Any] | None, kind: str) -> Response:
            """``GET orders/{spec}`` / ``GET trades/{spec}``: the record, or v20's 404."""
            if found is None:
                return error(404, f"The {kind} specified does not exist",
                             f"NO_SUCH_{kind.upper()}")
            return answer({key: found, "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/orders")
        def list_orders(account: str) -> Response:
            return listing("orders", fake.orders, "PENDING")

        @app.get(f"{base}/pendingOrders")
        def pending(account: str) -> Response:
            with fake.lock:
                return answer({"orders": [o for o in fake.orders.values()
                                          if o["state"] == "PENDING"],
                               "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/orders/<specifier>")
        def get_order(account: str, specifier: str) -> Response:
            with fake.lock:
                return one("order", fake.find_order(specifier), "Order")

        @app.put(f"{base}/orders/<specifier>/cancel")
        def cancel_order(account: str, specifier: str) -> Response:
            with fake.lock:
                order = fake.find_order(specifier)
                if order is None or order["state"] != "PENDING":
                    tx = fake._tx("ORDER_CANCEL_REJECT", orderID=(order or {}).get("id", ""),
                                  reason="CLIENT_REQUEST",
                                  rejectReason="ORDER_DOESNT_EXIST" if order is None
                                  else "ORDER_NOT_PENDING")
                    return answer({"orderCancelRejectTransaction": tx,
                                   "relatedTransactionIDs": [tx["id"]],
                                   "lastTransactionID": str(fake.last_id),
                                   "errorCode": tx["rejectReason"],
                                   "errorMessage": "The Order cannot be cancelled"}, 404)
                tx = fake._cancel(order, "CLIENT_REQUEST")
                return answer({"orderCancelTransaction": tx, "relatedTransactionIDs": [tx["id"]],
                               "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/openTrades")
        def open_trades(account: str) -> Response:
            with fake.lock:
                trades = [t | {"unrealizedPL": dec(fake.unrealized(t), 4)}
                          for t in fake.open_trades()]
                return answer({"trades": list(reversed(trades)),
                               "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/trades")
        def list_trades(account: str) -> Response:
            return listing("trades", fake.trades, "OPEN")

        @app.get(f"{base}/trades/<specifier>")
        def get_trade(account: str, specifier: str) -> Response:
            with fake.lock:
                return one("trade", fake.find_trade(specifier), "Trade")

        @app.put(f"{base}/trades/<specifier>/close")
        def close_trade(account: str, specifier: str) -> Response:
            units = str((request.get_json(silent=True) or {}).get("units", "ALL"))
            with fake.lock:
                body, status = fake.close_trade(specifier, units)
            return answer(body, status)

        @app.put(f"{base}/trades/<specifier>/orders")
        def trade_orders(account: str, specifier: str) -> Response:
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict):
                return error(400, "Invalid JSON body", "INVALID_VALUE")
            with fake.lock:
                body, status = fake.set_trade_orders(specifier, payload)
            return answer(body, status)

        @app.get(f"{base}/openPositions")
        def open_positions(account: str) -> Response:
            with fake.lock:
                return answer({"positions": fake.positions(),
                               "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/transactions/sinceid")
        def since(account: str) -> Response:
            try:
                since_id = int(request.args["id"])
            except (KeyError, ValueError):
                return error(400, "Invalid value specified for 'id'", "INVALID_VALUE")
            with fake.lock:
                rows = [t for t in fake.transactions if int(t["id"]) > since_id][:1000]
                return answer({"transactions": rows, "lastTransactionID": str(fake.last_id)})

        @app.get(f"{base}/transactions/<transaction_id>")
        def one_transaction(account: str, transaction_id: str) -> Response:
            with fake.lock:
                found = next((t for t in fake.transactions if t["id"] == transaction_id), None)
                if found is None:
                    return error(404, "The Transaction specified does not exist")
                return answer({"transaction": found, "lastTransactionID": str(fake.last_id)})

        @app.get("/v3/instruments/<instrument>/candles")
        def candles(instrument: str) -> Response:
            args = request.args
            if instrument not in fake.instruments:
                return error(400, "Invalid value specified for 'instrument'", "INVALID_VALUE")
            granularity = args.get("granularity", "S5")
            component = args.get("price", "M")
            if granularity not in GRANULARITIES or component not in ("M", "B", "A"):
                return error(400, "Invalid value specified for 'granularity' or 'price'",
                             "INVALID_VALUE")
            start = parse_v20_time(args["from"]) if "from" in args else None
            end = parse_v20_time(args["to"]) if "to" in args else None
            count = int(args["count"]) if "count" in args else None
            if start is not None and end is not None and count is not None:
                return error(400, "'count' cannot be used with both 'from' and 'to'",
                             "INVALID_VALUE")
            if (count or 0) > _MAX_CANDLES:
                return error(400, "Maximum value for 'count' exceeded", "INVALID_VALUE")
            rows = fake.candles(instrument, granularity, component, start, end, count)
            if len(rows) > _MAX_CANDLES:
                return error(400, "Maximum value for 'count' exceeded", "INVALID_VALUE")
            return answer({"instrument": instrument, "granularity": granularity,
                           "candles": rows})

        return app


@contextlib.contextmanager
def serve(fake: FakeV20) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, fake.app(), threaded=True)
    # A short poll interval: shutdown() waits for the loop to notice, once per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="fake-v20", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        fake.release.set()  # a request held by hang_after_accept ends now
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """Run the fake alone (``make run-fake-oanda``) for a person to point LTS at."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--account", default=ACCOUNT)
    args = parser.parse_args(argv)
    fake = FakeV20(token=args.token, account_id=args.account)
    print(f"fake OANDA v20 on http://127.0.0.1:{args.port}\n"
          f"  broker/pipeline config: environment=practice, account_id={args.account},\n"
          f"  api_token={args.token}, base_url=http://127.0.0.1:{args.port}", flush=True)
    server = make_server("127.0.0.1", args.port, fake.app(), threaded=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
