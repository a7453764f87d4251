"""JSON shapes of v20 answers, written from OANDA's v20 reference (not from our code).

Sources: the v20 REST reference (developer.oanda.com "v20 REST API": Account, Instrument,
Order, Trade, Position, Transaction definitions) and the generated client
``oanda/v20-python`` (``src/v20/*.py``: field names and which answer carries which
transaction). Primitive formats from the reference's "Primitives": ``DecimalNumber`` and
``PriceValue`` / ``AccountUnits`` are strings of a decimal number, ``DateTime`` in RFC 3339
(we ask for ``Accept-Datetime-Format: RFC3339``; OANDA writes 9 fraction digits),
``TransactionID`` / ``OrderID`` / ``TradeID`` strings of a positive integer.

A shape maps a field to its type; a name ending in ``?`` is optional; nested dicts are
objects, one-element lists are arrays of that shape; extra fields are allowed (v20 sends
many more than LTS reads). :func:`problems` lists every mismatch.
"""

from __future__ import annotations

import re
from typing import Any

DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
ID = re.compile(r"^[1-9]\d*$")

ORDER_STATES = {"PENDING", "FILLED", "TRIGGERED", "CANCELLED"}
TRADE_STATES = {"OPEN", "CLOSED", "CLOSE_WHEN_TRADEABLE"}
ORDER_TYPES = {"MARKET", "LIMIT", "STOP", "MARKET_IF_TOUCHED", "TAKE_PROFIT", "STOP_LOSS",
               "GUARANTEED_STOP_LOSS", "TRAILING_STOP_LOSS", "FIXED_PRICE"}
TIME_IN_FORCE = {"GTC", "GTD", "GFD", "FOK", "IOC"}
POSITION_FILL = {"OPEN_ONLY", "REDUCE_FIRST", "REDUCE_ONLY", "DEFAULT"}
FILL_REASONS = {"LIMIT_ORDER", "STOP_ORDER", "MARKET_IF_TOUCHED_ORDER", "TAKE_PROFIT_ORDER",
                "STOP_LOSS_ORDER", "GUARANTEED_STOP_LOSS_ORDER", "TRAILING_STOP_LOSS_ORDER",
                "MARKET_ORDER", "MARKET_ORDER_TRADE_CLOSE", "MARKET_ORDER_POSITION_CLOSEOUT",
                "MARKET_ORDER_MARGIN_CLOSEOUT", "MARKET_ORDER_DELAYED_TRADE_CLOSE",
                "FIXED_PRICE_ORDER"}
CANCEL_REASONS = {"INTERNAL_SERVER_ERROR", "ACCOUNT_LOCKED", "ACCOUNT_NEW_POSITIONS_LOCKED",
                  "ACCOUNT_ORDER_CREATION_LOCKED", "ACCOUNT_ORDER_FILL_LOCKED",
                  "CLIENT_REQUEST", "MIGRATION", "MARKET_HALTED", "LINKED_TRADE_CLOSED",
                  "TIME_IN_FORCE_EXPIRED", "INSUFFICIENT_MARGIN", "FIFO_VIOLATION",
                  "BOUNDS_VIOLATION", "CLIENT_REQUEST_REPLACED", "INSUFFICIENT_LIQUIDITY",
                  "POSITION_CLOSEOUT_FAILED", "OPEN_TRADES_ALLOWED_EXCEEDED",
                  "PENDING_ORDERS_ALLOWED_EXCEEDED"}
MARKET_ORDER_REASONS = {"CLIENT_ORDER", "TRADE_CLOSE", "POSITION_CLOSEOUT", "MARGIN_CLOSEOUT",
                        "DELAYED_TRADE_CLOSE"}

CLIENT_EXTENSIONS = {"id?": "string", "tag?": "string", "comment?": "string"}
TRANSACTION = {"id": "id", "time": "time", "userID": "int", "accountID": "string",
               "batchID": "id", "requestID?": "string", "type": "string"}
ON_FILL = {"price": "decimal", "timeInForce?": ("enum", TIME_IN_FORCE)}
TRADE_OPEN = {"tradeID": "id", "units": "decimal", "price": "decimal",
              "guaranteedExecutionFee?": "decimal", "halfSpreadCost?": "decimal",
              "initialMarginRequired?": "decimal", "clientExtensions?": CLIENT_EXTENSIONS}
