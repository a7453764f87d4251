"""OANDA v20 REST: the HTTP session, wire format and error rules shared by the ``oanda`` plugins.

Both the broker (:mod:`lts.plugins.broker.oanda`) and the candle pipeline
(:mod:`lts.plugins.pipeline.oanda`) talk to v20 through :class:`V20Client`, so one set of
rules holds for every call:

- **Wire format** exactly as the v20 reference writes it: decimals travel as strings
  (``"1.10512"``, units ``"-1000"``), times as RFC 3339 with nanoseconds
  (``"2024-03-04T15:29:00.000000000Z"``, asked for with ``Accept-Datetime-Format``),
  instruments as ``EUR_USD`` (LTS symbols ``EUR/USD`` are mapped both ways).
- **One session per account and token** (:func:`client_for`): connections are reused
  across the broker and pipeline of the same account, and a token change builds a new
  session. The token lives only in the session's ``Authorization`` header; it is never
  logged, and :func:`redact` removes it from any message that might echo it.
- **Errors** become exceptions the plugins map to broker answers: :class:`V20AuthError`
  (401/403: a configuration error, never retried), :class:`V20Unavailable` (429 and
  5xx: retryable, with the ``Retry-After`` the server asked for), :class:`V20Timeout`
  (the read timed out *after* the request was sent: the outcome is unknown, so a caller
  that sent an order must look it up, never resend it) and :class:`V20Error` (any
  other answer; its ``body`` holds the broker's JSON, e.g. an ``orderRejectTransaction``).

Endpoints used (v20 REST, ``/v3``): ``accounts/{id}/summary``, ``accounts/{id}/instruments``,
``accounts/{id}/orders`` (POST, and GET by state),
``accounts/{id}/orders/{specifier}`` (``@clientID``),
``accounts/{id}/orders/{specifier}/cancel``, ``accounts/{id}/pendingOrders``,
``accounts/{id}/openTrades``, ``accounts/{id}/trades`` (closed ones, by instrument),
``accounts/{id}/trades/{specifier}``, ``accounts/{id}/trades/{specifier}/close``,
``accounts/{id}/openPositions``, ``accounts/{id}/transactions/{id}``,
``accounts/{id}/transactions/sinceid`` and ``instruments/{instrument}/candles``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import urlsplit

import marshmallow
import requests
from marshmallow import fields, validate, validates_schema

from lts.plugins.base import InstrumentSpec

ENVIRONMENTS = {
    "practice": "https://api-fxpractice.oanda.com",
    "live": "https://api-fxtrade.oanda.com",
}
#: Instruments metadata is refreshed this often (precision and minimum size rarely move).
INSTRUMENTS_TTL = timedelta(days=1)
_MAX_RETRY_AFTER = 30.0


class V20Error(Exception):
    """The v20 server answered with an error status; ``body`` is its JSON (or {})."""

    def __init__(self, status: int, body: Mapping[str, Any], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = dict(body)


class V20AuthError(V20Error):
    """401/403: the token is wrong, expired or lacks rights: a configuration error."""


class V20Unavailable(V20Error):
    """429 or 5xx: the server could not answer now; ``retry_after`` in seconds if given."""

    def __init__(self, status: int, body: Mapping[str, Any], message: str,
                 retry_after: float | None) -> None:
        super().__init__(status, body, message)
        self.retry_after = retry_after


class V20Timeout(Exception):
    """The request was sent but no answer came in time: its outcome is unknown."""


class V20ConnectionError(Exception):
    """The request never reached the server (refused, DNS, connect timeout)."""


# ------------------------------------------------------------------ wire format


def to_instrument(symbol: str) -> str:
    """LTS symbol -> v20 instrument: ``EUR/USD`` -> ``EUR_USD`` (already mapped: as is)."""
    return symbol.strip().upper().replace("/", "_")


def to_symbol(instrument: str) -> str:
    """v20 instrument -> LTS symbol: ``EUR_USD`` -> ``EUR/USD``."""
    return instrument.replace("_", "/")


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with nanoseconds, as v20 writes times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def parse_time(text: str) -> datetime:
    """Parse a v20 RFC 3339 time (nanoseconds allowed; kept to the microsecond)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    head, _, fraction = value.partition(".")
    moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if fraction:
        digits = "".join(ch for ch in fraction if ch.isdigit())
        moment = moment.replace(microsecond=int((digits + "000000")[:6]))
    return moment


def format_decimal(value: float, places: int) -> str:
    """A price or unit count as v20 wants it: a string with exactly ``places`` decimals."""
    quantum = Decimal(1).scaleb(-places) if places > 0 else Decimal(1)
    text = str(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_EVEN))
    return "0" if text in ("-0", "-0.0") else text


