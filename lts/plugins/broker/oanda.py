"""Broker ``oanda``: orders on an OANDA v20 account (practice or live), protection broker-side.

Safe by default:

- ``environment`` is ``practice`` unless changed, and ``live`` is refused (at save time by
  the schema, and again at every call) unless ``allow_live`` is true;
- ``require_protection`` (default true) refuses, before anything reaches OANDA, an order
  that adds exposure without both a stop loss and a take profit: they are sent as
  ``stopLossOnFill`` / ``takeProfitOnFill``, so the protection lives at the broker and
  holds while LTS is down;
- ``api_token`` and ``account_id`` are secrets: encrypted at rest, write-only in the API
  and the forms (:mod:`lts.plugins.config_secrets`), decrypted only for this plugin.

**Exactly once.** Every order carries ``clientExtensions.id`` = LTS's ``client_order_id``
(and the same ``tradeClientExtensions.id`` for the trade it opens). v20 only refuses a
reused client id while the first order is *pending*, so a filled market order would be
traded again: :meth:`OandaBroker.submit` therefore looks the id up first
(``GET orders/@<id>``) and answers from the broker's record when it exists. After a 429
or 5xx the order is looked up again and re-sent (with capped backoff) only when v20 says
it does not exist; a read timeout after sending answers ``unknown`` (the engine looks it
up later, never re-sends blindly).

**Answers.** 201 with an ``orderFillTransaction`` -> ``filled`` (fill price and time are
the broker's); 201 with an ``orderCancelTransaction`` -> ``cancelled`` with v20's reason
(``INSUFFICIENT_MARGIN``, an FOK not filled...), after any partial fill it carries;
400/404 with an ``orderRejectTransaction`` -> ``rejected`` with the ``rejectReason``;
401/403 -> :class:`OandaCredentialsRefused` (a :class:`CredentialsRefused`: the engine
pauses the asset until the token is replaced or it is resumed; the message names the
fix and never the token).

**Account and exits.** :meth:`OandaBroker.account` reports the account summary's NAV
and margin, which the engine uses as the portfolio's equity and to bound its
allocation. :meth:`OandaBroker.mark` also re-sends a trade's SL / TP
(``PUT trades/{id}/orders``) when LTS moved them (``Decision.exit_anchor``), so OANDA
holds the levels LTS shows.

**One asset per instrument and account.** v20 nets trades per instrument: the trades of
an account's ``EUR_USD`` are matched to the positions of the asset trading it, and a
reduce-only close reduces the oldest of them. Two LTS assets on the same instrument must
use two (sub-)accounts.

**Closes** are market orders of the opposite side with ``positionFill: REDUCE_ONLY`` and
our client id, rather than ``PUT trades/{id}/close``: a trade close cannot carry a client
id, so after a timeout it could not be looked up, and the exactly-once rule would fail.

**Broker-side exits.** :meth:`OandaBroker.mark` links each open LTS position to its v20
trade (the trade opened by the fill that opened the position: same open time and price),
and when the trade is no longer open it reads the transactions since the trade's id
(``transactions/sinceid``) for the fill that closed it (a stop loss, take profit, margin
closeout...). That fill is reported with the broker's price and time, and a client id
derived from the transaction (``oanda-exit-<transaction>-<trade>``), so reporting it again
books nothing twice. Closes placed by LTS itself (fills that carry one of our client ids)
are left to the order they belong to.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import fields, validate

from lts.plugins.base import (
    AssetInfo,
    BrokerAccount,
    BrokerPlugin,
    BrokerResult,
    BrokerState,
    CredentialsRefused,
    Fill,
    InstrumentSpec,
    MarketSnapshot,
    OrderRequest,
    PluginError,
    PositionInfo,
)
from lts.plugins.broker._sizing import leverage_field, lot_step_field
from lts.plugins.oanda_client import (
    Instrument,
    OandaConnection,
    V20AuthError,
    V20Client,
    V20ConnectionError,
    V20Error,
    V20Timeout,
    V20Unavailable,
    client_for,
    format_units,
    parse_time,
    to_instrument,
)

log = logging.getLogger(__name__)
EXIT_PREFIX = "oanda-exit-"
_TOLERANCE = 1e-9
_OPEN_TIME_SLACK = timedelta(seconds=1)
_EXIT_REASONS = {
    "STOP_LOSS_ORDER": "stop_loss",
    "GUARANTEED_STOP_LOSS_ORDER": "stop_loss",
    "TRAILING_STOP_LOSS_ORDER": "stop_loss",
    "TAKE_PROFIT_ORDER": "take_profit",
}
_STATES = {"PENDING": "submitted", "TRIGGERED": "submitted", "FILLED": "filled",
           "CANCELLED": "cancelled"}


class OandaConfigError(PluginError):
    """OANDA refused the credentials (401/403) or the config forbids the call."""


class OandaCredentialsRefused(OandaConfigError, CredentialsRefused):
    """401/403: the engine pauses the asset until the token is replaced or it resumes."""


class OandaConfig(OandaConnection):
    """The connection plus how orders are placed and sized."""

    account_id = fields.String(
        required=True, validate=validate.Length(min=1, max=64),
        metadata={"secret": True,
                  "description": "v20 account id, e.g. 101-004-1234567-001 (stored "
                                 "encrypted, never shown again)."})

    require_protection = fields.Boolean(
        load_default=True,
        metadata={"description": "Refuse an order that adds exposure unless it has both "
                                 "a stop loss and a take profit (they live at OANDA)."})
    time_in_force = fields.String(
        load_default="FOK", validate=validate.OneOf(["FOK", "IOC"]),
        metadata={"description": "Market orders: FOK (fill all or cancel) or IOC (fill "
                                 "what can be, cancel the rest)."})
    position_fill = fields.String(
        load_default="DEFAULT", validate=validate.OneOf(["DEFAULT", "OPEN_ONLY",
                                                         "REDUCE_FIRST"]),
        metadata={"description": "v20 positionFill of opening orders."})
    leverage = leverage_field(100)
    lot_step = lot_step_field()


def scrubbed(value: Any) -> Any:
    """``value`` without ``accountID`` / ``userID``: the account id is a secret (SPEC 3).

    v20 repeats it in every transaction; LTS stores the broker's answers on the order
    (``broker_response``), which the API and the dashboard show.
    """
    if isinstance(value, Mapping):
        return {k: scrubbed(v) for k, v in value.items() if k not in ("accountID", "userID")}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value


def _positive(value: Any) -> bool:
    """Whether ``value`` is a finite number above zero."""
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _aware(moment: datetime) -> datetime:
    """``moment`` in UTC (SQLite hands back naive datetimes)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fill_of(client_order_id: str, transaction: Mapping[str, Any], *,
             position_id: int | None = None, units: str | None = None,
             price: str | None = None, reason: str = "") -> Fill:
    """A :class:`Fill` from a v20 ``ORDER_FILL`` transaction (the broker's price and time)."""
    return Fill(
        client_order_id=client_order_id,
        quantity=abs(float(units if units is not None else transaction["units"])),
        price=float(price if price is not None
                    else transaction.get("price") or transaction["fullVWAP"]),
        time=parse_time(transaction["time"]),
        commission=abs(float(transaction.get("commission") or 0.0)),
        position_id=position_id,
        reason=reason or _EXIT_REASONS.get(str(transaction.get("reason")), "")
        or str(transaction.get("reason", "")).lower(),
    )


