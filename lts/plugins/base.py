"""The plugin contracts: one abstract base class per kind, and what passes between them.

Plugins never see ORM objects or HTTP: the engine hands them small frozen dataclasses
built from the database rows, so a third-party plugin depends on this module only,
and cannot change stored state behind the engine's back.

``INTERFACE_VERSION`` is bumped when a contract changes incompatibly; the registry
refuses plugins built for another major version.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

import marshmallow
import numpy as np
import pandas as pd

INTERFACE_VERSION = "1.0"

PLUGIN_KINDS = ("aaa", "core", "pipeline", "strategy", "broker", "portfolio")

Side = Literal["buy", "sell"]
PositionSide = Literal["long", "short"]
OrderType = Literal["market", "limit", "stop"]
Action = Literal["open", "close", "hold"]
ExitAnchor = Literal["price", "pct", "distance"]


class PluginError(Exception):
    """A plugin could not do its job; the engine records it against the asset."""


class CredentialsRefused(PluginError):
    """The broker (or data source) refused the asset's credentials: 401/403.

    The engine pauses the asset (no further calls with them) until the user saves new
    credentials or resumes it; the message names the fix and never the secret.
    """


class EmptyConfig(marshmallow.Schema):
    """Config schema of a plugin that takes no settings."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE


def config_defaults(schema: type[marshmallow.Schema]) -> dict[str, Any]:
    """Return the ``load_default`` of every field of ``schema`` that has one.

    :class:`Plugin` starts from these, so a plugin built directly (in a test) with a
    partial config still sees every setting; the registry passes fully loaded configs.
    """
    defaults: dict[str, Any] = {}
    for name, schema_field in schema._declared_fields.items():
        default = schema_field.load_default
        if default is marshmallow.missing:
            continue
        defaults[schema_field.attribute or name] = default() if callable(default) else default
    return defaults


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PortfolioInfo:
    """What plugins may know of a portfolio.

    ``equity`` is the current equity (total_capital + realized + unrealized P&L) and
    ``allocatable`` what an allocator may split: the equity less the margin still held by
    positions of assets that are not being allocated (deactivated, or whose plugins
    failed), never below 0 (SPEC 2a). Both default to None for callers built before
    they existed; :attr:`capital` then falls back to ``total_capital``.
    """

    id: int
    user_id: int
    name: str
    total_capital: float
    risk_state: str
    config: Mapping[str, Any] = field(default_factory=dict)
    equity: float | None = None
    allocatable: float | None = None

    @property
    def capital(self) -> float:
        """What to split among the assets: ``allocatable`` when known, else the capital."""
        return self.allocatable if self.allocatable is not None else self.total_capital


@dataclass(frozen=True)
class AssetInfo:
    """What plugins may know of an asset; ``*_config`` are the validated plugin configs."""

    id: int
    portfolio_id: int
    symbol: str
    name: str
    allocated_capital: float
    pipeline_config: Mapping[str, Any] = field(default_factory=dict)
    strategy_config: Mapping[str, Any] = field(default_factory=dict)
    broker_config: Mapping[str, Any] = field(default_factory=dict)
    #: Stale-data guard: oldest acceptable end of the newest bar, in minutes before now
    #: (None: 3 bar periods). See SPEC 2a "Bar time".
    max_data_age_minutes: float | None = None


#: ``(start, end) -> bars``: the complete bars stamped in [start, end), oldest first,
#: with the columns of :attr:`MarketSnapshot.candles`; raises :class:`PluginError` when
#: they cannot be had. See :attr:`MarketSnapshot.history`.
BarsLoader = Callable[[datetime, datetime], pd.DataFrame]


@dataclass(frozen=True)
class MarketSnapshot:
    """Market data up to ``as_of``: never a bar from after it.

    ``candles`` has columns open, high, low, close, volume on a UTC DatetimeIndex, oldest
    first. ``predictions`` (optional) has at least a ``close`` column of forecast prices
    indexed by the future times they forecast.

    ``history`` (optional, set by the engine when it hands the snapshot to
    :meth:`BrokerPlugin.mark`) loads older bars than the window holds, through the
    asset's pipeline (:meth:`PipelinePlugin.bars`) under the plugin timeout: a broker
    that simulates fills uses it to check every bar since its previous check, however
    long the loop was down. The engine records (audits and shows) every range it could
    not load; the broker then goes on with the bars it has.
    """

    symbol: str
    candles: pd.DataFrame
    as_of: datetime
    predictions: pd.DataFrame | None = None
    history: BarsLoader | None = field(default=None, compare=False, repr=False)

    @functools.cached_property
    def last_price(self) -> float:
        """Close of the newest bar.

        Cached: the engine reads it several times per asset and tick (marks, sizing,
        settling new positions), and each pandas lookup cost ~70 us. A snapshot is
        frozen, so its newest close never changes (``cached_property`` writes the
        instance ``__dict__``, which the frozen ``__setattr__`` does not guard).
        """
        return float(self.candles["close"].iloc[-1])