def format_units(quantity: float, side: str, precision: int = 0) -> str:
    """Signed units: positive buys, negative sells (v20 has no side field)."""
    text = format_decimal(abs(quantity), precision)
    return text if side == "buy" else f"-{text}"


def redact(text: str, token: str | None) -> str:
    """``text`` without ``token`` (an error message must never carry it)."""
    if token and token in text:
        text = text.replace(token, "[redacted]")
    return text


@dataclass(frozen=True)
class Instrument:
    """What LTS needs of a v20 instrument: its precisions and smallest order."""

    name: str
    display_precision: int
    trade_units_precision: int
    minimum_trade_size: float
    margin_rate: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Instrument:
        """Build from a v20 ``Instrument`` object."""
        return cls(name=data["name"], display_precision=int(data["displayPrecision"]),
                   trade_units_precision=int(data.get("tradeUnitsPrecision", 0)),
                   minimum_trade_size=float(data.get("minimumTradeSize", "1")),
                   margin_rate=float(data.get("marginRate", "0.02")))

    def price(self, value: float) -> str:
        """A price rounded to the instrument's precision, as a v20 string."""
        return format_decimal(value, self.display_precision)

    def spec(self) -> InstrumentSpec:
        """The broker contract's view (:meth:`lts.plugins.base.BrokerPlugin.instrument`).

        ``displayPrecision`` -> price decimals, ``tradeUnitsPrecision`` -> quantity
        decimals, ``minimumTradeSize`` -> minimum quantity: LTS stores prices and sizes
        quantities on the grid OANDA holds them on.
        """
        return InstrumentSpec(price_decimals=self.display_precision,
                              quantity_decimals=self.trade_units_precision,
                              min_quantity=self.minimum_trade_size)


# ------------------------------------------------------------------ config


def loopback_or_https(value: str | None) -> None:
    """``base_url`` may point at https anywhere, or plain http on this machine only.

    The token travels in every request: it must never go to a third party in clear.
    """
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return
    raise marshmallow.ValidationError(
        "base_url must be an https:// address, or http:// on 127.0.0.1 / localhost "
        "(a local fake server)")