def _trade_matches(trade: Mapping[str, Any], position: PositionInfo) -> bool:
    """Whether the v20 trade is the one that opened the LTS position.

    LTS opens a position at its fill's price and time, which are the broker's, so the
    trade opened by that fill has the same open time and price and the same direction.
    """
    units = float(trade.get("initialUnits") or trade.get("currentUnits") or 0)
    if (units > 0) != (position.side == "long"):
        return False
    price = float(trade["price"])
    if abs(price - position.entry_price) > _TOLERANCE * max(1.0, abs(price)):
        return False
    return abs(parse_time(trade["openTime"]) - _aware(position.opened_at)) <= _OPEN_TIME_SLACK


class OandaBroker(BrokerPlugin):
    """OANDA v20 REST (practice or live): market and limit orders with SL/TP on fill."""

    name = "oanda"
    interface_version = "1.0"
    description = ("OANDA v20 (practice or live): orders with stop loss and take profit "
                   "held by the broker, looked up by client id after any fault.")
    config_schema = OandaConfig

    #: LTS position id -> v20 trade id, per account: found once, kept while it matters.
    _links: dict[tuple[str, str], dict[int, str]] = {}
    _links_lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    @property
    def client(self) -> V20Client:
        """The shared v20 session of this account (refuses live without consent)."""
        if self.config.get("environment") == "live" and not self.config.get("allow_live"):
            raise OandaConfigError("oanda: the live environment is refused: allow_live is "
                                   "false (practice first)")
        if not self.config.get("api_token") or not self.config.get("account_id"):
            raise OandaConfigError("oanda: account_id and api_token must be set")
        return client_for(self.config)

    def _account_links(self) -> dict[int, str]:
        """The position -> trade links of this account."""
        key = (str(self.config.get("environment")), str(self.config.get("account_id")))
        with self._links_lock:
            return self._links.setdefault(key, {})

    def instrument(self, asset: AssetInfo) -> InstrumentSpec | None:
        """Precision and minimum size of the asset's v20 instrument (cached daily).

        From ``GET accounts/{id}/instruments`` (the same cached answer orders are
        formatted with): ``displayPrecision``, ``tradeUnitsPrecision``,
        ``minimumTradeSize``. Raises like every call when OANDA cannot be asked.
        """
        return self._instrument(self.client, asset).spec()

    def _instrument(self, client: V20Client, asset: AssetInfo) -> Instrument:
        """The v20 instrument of ``asset`` (precision and minimum size, cached daily)."""
        return client.instrument(to_instrument(asset.symbol))

    @staticmethod
    def _config_error(exc: V20AuthError) -> OandaConfigError:
        """401/403 as a configuration error that names the fix and never the token."""
        return OandaCredentialsRefused(
            f"oanda refused the credentials ({exc.status}): check account_id and "
            f"api_token in the asset's broker config (an expired or revoked token, or "
            f"an account the token cannot trade)")

    # ------------------------------------------------------------- answers

    def result_of_order(self, client: V20Client, order: Mapping[str, Any],
                        client_order_id: str) -> BrokerResult:
        """The broker's record of an order (``GET orders/@id``) as a result, with its fill."""
        status = _STATES.get(str(order.get("state")), "submitted")
        fills: tuple[Fill, ...] = ()
        message = ""
        filling = order.get("fillingTransactionID")
        if filling:
            fills = (_fill_of(client_order_id, client.transaction(str(filling))),)
        cancelling = order.get("cancellingTransactionID")
        if status == "cancelled" and cancelling:
            reason = client.transaction(str(cancelling)).get("reason", "")
            message = f"cancelled by OANDA: {reason}"
        return BrokerResult(status=status, broker_order_id=str(order["id"]), fills=fills,  # type: ignore[arg-type]
                            message=message, raw={"broker": "oanda", "order": scrubbed(order)})

    @staticmethod
    def result_of_create(body: Mapping[str, Any], client_order_id: str) -> BrokerResult:
        """A 201 answer to ``POST orders`` (or a close): filled, cancelled or resting."""
        created = body.get("orderCreateTransaction") or {}
        filled = body.get("orderFillTransaction")
        cancelled = body.get("orderCancelTransaction")
        fills = (_fill_of(client_order_id, filled),) if filled else ()
        raw = {"broker": "oanda", **{k: scrubbed(body[k]) for k in (
            "orderCreateTransaction", "orderFillTransaction", "orderCancelTransaction",
            "relatedTransactionIDs", "lastTransactionID") if k in body}}
        order_id = str(created.get("id") or (filled or cancelled or {}).get("orderID") or "")
        if cancelled:
            reason = cancelled.get("reason", "")
            message = (f"partially filled, the rest cancelled by OANDA: {reason}" if fills
                       else f"cancelled by OANDA: {reason}")
            return BrokerResult(status="cancelled", broker_order_id=order_id or None,
                                fills=fills, message=message, raw=raw)
        if filled:
            return BrokerResult(status="filled", broker_order_id=order_id or None,
                                fills=fills, raw=raw)
        return BrokerResult(status="submitted", broker_order_id=order_id or None, raw=raw)

    @staticmethod
    def result_of_error(exc: V20Error) -> BrokerResult:
        """A 4xx answer: a reject transaction's reason, or v20's error message."""
        body = exc.body
        reject = body.get("orderRejectTransaction") or {}
        reason = reject.get("rejectReason") or body.get("errorCode") or ""
        text = body.get("errorMessage") or str(exc)
        message = f"rejected by OANDA: {reason}" + (f" ({text})" if text else "")
        raw = {"broker": "oanda", "status_code": exc.status,
               **{k: scrubbed(body[k]) for k in ("orderRejectTransaction", "errorCode",
                                       "errorMessage", "lastTransactionID") if k in body}}
        return BrokerResult(status="rejected", message=message, raw=raw)

    @staticmethod
    def refused(message: str) -> BrokerResult:
        """An order LTS refuses before it reaches OANDA."""
        return BrokerResult(status="rejected", message=message,
                            raw={"broker": "oanda", "refused_by": "lts"})

    # ---------------------------------------------------------- submitting

    def _check(self, request: OrderRequest, opening: bool) -> str | None:
        """Why ``request`` must not be sent, or None."""
        if request.side not in ("buy", "sell"):
            return f"unknown side {request.side!r}"
        if not _positive(request.quantity):
            return f"quantity must be a positive number, got {request.quantity!r}"
        if request.order_type not in ("market", "limit", "stop"):
            return f"unknown order type {request.order_type!r}"
        if request.order_type != "market" and not _positive(request.price):
            return f"a {request.order_type} order needs a positive price"
        if not opening:
            return None
        if self.config.get("require_protection", True) and not (
                _positive(request.stop_loss) and _positive(request.take_profit)):
            return ("require_protection: an order that adds exposure needs both a stop "
                    "loss and a take profit (they are placed at OANDA with the order)")
        if request.order_type == "market":
            snapshot = request.snapshot
            if snapshot is None or snapshot.candles.empty:
                return "a market order needs a snapshot with a last price"
            reference = snapshot.last_price
        else:
            reference = float(request.price or 0)
        affordable = request.asset.allocated_capital * self.leverage / reference \
            if reference > 0 else 0.0
        if request.quantity > affordable * (1 + _TOLERANCE):
            return (f"quantity {request.quantity:g} exceeds what allocated capital "
                    f"{request.asset.allocated_capital:g} x leverage {self.leverage:g} buys "
                    f"at {reference:g} ({affordable:g})")
        return None

    def _order_body(self, request: OrderRequest, instrument: Instrument,
                    opening: bool) -> dict[str, Any]:
        """The v20 order specification of ``request``."""
        ids = {"id": request.client_order_id, "tag": "lts"}
        body: dict[str, Any] = {
            "type": {"market": "MARKET", "limit": "LIMIT", "stop": "STOP"}[request.order_type],
            "instrument": instrument.name,
            "units": format_units(request.quantity, request.side,
                                  instrument.trade_units_precision),
            "clientExtensions": ids,
        }
        if request.order_type == "market":
            body["timeInForce"] = self.config.get("time_in_force", "FOK")
        else:
            body["timeInForce"] = "GTC"
            body["price"] = instrument.price(float(request.price or 0))
        if opening:
            body["positionFill"] = self.config.get("position_fill", "DEFAULT")
            body["tradeClientExtensions"] = dict(ids)
            if _positive(request.stop_loss):
                body["stopLossOnFill"] = {"price": instrument.price(float(request.stop_loss or 0)),
                                          "timeInForce": "GTC"}
            if _positive(request.take_profit):
                body["takeProfitOnFill"] = {
                    "price": instrument.price(float(request.take_profit or 0)),
                    "timeInForce": "GTC"}
        else:
            body["positionFill"] = "REDUCE_ONLY"
        return body

    def _place(self, request: OrderRequest, opening: bool) -> BrokerResult:
        """Check, look up, send; retry only what the broker confirms it lacks."""
        problem = self._check(request, opening)
        if problem is not None:
            return self.refused(problem)
        client = self.client
        coid = request.client_order_id
        try:
            instrument = self._instrument(client, request.asset)
            if request.quantity < instrument.minimum_trade_size - _TOLERANCE:
                return self.refused(f"quantity {request.quantity:g} is below "
                                    f"{instrument.name}'s minimum trade size "
                                    f"{instrument.minimum_trade_size:g}")
            existing = client.order(f"@{coid}")
            if existing is not None:  # sent before (a replay, a retry): never twice
                return self.result_of_order(client, existing, coid)
            body = self._order_body(request, instrument, opening)
            attempt = 0
            while True:
                try:
                    return self.result_of_create(client.create_order(body), coid)
                except V20Unavailable as exc:
                    # The order may exist anyway: only a confirmed absence is re-sent.
                    found = client.order(f"@{coid}")
                    if found is not None:
                        return self.result_of_order(client, found, coid)
                    attempt += 1
                    if attempt > client.max_retries:
                        return BrokerResult(status="unknown", message=str(exc),
                                            raw={"broker": "oanda",
                                                 "status_code": exc.status})
                    client.sleep(client.backoff(attempt, exc.retry_after))
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Unavailable) as exc:
            return BrokerResult(status="unknown", message=f"{exc}: looked up later",
                                raw={"broker": "oanda"})
        except V20Error as exc:
            return self.result_of_error(exc)

    def submit(self, request: OrderRequest) -> BrokerResult:
        """Place ``request`` with SL/TP on fill; idempotent on its client id."""
        return self._place(request, opening=request.closes_position_id is None)

    def close(self, position: PositionInfo, request: OrderRequest) -> BrokerResult:
        """Close (all or part of) ``position`` with a reduce-only market order."""
        expected = "sell" if position.side == "long" else "buy"
        if request.side != expected:
            return self.refused(f"closing a {position.side} position needs a {expected} order")
        if _positive(request.quantity) and \
                request.quantity > position.quantity * (1 + _TOLERANCE):
            return self.refused(f"quantity {request.quantity:g} exceeds the position's "
                                f"{position.quantity:g}")
        return self._place(request, opening=False)

    def cancel(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Cancel a pending order (``PUT orders/@id/cancel``); a filled one stays filled."""
        client = self.client
        try:
            client.cancel_order(f"@{client_order_id}")
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except V20Error as exc:
            if exc.status != 404:
                return BrokerResult(status="unknown", message=str(exc))
        except (V20Timeout, V20ConnectionError) as exc:
            return BrokerResult(status="unknown", message=str(exc))
        return self.lookup(asset, client_order_id)

    def lookup(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """``GET orders/@<client id>``: the broker's record, ``not_found`` on its 404."""
        client = self.client
        try:
            order = client.order(f"@{client_order_id}")
            if order is None:
                return BrokerResult(status="not_found",
                                    message=f"OANDA has no order {client_order_id!r}")
            return self.result_of_order(client, order, client_order_id)
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            return BrokerResult(status="unknown", message=str(exc))

    # ------------------------------------------------------------- marking

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo]) -> list[Fill]:
        """Report exits OANDA made itself (stop loss, take profit...) for open positions."""
        mine = [p for p in positions if p.asset_id == asset.id]
        if not mine:
            return []
        client = self.client
        instrument = to_instrument(asset.symbol)
        try:
            trades = [t for t in client.open_trades() if t.get("instrument") == instrument]
            fills = self._broker_exits(client, instrument, mine, trades)
            exited = {f.position_id for f in fills}
            self._sync_protection(client, asset, [p for p in mine if p.id not in exited],
                                  trades)
            return fills
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            raise PluginError(f"oanda: cannot read the account to mark {asset.symbol}: "
                              f"{exc}") from exc

    def _sync_protection(self, client: V20Client, asset: AssetInfo,
                         positions: Sequence[PositionInfo],
                         open_trades: Sequence[Mapping[str, Any]]) -> None:
        """Make each open trade's SL / TP at OANDA equal the levels LTS shows.

        An opening order carries the levels the strategy computed from its reference
        price; when the decision's ``exit_anchor`` measures them from the fill, LTS moves
        them once the fill is known, and this sends the moved levels to OANDA
        (``PUT trades/{id}/orders``, which replaces the trade's orders). Only levels LTS
        holds are sent: a protection OANDA holds and LTS lacks is never removed. A trade
        that closed meanwhile (404) is left to the next mark, which books its exit.
        """
        links = self._account_links()
        trades = {str(t["id"]): t for t in open_trades}
        instrument: Instrument | None = None
        for position in positions:
            trade = trades.get(links.get(position.id, ""))
            if trade is None:
                continue
            if instrument is None:
                instrument = self._instrument(client, asset)
            wanted: dict[str, Any] = {}
            for key, level, slot in (("stopLoss", position.stop_loss, "stopLossOrder"),
                                     ("takeProfit", position.take_profit, "takeProfitOrder")):
                if not _positive(level):
                    continue
                price = instrument.price(float(level or 0))
                held = (trade.get(slot) or {}).get("price")
                if held is None or abs(float(held) - float(price)) > _TOLERANCE:
                    wanted[key] = {"price": price, "timeInForce": "GTC"}
            if not wanted:
                continue
            try:
                client.set_trade_orders(str(trade["id"]), wanted)
            except V20AuthError:
                raise
            except V20Error as exc:
                if exc.status != 404:
                    log.warning("oanda: trade %s: the broker refused the exit levels "
                                "%s: %s", trade["id"], sorted(wanted), exc)
            else:
                log.info("oanda: trade %s: %s re-sent to OANDA", trade["id"],
                         " and ".join(sorted(wanted)))

    def _broker_exits(self, client: V20Client, instrument: str,
                      positions: Sequence[PositionInfo],
                      trades: Sequence[Mapping[str, Any]]) -> list[Fill]:
        """Link positions to trades; report the closing fills of trades no longer open."""
        links = self._account_links()
        open_ids = {str(t["id"]) for t in trades}
        for position in positions:
            if position.id in links:
                continue
            if position.broker_position_id:
                links[position.id] = position.broker_position_id
                continue
            match = next((t for t in trades if _trade_matches(t, position)), None)
            if match is not None:
                links[position.id] = str(match["id"])
        unlinked = [p for p in positions if p.id not in links]
        if unlinked:  # closed while LTS was not looking (a restart): find the trade
            closed = client.closed_trades(instrument)
            for position in unlinked:
                match = next((t for t in closed if _trade_matches(t, position)), None)
                if match is not None:
                    links[position.id] = str(match["id"])
        gone = {links[p.id]: p for p in positions
                if p.id in links and links[p.id] not in open_ids}
        if not gone:
            return []
        since = str(min(int(trade_id) for trade_id in gone) - 1) \
            if all(t.isdigit() for t in gone) else "1"
        fills: list[Fill] = []
        for transaction in self._transactions_since(client, since):
            if transaction.get("type") != "ORDER_FILL" or transaction.get("clientOrderID"):
                continue  # our own orders are booked through their lookup
            closings = list(transaction.get("tradesClosed") or [])
            if transaction.get("tradeReduced"):
                closings.append(transaction["tradeReduced"])
            for closing in closings:
                position = gone.get(str(closing.get("tradeID")))
                if position is None:
                    continue
                fills.append(_fill_of(
                    f"{EXIT_PREFIX}{transaction['id']}-{closing['tradeID']}", transaction,
                    position_id=position.id, units=closing.get("units"),
                    price=closing.get("price")))
        return fills

    @staticmethod
    def _transactions_since(client: V20Client, since: str, pages: int = 20
                            ) -> list[dict[str, Any]]:
        """Every transaction after ``since``, page by page up to the account's last one."""
        out: list[dict[str, Any]] = []
        cursor = since
        for _ in range(pages):
            batch, last = client.transactions_since(cursor)
            out.extend(batch)
            if not batch or int(batch[-1]["id"]) >= int(last):
                break
            cursor = str(batch[-1]["id"])
        return out

    # ---------------------------------------------------------- reconciling

    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Orders of the asset's instrument by client id, its open trades, the balance."""
        client = self.client
        instrument = to_instrument(asset.symbol)
        try:
            orders = client.orders(instrument)
            results = {}
            for order in orders:
                coid = (order.get("clientExtensions") or {}).get("id")
                if coid:
                    results[coid] = self.result_of_order(client, order, coid)
            trades = [t for t in client.open_trades() if t.get("instrument") == instrument]
            summary = client.summary()
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            raise PluginError(f"oanda: cannot read the account: {exc}") from exc
        positions = tuple(self.position_of(asset, trade) for trade in trades)
        return BrokerState(orders=results, positions=positions,
                           cash=float(summary.get("balance", 0.0)))

    @staticmethod
    def position_of(asset: AssetInfo, trade: Mapping[str, Any]) -> PositionInfo:
        """An open v20 trade as a :class:`PositionInfo` (its id is the trade's)."""
        units = float(trade["currentUnits"])
        stop = (trade.get("stopLossOrder") or {}).get("price")
        target = (trade.get("takeProfitOrder") or {}).get("price")
        return PositionInfo(
            id=int(trade["id"]), asset_id=asset.id, side="long" if units > 0 else "short",
            quantity=abs(units), entry_price=float(trade["price"]),
            opened_at=parse_time(trade["openTime"]),
            stop_loss=float(stop) if stop else None,
            take_profit=float(target) if target else None,
            broker_position_id=str(trade["id"]))

    def account(self, asset: AssetInfo) -> BrokerAccount:
        """The account summary's NAV and margin: LTS's equity and margin for this asset.

        The key is a digest of the environment and account id (the id is a secret).
        """
        client = self.client
        try:
            summary = client.summary()
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            raise PluginError(f"oanda: cannot read the account summary: {exc}") from exc
        key = hashlib.sha256(f"oanda:{self.config.get('environment')}:"
                             f"{self.config.get('account_id')}".encode()).hexdigest()[:16]
        return BrokerAccount(key=f"oanda-{key}", equity=float(summary["NAV"]),
                             margin_used=float(summary["marginUsed"]),
                             margin_available=float(summary["marginAvailable"]),
                             currency=str(summary.get("currency", "")))

    def account_view(self, asset: AssetInfo) -> dict[str, Any]:
        """What the dashboard shows beside LTS's books: open trades, margin, last id."""
        client = self.client
        try:
            summary = client.summary()
            instrument = to_instrument(asset.symbol)
            trades = [t for t in client.open_trades() if t.get("instrument") == instrument]
        except V20AuthError as exc:
            raise self._config_error(exc) from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            raise PluginError(f"oanda: cannot read the account: {exc}") from exc
        return {
            "balance": float(summary.get("balance", 0)),
            "nav": float(summary.get("NAV", 0)),
            "margin_used": float(summary.get("marginUsed", 0)),
            "margin_available": float(summary.get("marginAvailable", 0)),
            "last_transaction_id": str(summary.get("lastTransactionID", "")),
            "open_trades": [{"id": str(t["id"]), "units": float(t["currentUnits"]),
                             "price": float(t["price"]), "open_time": t["openTime"]}
                            for t in trades],
        }