TRADE_REDUCE = {"tradeID": "id", "units": "decimal", "price": "decimal",
                "realizedPL": "decimal", "financing": "decimal",
                "guaranteedExecutionFee?": "decimal", "halfSpreadCost?": "decimal"}
PRICE_BUCKET = {"price": "decimal", "liquidity": "decimal"}

MARKET_ORDER_TRANSACTION = {
    **TRANSACTION, "type": ("enum", {"MARKET_ORDER"}), "instrument": "string",
    "units": "decimal", "timeInForce": ("enum", TIME_IN_FORCE),
    "positionFill": ("enum", POSITION_FILL), "reason": ("enum", MARKET_ORDER_REASONS),
    "clientExtensions?": CLIENT_EXTENSIONS, "tradeClientExtensions?": CLIENT_EXTENSIONS,
    "stopLossOnFill?": ON_FILL, "takeProfitOnFill?": ON_FILL,
    "tradeClose?": {"tradeID": "id", "units": "string"},
}
LIMIT_ORDER_TRANSACTION = {
    **TRANSACTION, "type": ("enum", {"LIMIT_ORDER", "STOP_ORDER"}), "instrument": "string",
    "units": "decimal", "price": "decimal", "timeInForce": ("enum", TIME_IN_FORCE),
    "positionFill": ("enum", POSITION_FILL), "reason": "string",
    "clientExtensions?": CLIENT_EXTENSIONS, "stopLossOnFill?": ON_FILL,
    "takeProfitOnFill?": ON_FILL,
}
ORDER_FILL = {
    **TRANSACTION, "type": ("enum", {"ORDER_FILL"}), "orderID": "id",
    "clientOrderID?": "string", "instrument": "string", "units": "decimal",
    "price?": "decimal", "fullVWAP": "decimal",
    "fullPrice": {"type": ("enum", {"PRICE"}), "bids": [PRICE_BUCKET], "asks": [PRICE_BUCKET],
                  "closeoutBid": "decimal", "closeoutAsk": "decimal"},
    "reason": ("enum", FILL_REASONS), "pl": "decimal", "financing": "decimal",
    "commission": "decimal", "guaranteedExecutionFee": "decimal",
    "accountBalance": "decimal", "tradeOpened?": TRADE_OPEN, "tradesClosed?": [TRADE_REDUCE],
    "tradeReduced?": TRADE_REDUCE, "halfSpreadCost": "decimal",
}
ORDER_CANCEL = {**TRANSACTION, "type": ("enum", {"ORDER_CANCEL"}), "orderID": "id",
                "clientOrderID?": "string", "reason": ("enum", CANCEL_REASONS)}
MARKET_ORDER_REJECT = {**TRANSACTION, "type": ("enum", {"MARKET_ORDER_REJECT"}),
                       "instrument": "string", "units": "decimal", "rejectReason": "string"}
ORDER_CANCEL_REJECT = {**TRANSACTION, "type": ("enum", {"ORDER_CANCEL_REJECT"}),
                       "orderID?": "string", "rejectReason": "string"}
DEPENDENT_ORDER_REASONS = {"CLIENT_ORDER", "REPLACEMENT", "ON_FILL"}
STOP_LOSS_ORDER = {**TRANSACTION, "type": ("enum", {"STOP_LOSS_ORDER"}), "tradeID": "id",
                   "clientTradeID?": "string", "price": "decimal",
                   "timeInForce": ("enum", TIME_IN_FORCE),
                   "triggerCondition": ("enum", {"DEFAULT", "INVERSE", "BID", "ASK", "MID"}),
                   "reason": ("enum", DEPENDENT_ORDER_REASONS), "replacesOrderID?": "id",
                   "orderFillTransactionID?": "id"}
TAKE_PROFIT_ORDER = {**STOP_LOSS_ORDER, "type": ("enum", {"TAKE_PROFIT_ORDER"})}
DEPENDENT_ORDER_REJECT = {**TRANSACTION,
                          "type": ("enum", {"STOP_LOSS_ORDER_REJECT",
                                            "TAKE_PROFIT_ORDER_REJECT"}),
                          "tradeID": "id", "rejectReason": "string"}