class OandaConnection(marshmallow.Schema):
    """Account, credentials and HTTP rules shared by the broker and the pipeline."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    environment = fields.String(
        load_default="practice", validate=validate.OneOf(sorted(ENVIRONMENTS)),
        metadata={"description": "practice (demo money, the default) or live (real "
                                 "money: needs allow_live)."})
    account_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64),
        metadata={"secret": True,
                  "description": "v20 account id, e.g. 101-004-1234567-001 (stored "
                                 "encrypted, never shown again)."})
    api_token = fields.String(
        required=True, validate=validate.Length(min=1, max=512),
        metadata={"secret": True,
                  "description": "Personal access token from the OANDA hub (stored "
                                 "encrypted, never shown again)."})
    base_url = fields.String(
        load_default=None, allow_none=True, validate=loopback_or_https,
        metadata={"description": "Override the v20 address (a proxy, or a local fake "
                                 "server on 127.0.0.1); empty: OANDA's own."})
    connect_timeout = fields.Float(
        load_default=3.05, validate=validate.Range(min=0.01, max=60),
        metadata={"description": "Seconds to wait for a connection."})
    read_timeout = fields.Float(
        load_default=5.0, validate=validate.Range(min=0.01, max=120),
        metadata={"description": "Seconds to wait for an answer; after an order was "
                                 "sent, a timeout makes it unknown until looked up."})
    max_retries = fields.Integer(
        load_default=2, validate=validate.Range(min=0, max=5),
        metadata={"description": "Retries after 429 / 5xx (an order only once the "
                                 "broker says it does not have it)."})
    backoff_cap = fields.Float(
        load_default=2.0, validate=validate.Range(min=0, max=30),
        metadata={"description": "Longest wait between retries, in seconds (also caps "
                                 "the server's Retry-After)."})
    allow_live = fields.Boolean(
        load_default=False,
        metadata={"description": "Must be true to trade the live environment (real "
                                 "money)."})

    @validates_schema
    def _live_needs_consent(self, data: Mapping[str, Any], **_: Any) -> None:
        """A live environment is refused unless ``allow_live`` says yes."""
        if data.get("environment") == "live" and not data.get("allow_live"):
            raise marshmallow.ValidationError(
                "the live environment trades real money: set allow_live to true to "
                "use it (practice first)", field_name="allow_live")


# ------------------------------------------------------------------ the client


class V20Client:
    """Calls to one v20 account, over one ``requests`` session with fixed timeouts.

    ``base_url`` overrides the environment's address (the fake server in tests, or a
    proxy). ``sleep`` is injected so tests of the backoff never wait on the wall clock.
    """

    def __init__(self, *, environment: str, token: str, account_id: str = "",
                 base_url: str | None = None, connect_timeout: float = 3.05,
                 read_timeout: float = 5.0, max_retries: int = 2,
                 backoff_cap: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {sorted(ENVIRONMENTS)}, "
                             f"got {environment!r}")
        self.environment = environment
        self.account_id = account_id
        self.base_url = (base_url or ENVIRONMENTS[environment]).rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self._token = token
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept-Datetime-Format": "RFC3339",
            "User-Agent": "LTS-oanda/1.0",
        })
        self._instruments: dict[str, Instrument] = {}
        self._instruments_at: datetime | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the token
        return f"V20Client({self.environment!r}, account={self.account_id!r})"

    # -------------------------------------------------------------- transport

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One HTTP call, no retry; the decoded JSON of a 2xx answer, else an exception.

        A 401/403 raises :class:`V20AuthError`: the plugins turn it into
        :class:`lts.plugins.base.CredentialsRefused`, and the engine pauses the asset (no
        call with that token until the user saves a new one or resumes the asset).
        """
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, params=params, json=body,
                                            timeout=self.timeout)
        except requests.exceptions.ConnectTimeout as exc:
            raise V20ConnectionError(f"{method} {path}: connect timeout") from exc
        except requests.exceptions.Timeout as exc:
            # ReadTimeout: the request went out, the answer did not come back.
            raise V20Timeout(f"{method} {path}: no answer within "
                             f"{self.timeout[1]:g} s") from exc
        except requests.exceptions.RequestException as exc:
            # Refused or reset: a connection error says nothing about the token, but
            # only the exception's class name is kept, never its text (it holds the URL).
            raise V20ConnectionError(f"{method} {path}: {type(exc).__name__}") from exc
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        status = response.status_code
        if 200 <= status < 300:
            return data
        message = redact(str(data.get("errorMessage") or response.reason or ""), self._token)
        text = f"v20 {method} {path} answered {status}: {message}".rstrip(": ")
        if status in (401, 403):
            raise V20AuthError(status, data, text)
        if status == 429 or status >= 500:
            raise V20Unavailable(status, data, text, _retry_after(response))
        raise V20Error(status, data, text)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): Retry-After, capped."""
        wanted = retry_after if retry_after is not None else 0.25 * (2 ** (attempt - 1))
        return max(0.0, min(wanted, self.backoff_cap))

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A GET, retried on 429/5xx with capped backoff (reads are always safe to repeat)."""
        attempt = 0
        while True:
            try:
                return self.request("GET", path, params=params)
            except V20Unavailable as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                self.sleep(self.backoff(attempt, exc.retry_after))

    # -------------------------------------------------------------- endpoints

    @property
    def account_path(self) -> str:
        """``/v3/accounts/<id>``."""
        return f"/v3/accounts/{self.account_id}"

    def summary(self) -> dict[str, Any]:
        """``GET accounts/{id}/summary``: the ``account`` object (balance, NAV, margin...)."""
        return self.read(f"{self.account_path}/summary")["account"]

    def instrument(self, name: str, now: datetime | None = None) -> Instrument:
        """Precision and minimum size of ``name``, cached and refreshed daily."""
        now = now or datetime.now(UTC)
        with self._lock:
            fresh = (self._instruments_at is not None
                     and now - self._instruments_at < INSTRUMENTS_TTL)
            if fresh and name in self._instruments:
                return self._instruments[name]
        data = self.read(f"{self.account_path}/instruments")
        loaded = {item["name"]: Instrument.from_json(item)
                  for item in data.get("instruments", [])}
        with self._lock:
            self._instruments = loaded
            self._instruments_at = now
        if name not in loaded:
            raise V20Error(404, {}, f"instrument {name!r} is not tradeable on account "
                                    f"{self.account_id}")
        return loaded[name]

    def create_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """``POST accounts/{id}/orders`` once (never retried here: see the broker)."""
        return self.request("POST", f"{self.account_path}/orders", body={"order": order})

    def order(self, specifier: str) -> dict[str, Any] | None:
        """``GET accounts/{id}/orders/{specifier}``: the order, or None on 404."""
        try:
            return self.read(f"{self.account_path}/orders/{specifier}")["order"]
        except V20Error as exc:
            if exc.status == 404 and not isinstance(exc, V20AuthError):
                return None
            raise

    def cancel_order(self, specifier: str) -> dict[str, Any]:
        """``PUT accounts/{id}/orders/{specifier}/cancel``."""
        return self.request("PUT", f"{self.account_path}/orders/{specifier}/cancel")

    def orders(self, instrument: str, count: int = 100) -> list[dict[str, Any]]:
        """``GET accounts/{id}/orders?state=ALL``: the newest orders of one instrument."""
        return self.read(f"{self.account_path}/orders", {
            "state": "ALL", "instrument": instrument, "count": count}).get("orders", [])

    def pending_orders(self) -> list[dict[str, Any]]:
        """``GET accounts/{id}/pendingOrders``."""
        return self.read(f"{self.account_path}/pendingOrders").get("orders", [])

    def open_trades(self) -> list[dict[str, Any]]:
        """``GET accounts/{id}/openTrades``."""
        return self.read(f"{self.account_path}/openTrades").get("trades", [])

    def closed_trades(self, instrument: str, count: int = 50) -> list[dict[str, Any]]:
        """``GET accounts/{id}/trades?state=CLOSED``: the newest closed trades of one instrument."""
        return self.read(f"{self.account_path}/trades", {
            "state": "CLOSED", "instrument": instrument, "count": count}).get("trades", [])

    def trade(self, specifier: str) -> dict[str, Any] | None:
        """``GET accounts/{id}/trades/{specifier}``, or None on 404."""
        try:
            return self.read(f"{self.account_path}/trades/{specifier}")["trade"]
        except V20Error as exc:
            if exc.status == 404 and not isinstance(exc, V20AuthError):
                return None
            raise

    def close_trade(self, specifier: str, units: str = "ALL") -> dict[str, Any]:
        """``PUT accounts/{id}/trades/{specifier}/close`` (all or some units)."""
        return self.request("PUT", f"{self.account_path}/trades/{specifier}/close",
                            body={"units": units})

    def set_trade_orders(self, specifier: str, orders: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT accounts/{id}/trades/{specifier}/orders``: replace the trade's SL/TP.

        ``orders`` holds ``stopLoss`` / ``takeProfit`` details (``price``,
        ``timeInForce``); v20 cancels the order each replaces (``CLIENT_REQUEST_REPLACED``)
        and answers the new orders' transactions. Setting a level is idempotent, so the
        broker may repeat it after a timeout.
        """
        return self.request("PUT", f"{self.account_path}/trades/{specifier}/orders",
                            body=dict(orders))

    def open_positions(self) -> list[dict[str, Any]]:
        """``GET accounts/{id}/openPositions``."""
        return self.read(f"{self.account_path}/openPositions").get("positions", [])

    def transaction(self, transaction_id: str) -> dict[str, Any]:
        """``GET accounts/{id}/transactions/{id}``."""
        return self.read(f"{self.account_path}/transactions/{transaction_id}")["transaction"]

    def transactions_since(self, transaction_id: str) -> tuple[list[dict[str, Any]], str]:
        """``GET accounts/{id}/transactions/sinceid``: the newer ones and the last id."""
        data = self.read(f"{self.account_path}/transactions/sinceid", {"id": transaction_id})
        return data.get("transactions", []), str(data.get("lastTransactionID", transaction_id))

    def candles(self, instrument: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``GET instruments/{instrument}/candles`` with v20's own query parameters."""
        return self.read(f"/v3/instruments/{instrument}/candles", params).get("candles", [])


def _retry_after(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds (capped), if the server sent one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), _MAX_RETRY_AFTER))
    except ValueError:
        return None


# ------------------------------------------------------------------ sharing

_CLIENTS: dict[tuple[Any, ...], V20Client] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(config: Mapping[str, Any]) -> V20Client:
    """The shared client of one account and token (broker and pipeline alike).

    Keyed by a digest of the token, never the token itself, so a changed token gets a
    fresh session and nothing keeps the raw token as a dictionary key.
    """
    token = str(config.get("api_token") or "")
    key = (config.get("environment", "practice"), str(config.get("account_id") or ""),
           hashlib.sha256(token.encode("utf-8")).hexdigest(), config.get("base_url") or "",
           float(config.get("connect_timeout", 3.05)), float(config.get("read_timeout", 5.0)),
           int(config.get("max_retries", 2)), float(config.get("backoff_cap", 2.0)))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = V20Client(environment=key[0], token=token, account_id=key[1],
                               base_url=key[3] or None, connect_timeout=key[4],
                               read_timeout=key[5], max_retries=key[6], backoff_cap=key[7])
            _CLIENTS[key] = client
        return client


def forget_clients() -> None:
    """Drop every shared session (tests; a token rotation builds new ones anyway)."""
    with _CLIENTS_LOCK:
        for client in _CLIENTS.values():
            client.session.close()
        _CLIENTS.clear()