@dataclass(frozen=True)
class PositionInfo:
    """An open position as the strategy and broker see it."""

    id: int
    asset_id: int
    side: PositionSide
    quantity: float
    entry_price: float
    opened_at: datetime
    stop_loss: float | None = None
    take_profit: float | None = None
    current_price: float | None = None
    broker_position_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the strategy wants for one asset this tick, and why.

    ``quantity`` None lets the engine size the order from the allocation (SPEC 2a).

    ``exit_anchor`` says what ``stop_loss`` / ``take_profit`` of an opening market order
    mean. ``"price"`` (the default): absolute levels, kept as given. ``"pct"``: levels the
    strategy computed from the snapshot's last close as a percentage distance; the engine
    keeps that percentage but measures it from the fill price (level x fill / last close).
    ``"distance"``: a price distance (pips) from the last close, moved to the fill (level +
    fill - last close). The spread and slippage of the fill therefore never eat into the
    stop distance the strategy asked for.
    """

    action: Action
    side: Side | None = None
    quantity: float | None = None
    order_type: OrderType = "market"
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    reason: str = ""
    exit_anchor: ExitAnchor = "price"

    @classmethod
    def hold(cls, reason: str = "") -> Decision:
        """Return a decision to do nothing."""
        return cls(action="hold", reason=reason)


@dataclass(frozen=True)
class OrderRequest:
    """An order the engine asks a broker to execute; ``client_order_id`` makes it idempotent."""

    client_order_id: str
    asset: AssetInfo
    side: Side
    quantity: float
    order_type: OrderType = "market"
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    closes_position_id: int | None = None
    snapshot: MarketSnapshot | None = None


@dataclass(frozen=True)
class Fill:
    """An execution reported by the broker."""

    client_order_id: str
    quantity: float
    price: float
    time: datetime
    commission: float = 0.0
    position_id: int | None = None
    reason: str = ""  # e.g. "stop_loss", "take_profit", "limit"


BrokerStatus = Literal["submitted", "partially_filled", "filled", "cancelled", "rejected",
                       "unknown", "not_found"]


@dataclass(frozen=True)
class BrokerResult:
    """The broker's answer to a submit, close or lookup.

    ``status`` ``unknown`` means the outcome is not known (timeout, 5xx): the engine must
    look the order up later and never resend it. ``not_found`` (lookups only) is a
    confirmed absence.
    """

    status: BrokerStatus
    broker_order_id: str | None = None
    fills: tuple[Fill, ...] = ()
    message: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerState:
    """What the broker holds for one asset, for reconciliation."""

    orders: Mapping[str, BrokerResult] = field(default_factory=dict)  # by client_order_id
    positions: tuple[PositionInfo, ...] = ()
    cash: float | None = None


@dataclass(frozen=True)
class InstrumentSpec:
    """How finely a broker prices and sizes an instrument (:meth:`BrokerPlugin.instrument`).

    ``price_decimals``: decimals of the broker's prices (OANDA ``displayPrecision``; 5 for
    EUR/USD): limit prices, stop losses and take profits are stored rounded half-even to
    them, as the broker holds them. ``quantity_decimals``: decimals of a quantity (OANDA
    ``tradeUnitsPrecision``; 0 for whole units): sized quantities are rounded *down* to
    them. ``min_quantity``: the smallest order the broker takes (OANDA
    ``minimumTradeSize``); a smaller sized quantity is not placed. None: not known, no
    rounding or bound of that kind beyond LTS's own (see :mod:`lts.trading.precision`).
    """

    price_decimals: int | None = None
    quantity_decimals: int | None = None
    min_quantity: float | None = None


@dataclass(frozen=True)
class BrokerAccount:
    """A real account as its broker reports it (:meth:`BrokerPlugin.account`).

    ``key`` names the account without revealing it (assets sharing an account count it
    once); ``equity`` is the account's net asset value (balance plus unrealized P&L),
    ``margin_used`` / ``margin_available`` the broker's own margin figures, all in the
    account's currency.
    """

    key: str
    equity: float
    margin_used: float
    margin_available: float
    currency: str = ""


@dataclass(frozen=True)
class AssetOutcome:
    """What happened to one asset during a tick."""

    asset_id: int
    ok: bool
    decision: Decision | None = None
    order_ids: tuple[int, ...] = ()
    error: str | None = None
    #: Problems that did not stop the step, e.g. bars the broker could not check.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortfolioDue:
    """A portfolio the loop looks after, as a core plugin sees it: when it is due.

    ``due`` is whether a tick at the time asked for would run it; ``next_due_at`` is
    when it is (or was) due: its last run plus its latency, less half a tick of slack.
    """

    id: int
    name: str
    due: bool
    next_due_at: datetime
    last_execution: datetime | None = None


@dataclass(frozen=True)
class PortfolioFailure:
    """A portfolio-wide problem of a tick, beyond any one asset's step.

    ``kind``: ``allocation_failed`` (the portfolio plugin raised, timed out or answered
    garbage: the stored allocations were kept, scaled to the equity),
    ``over_allocated`` (it answered more than the allocatable equity: scaled down), or
    ``portfolio_failed`` (an unexpected error stopped the portfolio's step), or
    ``step_missing`` (a Celery worker's step gave no answer before the tick's deadline:
    it may still run later, under the same claim).
    """

    portfolio_id: int
    kind: Literal["allocation_failed", "over_allocated", "portfolio_failed", "step_missing"]
    plugin: str
    error: str


@dataclass(frozen=True)
class StepTiming:
    """One portfolio step a Celery worker ran for a tick: where, how long, how it ended.

    ``status``: ``ran``; ``already_done`` (a redelivered step whose first run had
    finished); ``stale`` (a later tick had claimed the portfolio); ``missing`` (no answer
    before the tick's deadline).
    """

    portfolio_id: int
    status: str
    seconds: float = 0.0
    worker: str = ""
    redelivered: bool = False


@dataclass(frozen=True)
class TickReport:
    """Summary of one tick, returned by ``CorePlugin.tick`` and printed by `flask lts tick`.

    ``waiting`` lists the portfolios the tick looked at but that were not due yet, so a
    tick that ran nothing can say when something will run.
    """

    started_at: datetime
    finished_at: datetime
    portfolios_run: tuple[int, ...] = ()
    outcomes: tuple[AssetOutcome, ...] = ()
    skipped_reason: str | None = None
    portfolio_failures: tuple[PortfolioFailure, ...] = ()
    waiting: tuple[PortfolioDue, ...] = ()
    steps: tuple[StepTiming, ...] = ()  # portfolio steps run by Celery workers, if any

    @property
    def duration_seconds(self) -> float:
        """Wall time of the tick."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def errors(self) -> tuple[AssetOutcome, ...]:
        """Outcomes of assets whose step failed."""
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def failed(self) -> bool:
        """Whether any plugin or step failed: an asset's, or a portfolio-wide one."""
        return bool(self.errors or self.portfolio_failures)

    @property
    def next_due_at(self) -> datetime | None:
        """When the first waiting portfolio is due (None: none waits)."""
        return min((p.next_due_at for p in self.waiting), default=None)

    @classmethod
    def skipped(cls, now: datetime, reason: str,
                waiting: Sequence[PortfolioDue] = ()) -> TickReport:
        """A tick that ran nothing, and why (a core plugin's policy said so)."""
        return cls(started_at=now, finished_at=now, skipped_reason=reason,
                   waiting=tuple(waiting))


class LoopHost(Protocol):
    """What LTS hands a core plugin: the engine, seen through two calls.

    LTS owns the mechanics (the lease electing one process, the pause switch, start-up
    reconciliation, the APScheduler job, exactly-once claims of each portfolio); the
    core plugin owns the policy: whether a tick runs and which portfolios it runs. A
    host may be scoped (a user's "Run now" of one portfolio): then it shows and runs
    only the portfolios in its scope.
    """

    def portfolios(self, now: datetime) -> tuple[PortfolioDue, ...]:
        """Every active portfolio of an active user in scope, oldest id first."""

    def run(self, now: datetime, portfolio_ids: Collection[int] | None = None
            ) -> TickReport:
        """Run the due portfolios in scope (only those of ``portfolio_ids`` if given)."""


# ---------------------------------------------------------------------- contracts


@dataclass(frozen=True)
class PluginSetting:
    """A global setting a plugin class needs (``Plugin.settings``).

    Declared settings become configuration keys like LTS's own (``--set name=...``,
    ``LTS_<NAME>``, the config file), and each plugin receives only the ones its class
    declares, in ``self.app_config``. Declaring one of LTS's own settings (``data_dir``)
    shares it; secret, database, Redis and SMTP settings of LTS can never be declared.
    ``secret`` marks a plugin's own credential: masked by ``--save-config``.
    """

    name: str
    type: type  # str, int, float or bool
    default: Any
    description: str
    secret: bool = False


class Plugin(abc.ABC):
    """Common base: a name, a kind, a config schema, and the validated config.

    ``config`` is this plugin's own validated settings (from the portfolio or asset row);
    ``app_config`` holds only the global settings the class declares in ``settings``
    (read-only), never the rest of LTS's configuration.

    Every concrete plugin class declares ``interface_version`` itself: a version
    inherited from LTS's base class would claim compatibility with whatever LTS is
    installed, so the registry refuses it.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    interface_version: ClassVar[str]
    config_schema: ClassVar[type[marshmallow.Schema]] = EmptyConfig
    settings: ClassVar[tuple[PluginSetting, ...]] = ()

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        self.config: Mapping[str, Any] = {**config_defaults(self.config_schema),
                                          **dict(config or {})}
        given = dict(app_config or {})
        self.app_config: Mapping[str, Any] = {
            s.name: given.get(s.name, s.default) for s in type(self).settings}


class PipelinePlugin(Plugin):
    """Turns market data (and optionally forecasts) into a snapshot for one asset."""

    kind = "pipeline"

    @abc.abstractmethod
    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Return the last bars up to ``now`` (none later) and optional predictions."""

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the bars stamped in [``start``, ``end``), however many.

        They are the bars ``snapshot(asset, end)`` would hold with a long enough window.
        Used by protective checks after a gap (the paper broker checks every bar since
        its previous check) and by backtests. ``end`` plays the part of ``now``: no bar
        after it is ever returned. Same columns and index as ``MarketSnapshot.candles``;
        an empty frame when there were no bars. A pipeline that cannot answer keeps this
        default, which raises: the engine then reports the bars as missing.
        """
        raise PluginError(f"pipeline {self.name!r} cannot provide bars: it does not "
                          f"implement bars(asset, start, end)")


_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _ns_stamps(index: pd.Index) -> tuple[bool, np.ndarray] | None:
    """(zone-aware?, nanoseconds since the epoch) of a DatetimeIndex; None otherwise.

    ``asi8`` of a zone-aware index counts from the UTC epoch whatever its zone, so two
    aware indexes compare as integers; naive ones only with naive ones.
    """
    if not isinstance(index, pd.DatetimeIndex):
        return None
    factor = _NS_PER_UNIT.get(index.unit)
    if factor is None:
        return None
    stamps = index.asi8
    return index.tz is not None, stamps if factor == 1 else stamps * factor


class StrategyPlugin(Plugin):
    """Decides whether to open, close or hold a position."""

    kind = "strategy"

    #: Rows of candles the newest ``prepare`` row depends on (its look-back): the live
    #: path computes :meth:`prepare` over only that many last rows.
    prepare_window: int = 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame | None:
        """Optional hook: indicators for every row of ``candles`` at once (vectorized).

        Row ``t`` may depend on rows up to ``t`` only, and on no more than the last
        :attr:`prepare_window` of them, so the row is the same whether computed over a
        whole series (a backtest, once) or over the last rows of a live snapshot. None
        (the default): the strategy has no such hook.
        """
        return None

    #: Columns of :meth:`quiet`'s answer: the asset's position when ``decide`` is asked.
    QUIET_STATES = ("flat", "long", "short")

    def quiet(self, candles: pd.DataFrame, prepared: pd.DataFrame) -> np.ndarray | None:
        """Optional hook (backtests only): the bars where ``decide`` surely holds.

        ``candles`` is a whole series, ``prepared`` :meth:`prepare` over it (same index).
        The answer is a boolean array of shape ``(len(candles), 3)``, its columns
        :attr:`QUIET_STATES`: ``[i, 0]`` True promises that ``decide`` on a snapshot whose
        newest bar is row ``i`` (no ``predictions``) returns ``Decision.hold`` when the
        asset is flat, *whatever the allocation*; ``[i, 1]`` (``[i, 2]``) the same when
        the position passed is long (short), whatever its quantity, prices, stops and
        marks. False promises nothing (the bar is replayed in full). A backtest skips the
        bars where every asset's strategy holds and nothing else can happen (no resting
        order, stop or target, no kill switch), filling marks and equity in between
        exactly as a bar-by-bar replay books them; a wrong True would skip a real
        decision, so answer True only where the rule makes a hold certain.

        None (the default): every bar is replayed in full.
        """
        return None

    def use_prepared(self, symbol: str, frame: pd.DataFrame | None) -> None:
        """Hand over indicators computed once over a whole series (backtests); None drops.

        Its index is kept as nanosecond integers too: a backtest looks up the row of
        every bar, and a pandas search plus two boxed timestamps cost about half of
        :meth:`prepared`.
        """
        frames = self.__dict__.setdefault("_prepared_frames", {})
        stamps = self.__dict__.setdefault("_prepared_stamps", {})
        if frame is None:
            frames.pop(symbol, None)
            stamps.pop(symbol, None)
        else:
            frames[symbol] = frame
            stamps[symbol] = _ns_stamps(frame.index)  # None: searched by pandas

    def prepared(self, snapshot: MarketSnapshot, rows: int = 1) -> pd.DataFrame | None:
        """The last ``rows`` rows of :meth:`prepare` up to the snapshot's newest bar.

        Read from the frame a backtest handed over (:meth:`use_prepared`) when it has the
        newest bar; else (live) computed over the snapshot's last ``prepare_window + rows
        - 1`` candles. Never a row after the newest bar: the frame is cut at it.
        """
        candles = snapshot.candles
        if candles.empty:
            return None
        stored = self.stored_prepared(snapshot, rows)
        if stored is not None:
            return stored
        frame = self.prepare(candles.iloc[-(self.prepare_window + rows - 1):])
        return None if frame is None else frame.iloc[-rows:]

    def stored_prepared(self, snapshot: MarketSnapshot, rows: int = 1) -> pd.DataFrame | None:
        """The handed-over frame's last ``rows`` rows up to the newest bar, or None (live).

        Split from :meth:`prepared` so a strategy can compute its live row without a
        DataFrame: building one per decision cost more than the strategy itself (issue 10).
        A backtest looks the row up by integer search on the stored nanosecond stamps.
        """
        stored = self.__dict__.get("_prepared_frames", {}).get(snapshot.symbol)
        candles = snapshot.candles
        if stored is None or candles.empty:
            return None
        known = self.__dict__.get("_prepared_stamps", {}).get(snapshot.symbol)
        index = candles.index
        factor = _NS_PER_UNIT.get(getattr(index, "unit", ""))
        if known is not None and factor is not None \
                and known[0] == (getattr(index, "tz", None) is not None):
            newest = int(index.asi8[-1]) * factor
            stamps = known[1]
            end = int(np.searchsorted(stamps, newest, side="right"))
            if end >= rows and stamps[end - 1] == newest:
                return stored.iloc[end - rows:end]
            return None
        newest_stamp = index[-1]  # an index of another kind: pandas compares it (or refuses)
        end = int(stored.index.searchsorted(newest_stamp, side="right"))
        if end >= rows and stored.index[end - 1] == newest_stamp:
            return stored.iloc[end - rows:end]
        return None

    @abc.abstractmethod
    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Return the decision for this asset given its data, open position and capital."""


class BrokerPlugin(Plugin):
    """Executes orders. Every method may raise; a timeout is treated as ``unknown``."""

    kind = "broker"

    @abc.abstractmethod
    def submit(self, request: OrderRequest) -> BrokerResult:
        """Send an order; sending the same ``client_order_id`` twice must not trade twice."""

    @abc.abstractmethod
    def close(self, position: PositionInfo, request: OrderRequest) -> BrokerResult:
        """Close ``position`` with the closing order ``request``."""

    @abc.abstractmethod
    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo]) -> list[Fill]:
        """Report fills triggered by new bars: stop loss, take profit, resting limits."""

    def mark_many(self, requests: Sequence[tuple[AssetInfo, MarketSnapshot,
                                                 Sequence[PositionInfo]]]
                  ) -> list[list[Fill] | Exception]:
        """Optional: :meth:`mark` for several assets of one portfolio in one call.

        ``requests`` are ``(asset, snapshot, positions)`` as :meth:`mark` takes them;
        the answer has one entry per request, in order: its fills, or the exception
        marking that asset raised (it fails alone). Raising fails every asset of the
        call. Override it to share work between assets (the paper broker reads its book
        once for them all); the engine uses it only when overridden, and this default
        marks each in turn.
        """
        answers: list[list[Fill] | Exception] = []
        for asset, snapshot, positions in requests:
            try:
                answers.append(self.mark(asset, snapshot, positions))
            except Exception as exc:
                answers.append(exc)
        return answers

    @abc.abstractmethod
    def lookup(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Find an order by client id; ``not_found`` only when the broker is sure."""

    @abc.abstractmethod
    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Return what the broker holds for ``asset``."""

    def cancel(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """Cancel a resting order; a broker that cannot answers ``rejected``."""
        return BrokerResult(status="rejected",
                            message=f"broker {self.name!r} cannot cancel orders")

    def account(self, asset: AssetInfo) -> BrokerAccount | None:
        """The broker's own equity and margin for ``asset``'s account, or None.

        A broker holding a real account answers it, and its figures are the truth for
        the portfolio's equity and margin (SPEC 2a); the default (None, e.g. ``paper``)
        leaves LTS's own books in charge. May raise like every broker call.
        """
        return None

    def instrument(self, asset: AssetInfo) -> InstrumentSpec | None:
        """Price and quantity precision of ``asset``'s instrument at this broker, or None.

        Optional (the default answers None: prices and quantities are stored as
        computed, quantities rounded to ``lot_step`` only). A broker that knows its
        instruments' precision answers it, so LTS stores what the broker holds: sized
        quantities rounded down to ``quantity_decimals`` (never more than the margin
        checks allowed), prices rounded half-even to ``price_decimals`` (SPEC 2a, see
        :mod:`lts.trading.precision`). Called when orders are sized and placed; answer
        from a cache (it may raise like every broker call: LTS then goes on unrounded).
        """
        return None

    @property
    def leverage(self) -> float:
        """Capital multiplier for sizing (SPEC 2a): ``leverage`` from the config, default 1."""
        return float(self.config.get("leverage", 1.0))

    @property
    def lot_step(self) -> float:
        """Smallest quantity increment: ``lot_step`` from the config, default 1."""
        return float(self.config.get("lot_step", 1.0))


class PortfolioPlugin(Plugin):
    """Splits a portfolio's capital among its active assets."""

    kind = "portfolio"

    @abc.abstractmethod
    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Return capital per asset id: never negative, summing to at most ``portfolio.capital``.

        ``portfolio.capital`` is the allocatable equity (see :class:`PortfolioInfo`); the
        engine scales down an answer summing to more, so a plugin written against
        ``total_capital`` never allocates money that is gone.
        """


class CorePlugin(Plugin):
    """The trading loop's policy: what each tick runs.

    Every tick goes through :meth:`tick`: the scheduled loop (after LTS took the lease
    and checked the pause switch), `flask lts tick`, and the dashboard's and API's "Run
    now". LTS calls :meth:`start` with a :class:`LoopHost` before the first tick and
    :meth:`stop` after the last one. A core plugin never imports the engine: the host is
    all it needs, and all it gets.
    """

    kind = "core"

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, app_config)
        self._host: LoopHost | None = None

    @property
    def host(self) -> LoopHost:
        """The host given to :meth:`start`."""
        if self._host is None:
            raise RuntimeError(f"core plugin {self.name!r}: start(host) was not called")
        return self._host

    def start(self, host: LoopHost) -> None:
        """Attach to ``host``; an override calls ``super().start(host)`` first."""
        self._host = host

    def stop(self) -> None:
        """Detach: no tick follows. Override to release what :meth:`start` took."""
        self._host = None

    @abc.abstractmethod
    def tick(self, now: datetime) -> TickReport:
        """Run one tick at ``now`` through :attr:`host`, or skip it (``TickReport.skipped``)."""