ORDER = {"id": "id", "createTime": "time", "state": ("enum", ORDER_STATES),
         "type": ("enum", ORDER_TYPES), "clientExtensions?": CLIENT_EXTENSIONS,
         "instrument?": "string", "units?": "decimal", "price?": "decimal",
         "tradeID?": "id", "timeInForce": ("enum", TIME_IN_FORCE),
         "positionFill?": ("enum", POSITION_FILL), "fillingTransactionID?": "id",
         "filledTime?": "time", "tradeOpenedID?": "id", "cancellingTransactionID?": "id",
         "cancelledTime?": "time", "stopLossOnFill?": ON_FILL, "takeProfitOnFill?": ON_FILL,
         "replacesOrderID?": "id", "replacedByOrderID?": "id"}
TRADE = {"id": "id", "instrument": "string", "price": "decimal", "openTime": "time",
         "state": ("enum", TRADE_STATES), "initialUnits": "decimal",
         "initialMarginRequired": "decimal", "currentUnits": "decimal",
         "realizedPL": "decimal", "unrealizedPL?": "decimal", "marginUsed?": "decimal",
         "averageClosePrice?": "decimal", "closingTransactionIDs?": ["id"],
         "financing": "decimal", "closeTime?": "time", "clientExtensions?": CLIENT_EXTENSIONS,
         "takeProfitOrder?": ORDER, "stopLossOrder?": ORDER}
ACCOUNT_SUMMARY = {
    "id": "string", "currency": "string", "balance": "decimal", "createdTime": "time",
    "pl": "decimal", "resettablePL": "decimal", "financing": "decimal",
    "commission": "decimal", "marginRate": "decimal", "openTradeCount": "int",
    "openPositionCount": "int", "pendingOrderCount": "int", "hedgingEnabled": "bool",
    "unrealizedPL": "decimal", "NAV": "decimal", "marginUsed": "decimal",
    "marginAvailable": "decimal", "positionValue": "decimal",
    "marginCloseoutPercent": "decimal", "withdrawalLimit": "decimal",
    "lastTransactionID": "id",
}
INSTRUMENT = {"name": "string", "type": ("enum", {"CURRENCY", "CFD", "METAL"}),
              "displayName": "string", "pipLocation": "int", "displayPrecision": "int",
              "tradeUnitsPrecision": "int", "minimumTradeSize": "decimal",
              "maximumTrailingStopDistance": "decimal",
              "minimumTrailingStopDistance": "decimal", "maximumPositionSize": "decimal",
              "maximumOrderUnits": "decimal", "marginRate": "decimal"}
OHLC = {"o": "decimal", "h": "decimal", "l": "decimal", "c": "decimal"}
CANDLESTICK = {"time": "time", "mid?": OHLC, "bid?": OHLC, "ask?": OHLC, "volume": "int",
               "complete": "bool"}
POSITION_SIDE = {"units": "decimal", "averagePrice?": "decimal", "tradeIDs?": ["id"],
                 "pl": "decimal", "unrealizedPL": "decimal", "resettablePL": "decimal",
                 "financing": "decimal"}
POSITION = {"instrument": "string", "pl": "decimal", "unrealizedPL": "decimal",
            "marginUsed": "decimal", "resettablePL": "decimal", "financing": "decimal",
            "commission": "decimal", "long": POSITION_SIDE, "short": POSITION_SIDE}
ERROR = {"errorCode?": "string", "errorMessage": "string"}

# Answers, per endpoint and status (v20-python's ``parsed_body`` branches).
CREATE_ORDER_201 = {"orderCreateTransaction": MARKET_ORDER_TRANSACTION,
                    "orderFillTransaction?": ORDER_FILL, "orderCancelTransaction?": ORDER_CANCEL,
                    "relatedTransactionIDs": ["id"], "lastTransactionID": "id"}
CREATE_LIMIT_201 = {**CREATE_ORDER_201, "orderCreateTransaction": LIMIT_ORDER_TRANSACTION}
CREATE_ORDER_400 = {"orderRejectTransaction": MARKET_ORDER_REJECT,
                    "relatedTransactionIDs": ["id"], "lastTransactionID": "id", **ERROR}
GET_ORDER_200 = {"order": ORDER, "lastTransactionID": "id"}
LIST_ORDERS_200 = {"orders": [ORDER], "lastTransactionID": "id"}
CANCEL_200 = {"orderCancelTransaction": ORDER_CANCEL, "relatedTransactionIDs": ["id"],
              "lastTransactionID": "id"}
CANCEL_404 = {"orderCancelRejectTransaction": ORDER_CANCEL_REJECT,
              "relatedTransactionIDs": ["id"], "lastTransactionID": "id", **ERROR}
TRADES_200 = {"trades": [TRADE], "lastTransactionID": "id"}
TRADE_200 = {"trade": TRADE, "lastTransactionID": "id"}
CLOSE_TRADE_200 = {"orderCreateTransaction": MARKET_ORDER_TRANSACTION,
                   "orderFillTransaction": ORDER_FILL, "relatedTransactionIDs": ["id"],
                   "lastTransactionID": "id"}
# PUT trades/{spec}/orders (v20 "Set Dependent Orders"), 200 and 400.
SET_TRADE_ORDERS_200 = {
    "takeProfitOrderCancelTransaction?": ORDER_CANCEL,
    "takeProfitOrderTransaction?": TAKE_PROFIT_ORDER,
    "takeProfitOrderFillTransaction?": ORDER_FILL,
    "stopLossOrderCancelTransaction?": ORDER_CANCEL,
    "stopLossOrderTransaction?": STOP_LOSS_ORDER,
    "stopLossOrderFillTransaction?": ORDER_FILL,
    "relatedTransactionIDs": ["id"], "lastTransactionID": "id"}
SET_TRADE_ORDERS_400 = {
    "takeProfitOrderCancelRejectTransaction?": ORDER_CANCEL_REJECT,
    "takeProfitOrderRejectTransaction?": DEPENDENT_ORDER_REJECT,
    "stopLossOrderCancelRejectTransaction?": ORDER_CANCEL_REJECT,
    "stopLossOrderRejectTransaction?": DEPENDENT_ORDER_REJECT,
    "lastTransactionID?": "id", "relatedTransactionIDs?": ["id"], **ERROR}
POSITIONS_200 = {"positions": [POSITION], "lastTransactionID": "id"}
SUMMARY_200 = {"account": ACCOUNT_SUMMARY, "lastTransactionID": "id"}
INSTRUMENTS_200 = {"instruments": [INSTRUMENT], "lastTransactionID": "id"}
TRANSACTION_200 = {"transaction": TRANSACTION, "lastTransactionID": "id"}
SINCE_200 = {"transactions": [TRANSACTION], "lastTransactionID": "id"}
CANDLES_200 = {"instrument": "string", "granularity": "string", "candles": [CANDLESTICK]}

#: Transaction shapes by ``type``, for lists of mixed transactions.
BY_TYPE = {"MARKET_ORDER": MARKET_ORDER_TRANSACTION, "LIMIT_ORDER": LIMIT_ORDER_TRANSACTION,
           "STOP_ORDER": LIMIT_ORDER_TRANSACTION, "ORDER_FILL": ORDER_FILL,
           "ORDER_CANCEL": ORDER_CANCEL, "MARKET_ORDER_REJECT": MARKET_ORDER_REJECT,
           "ORDER_CANCEL_REJECT": ORDER_CANCEL_REJECT,
           "STOP_LOSS_ORDER": STOP_LOSS_ORDER, "TAKE_PROFIT_ORDER": TAKE_PROFIT_ORDER,
           "STOP_LOSS_ORDER_REJECT": DEPENDENT_ORDER_REJECT,
           "TAKE_PROFIT_ORDER_REJECT": DEPENDENT_ORDER_REJECT}


def problems(value: Any, shape: Any, where: str = "$") -> list[str]:
    """Every way ``value`` differs from ``shape`` (empty when it fits)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        found: list[str] = []
        for key, inner in shape.items():
            name = key.rstrip("?")
            if name not in value:
                if not key.endswith("?"):
                    found.append(f"{where}.{name}: missing")
                continue
            found.extend(problems(value[name], inner, f"{where}.{name}"))
        if shape is TRANSACTION and value.get("type") in BY_TYPE:
            found.extend(problems(value, BY_TYPE[value["type"]], where))
        return found
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        return [p for i, item in enumerate(value) for p in problems(item, shape[0],
                                                                    f"{where}[{i}]")]
    if isinstance(shape, tuple):
        return [] if value in shape[1] else [f"{where}: {value!r} not in {sorted(shape[1])}"]
    checks = {
        "string": lambda v: isinstance(v, str),
        "decimal": lambda v: isinstance(v, str) and bool(DECIMAL.match(v)),
        "time": lambda v: isinstance(v, str) and bool(TIME.match(v)),
        "id": lambda v: isinstance(v, str) and bool(ID.match(v)),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
    }
    return [] if checks[shape](value) else [f"{where}: {value!r} is not a {shape}"]
