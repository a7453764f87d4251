"""The in-memory replay: the engine's step on ``MemoryBooks``, no database at all.

:class:`MemoryReplay` implements the runner's :class:`~lts.backtest.runner.Replay`. At
each tick (a bar's end) it runs the portfolio step of :class:`~lts.trading.engine.Engine`
in the engine's order, with the engine's own rule functions on
:class:`~lts.trading.books.MemoryBooks`:

1. a snapshot per asset (the ``csv`` pipeline's bars, the last ``lookback`` complete
   at the tick: the same rows its ``snapshot`` returns, cut by position, not searched);
2. the broker's ``mark`` (stops, targets, resting orders) on the paper broker's fill
   rules (:class:`~lts.plugins.broker.paper_memory.MemoryPaperBroker`), its fills
   booked by :func:`~lts.trading.engine.book_mark_fill`, positions marked at the close;
3. equity (``Books.portfolio_pnl``) and the kill switch (equity <= 0 halts);
4. the allocation (portfolio plugin, :func:`~lts.trading.engine.validate_allocation`,
   :func:`~lts.plugins.portfolio._common.capped`, :func:`~lts.trading.engine.held_margin`);
5. the decision and its orders (:func:`~lts.trading.engine.strategy_orders`, sizing and
   reduce-only rules included) placed by :func:`~lts.trading.orders.place_on_books`
   (risk checks, ``pending`` row, broker, state machine);
6. opened positions settled (``Books.settle_opened``), the equity and drawdown kill
   switch, optionally flattening.

Plugin calls run directly (no worker thread, no timeout: a backtest has no wall clock
to protect); a plugin that raises still fails only its asset's step, as live.
``prepare`` hooks are computed once over each series and ``decide`` reads the row for
now. ``tests/integration/test_backtest_one_engine.py`` proves it books the orders,
fills and equity the live engine books over SQLite.

Quiet ticks are skipped (:class:`_Skipper`): where every asset's strategy surely holds
(its ``quiet`` hook), no resting order, stop or target can fill and the kill switch
cannot trip, nothing but marks would change, so only the ticks where something can
happen are stepped, with the same functions; the skipped ticks' equity is checked with
numpy. ``MemoryReplay(skip_quiet=False)`` steps every tick (debugging, and
``tests/integration/test_backtest_skip_quiet.py``, which proves both book the same).

What it leaves out, because a backtest has none of it: reconciliation (nothing is in
flight), leases and claims, paused credentials, broker-reported accounts (the paper
broker reports none), decision records and tick statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import marshmallow
import numpy as np
import pandas as pd

from lts.backtest.data import BarData
from lts.backtest.result import Replayed
from lts.backtest.runner import BacktestSpec, Progress, replayed_from
from lts.errors import ValidationFailed
from lts.plugins.base import (
    MarketSnapshot,
    PluginError,
    PortfolioPlugin,
    PositionInfo,
)
from lts.plugins.broker.paper import EXIT_PREFIX, PaperBroker, _finite_positive
from lts.plugins.broker.paper_memory import MemoryPaperBroker
from lts.plugins.portfolio._common import capped
from lts.plugins.portfolio.equal_weight import EqualWeight
from lts.plugins.portfolio.fixed_weights import FixedWeights
from lts.plugins.portfolio.inverse_volatility import InverseVolatility
from lts.plugins.registry import PluginRegistryError
from lts.trading.books import MemoryBooks
from lts.trading.engine import (
    book_mark_fill,
    held_margin,
    place_intents,
    strategy_orders,
    validate_allocation,
)
from lts.trading.errors import PluginCallError
from lts.trading.orders import OrderIntent, client_order_id, place_on_books
from lts.trading.plugin_calls import traceback_summary
from lts.trading.plugin_source import PluginSource
from lts.trading.risk import RiskLimits
from lts.trading.units import AssetUnit, build_unit, portfolio_info

_EPSILON = 1e-9
PORTFOLIO_ID = 1
#: The runtime settings a tick reads (lts.config defaults unless given).
SETTING_KEYS = ("kill_switch", "risk_state", "max_order_notional", "max_orders_per_minute",
                "flatten_on_kill")


def call_direct(plugin: Any, method: str, func: Callable[..., Any], *args: Any) -> Any:
    """Run a plugin method inline; any exception becomes the PluginCallError live raises."""
    try:
        return func(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise PluginCallError(plugin.kind, plugin.name, method,
                              traceback_summary(exc)) from exc


class _DataDirSource:
    """``plugins``, except that the ``csv`` pipeline reads the backtest's data folder.

    The app's csv pipeline reads the app's ``data_dir`` setting; a backtest names its
    own folder (``--data-dir``), as EngineReplay's throw-away app did.
    """

    def __init__(self, plugins: PluginSource, data_dir: Path) -> None:
        self.plugins = plugins
        self.data_dir = data_dir

    def get(self, kind: str, name: str, config: Mapping[str, Any]) -> Any:
        """The plugin; a csv pipeline is built here, its config validated by its schema."""
        if (kind, name) != ("pipeline", "csv"):
            return self.plugins.get(kind, name, config)
        from lts.plugins.pipeline.csv import CsvConfig, CsvPipeline

        try:
            loaded = CsvConfig().load(dict(config))
        except marshmallow.ValidationError as exc:
            raise PluginError(f"pipeline plugin 'csv': {exc.messages}") from None
        return CsvPipeline(loaded, {"data_dir": str(self.data_dir)})


class _Feed:
    """One asset's snapshots at every tick, cut from its whole series by position.

    The ``csv`` pipeline's snapshot is the last ``lookback`` bars complete at ``now``
    (stamped at or before ``now - period``); the cut points of every tick are found once
    with one vectorized search instead of one search and one pandas filter per bar.
    Other pipelines (or a resampling csv) are asked for each snapshot.
    """

    def __init__(self, unit: AssetUnit, ticks: pd.DatetimeIndex,
                 read: pd.DataFrame | None = None) -> None:
        self.unit = unit
        pipeline: Any = unit.pipeline
        self.bars: pd.DataFrame | None = None
        if pipeline.name == "csv" and not pipeline.config.get("resample_minutes"):
            try:  # ``read``: the series already read for ``prepare`` (one read, not two)
                bars = read if read is not None else pipeline.all_bars(unit.info)
            except Exception:  # asked at each tick instead, which fails that asset
                return
            period = pipeline.period(bars)
            cutoffs = ticks - period if period is not None else ticks
            # Without ``attrs`` (the file's period, for the pipeline only): pandas deep-
            # copies them into every slice, a tenth of a bar's cost.
            self.bars = bars.copy(deep=False)
            self.bars.attrs = {}
            self.closes = bars["close"].to_numpy(dtype=np.float64)
            self.lows = bars["low"].to_numpy()  # as the paper broker reads them
            self.highs = bars["high"].to_numpy()
            self.lookback = int(pipeline.config["lookback"])
            self.ends = np.asarray(bars.index.searchsorted(cutoffs, side="right"))
            # Each tick's last close (its snapshot's ``last_price``; NaN before any bar).
            self.tick_closes = np.where(self.ends > 0, self.closes[np.maximum(self.ends - 1, 0)],
                                        np.nan)

    def snapshot(self, k: int, now: datetime) -> MarketSnapshot:
        """The snapshot at tick number ``k`` (time ``now``)."""
        if self.bars is None:
            pipeline = self.unit.pipeline
            return call_direct(pipeline, "snapshot", pipeline.snapshot, self.unit.info, now)
        end = int(self.ends[k])
        snapshot = MarketSnapshot(symbol=self.unit.info.symbol, as_of=now,
                                  candles=self.bars.iloc[max(0, end - self.lookback):end])
        if end:  # the cached last close, from the array: the same float, no pandas lookup
            snapshot.__dict__["last_price"] = float(self.closes[end - 1])
        return snapshot


class _Snapshots(Mapping[int, MarketSnapshot]):
    """A tick's snapshots by asset id; a quiet asset's is cut from its feed when read.

    Only the allocator (``inverse_volatility`` reads candles) or a flattening kill switch
    may read a quiet asset's snapshot; the others never pay for cutting it.
    """

    def __init__(self, feeds: Mapping[int, _Feed], k: int, now: datetime,
                 quiet: frozenset[int]) -> None:
        self.feeds, self.k, self.now, self.quiet = feeds, k, now, quiet
        self.known: dict[int, MarketSnapshot] = {}

    def __setitem__(self, asset_id: int, snapshot: MarketSnapshot) -> None:
        self.known[asset_id] = snapshot

    def __getitem__(self, asset_id: int) -> MarketSnapshot:
        snapshot = self.known.get(asset_id)
        if snapshot is None:
            if asset_id not in self.quiet:
                raise KeyError(asset_id)
            snapshot = self.known[asset_id] = self.feeds[asset_id].snapshot(self.k, self.now)
        return snapshot

    def __iter__(self) -> Iterator[int]:
        return (a for a in self.feeds if a in self.known or a in self.quiet)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class _Tick:
    """What one tick shares across the portfolio's steps (the engine's TickContext)."""

    now: datetime
    counters: dict[int, int] = field(default_factory=dict)
    opened: list[tuple[int, float, str, float, int | None]] = field(default_factory=list)

    def next_client_order_id(self, asset_id: int) -> str:
        """The asset's next deterministic client id in this tick (as live)."""
        self.counters[asset_id] = self.counters.get(asset_id, 0) + 1
        return client_order_id(asset_id, self.now, self.counters[asset_id])


class MemoryReplay:
    """Replays a backtest on in-memory books (see the module docstring).

    ``plugins`` builds the plugins (the app's registry; its configs may hold stored,
    encrypted secrets); ``settings`` overrides :data:`SETTING_KEYS` (default: the
    configuration defaults, as a fresh backtest app has them).
    """

    def __init__(self, plugins: PluginSource, *, settings: Mapping[str, Any] | None = None,
                 prepare: bool = True, skip_quiet: bool = True) -> None:
        from lts.config import defaults

        self.plugins = plugins
        self.prepare = prepare
        self.skip_quiet = skip_quiet
        merged = defaults()
        self.settings = {key: merged.get(key) for key in SETTING_KEYS}
        self.settings.update(settings or {})
        self.seconds = 0.0
        self.books = MemoryBooks()

    # ------------------------------------------------------------------ the run
    def __call__(self, spec: BacktestSpec, data: BarData, ticks: pd.DatetimeIndex,
                 progress: Progress | None) -> Replayed:
        """Build the plugins, tick every bar end in order, hand back the books as rows."""
        import time

        self.books = books = MemoryBooks()
        self.limits = RiskLimits.from_settings(self.settings)
        self.portfolio = SimpleNamespace(
            id=PORTFOLIO_ID, user_id=1, name=spec.name[:100], total_capital=spec.capital,
            risk_state="active", portfolio_plugin=spec.portfolio_plugin,
            portfolio_config=dict(spec.portfolio_config),
            max_drawdown_pct=spec.max_drawdown_pct)
        books.add_portfolio(PORTFOLIO_ID, total_capital=spec.capital)
        self.allocator = self._allocator()
        self._read: dict[int, pd.DataFrame] = {}  # series read for prepare, by asset id
        self.rows, self.units = self._units(spec, data)
        self.feeds = {u.info.id: _Feed(u, ticks, self._read.get(u.info.id))
                      for u in self.units}
        self._read = {}
        self.peak: float | None = None
        self.errors: list[str] = []
        self.failed: set[int] = set()
        self.allocation: dict[int, float] = {}  # the last tick's, by asset id
        started = time.perf_counter()
        times = ticks.to_pydatetime()
        skipper = _Skipper.build(self, ticks) if self.skip_quiet else None
        self.ticks_replayed = 0  # ticks stepped (the others skipped as quiet)
        if skipper is None:
            for k, tick in enumerate(times):
                self.tick(k, tick)
                self.ticks_replayed += 1
                if progress is not None:
                    progress(k + 1, len(ticks))
        else:
            k, quiet = 0, frozenset[int]()
            while k < len(times):
                self.tick(k, times[k], quiet)
                self.ticks_replayed += 1
                if progress is not None:
                    progress(k + 1, len(ticks))
                k, quiet = skipper.after(k, times)
        self.seconds = time.perf_counter() - started
        symbols = {row.id: row.symbol for row in self.rows}
        halts = [(row["timestamp"], row["details"]) for row in books.audit
                 if row["action"] == "portfolio.kill_switch"]
        return replayed_from(books.orders.values(), books.positions.values(), halts,
                             symbols, len(ticks), self.errors)

    def _allocator(self) -> PortfolioPlugin:
        """The portfolio plugin, built once; a bad config fails the run naming it."""
        try:
            return self.plugins.get("portfolio", self.portfolio.portfolio_plugin,
                                    self.portfolio.portfolio_config)  # type: ignore[return-value]
        except (PluginRegistryError, PluginError) as exc:
            raise ValidationFailed("bad portfolio plugin", {"portfolio_config": [str(exc)]}
                                   ) from None

    def _units(self, spec: BacktestSpec, data: BarData
               ) -> tuple[list[SimpleNamespace], list[AssetUnit]]:
        """The asset rows (csv pipeline, paper broker in memory) and their units."""
        rows, units = [], []
        source = _DataDirSource(self.plugins, Path(data.data_dir).resolve())
        for asset_id, asset in enumerate(spec.assets, start=1):
            row = SimpleNamespace(
                id=asset_id, portfolio_id=PORTFOLIO_ID, symbol=asset.symbol, name=None,
                allocated_capital=0.0, is_active=True, pipeline_plugin="csv",
                pipeline_config={"file": data.files[asset.symbol], "lookback": asset.lookback},
                strategy_plugin=asset.strategy_plugin,
                strategy_config=dict(asset.strategy_config), broker_plugin="paper",
                broker_config=dict(asset.broker_config),
                max_data_age_minutes=asset.max_data_age_minutes)
            try:
                unit = build_unit(source, row)
            except PluginCallError as exc:
                raise ValidationFailed("bad plugin config", {f"assets[{asset.symbol}]": [
                    exc.summary]}) from None
            assert isinstance(unit.broker, PaperBroker)
            # One book per asset, never the live paper_orders table.
            unit = AssetUnit(info=unit.info, pipeline=unit.pipeline, strategy=unit.strategy,
                             broker=MemoryPaperBroker.like(unit.broker))
            if self.prepare:
                read = self._prepare(unit, spec.end)
                if read is not None:
                    self._read[asset_id] = read
            self.books.add_asset(asset_id, PORTFOLIO_ID, broker_config=row.broker_config)
            rows.append(row)
            units.append(unit)
        return rows, units

    @staticmethod
    def _prepare(unit: AssetUnit, end: datetime) -> pd.DataFrame | None:
        """Indicators once over the series before ``end`` (warm-up included); the series.

        A series that cannot be read is left to the ticks: each one asks the pipeline,
        which fails that asset's step, as live (reported per tick).
        """
        try:
            bars = unit.pipeline.all_bars(unit.info)  # type: ignore[attr-defined]
        except Exception:  # see above
            return None
        unit.strategy.use_prepared(unit.info.symbol, unit.strategy.prepare(
            bars[bars.index < pd.Timestamp(end)]))
        return bars

    # ------------------------------------------------------------------ one tick
    def tick(self, k: int, now: datetime, quiet: frozenset[int] = frozenset()) -> None:
        """The engine's portfolio step at tick ``k`` (see the module docstring).

        ``quiet``: assets whose step is known to change nothing but their marks (see
        :class:`_Skipper`): marked at the close, no snapshot unless the allocator reads
        it, no broker mark (it has nothing to fill), no decision (it would hold).
        """
        books = self.books
        tick = _Tick(now)
        stored = books.assets
        # A quiet asset's unit keeps its allocation: nothing of this tick reads it (its
        # step is skipped, the pure allocators read ids and symbols, the fallback and a
        # flattening read the stored allocation), and a new unit per asset per tick cost
        # more than the rest of a quiet asset's tick.
        units = [u if u.info.id in quiet else
                 _allocated(u, stored[u.info.id]["allocated_capital"]) for u in self.units]
        failed: set[int] = set()
        snapshots: Any = _Snapshots(self.feeds, k, now, quiet) if quiet else {}
        for unit in units:
            if unit.info.id in quiet:
                continue
            try:
                snapshots[unit.info.id] = self.feeds[unit.info.id].snapshot(k, now)
            except PluginCallError as exc:
                self._fail(unit, exc, now, failed)
        positions: dict[int, list[PositionInfo]] = {}
        for unit in units:
            asset_id = unit.info.id
            if asset_id in quiet:
                positions[asset_id] = books.mark(
                    asset_id, float(self.feeds[asset_id].tick_closes[k]), now)
            elif asset_id not in failed:
                self._guarded(unit, now, failed, self._mark, unit, snapshots[asset_id],
                              now, positions)
        equity, risk_state = self._equity_and_state(now)
        allocated = [u for u in units if u.info.id not in failed and not u.reduce_only]
        leverages = {u.info.id: u.leverage for u in units}
        held = held_margin(positions, self.rows, {u.info.id for u in allocated}, leverages)
        self.portfolio.risk_state = books.portfolios[PORTFOLIO_ID]["risk_state"]
        allocation = self._allocate(now, equity, max(0.0, equity - held), allocated,
                                    snapshots)
        self.allocation = allocation
        units = [u if u.info.id in quiet else _allocated(u, allocation.get(u.info.id, 0.0))
                 for u in units]
        self.units = units
        for unit in units:
            if unit.info.id not in failed and unit.info.id not in quiet:
                self._guarded(unit, now, failed, self._decide, unit, snapshots[unit.info.id],
                              positions.get(unit.info.id, []), risk_state, tick)
        self.failed = failed
        self._finish(tick, units, snapshots)

    def _guarded(self, unit: AssetUnit, now: datetime, failed: set[int],
                 step: Callable[..., Any], *args: Any) -> None:
        """Run one step of an asset; a failure fails that asset only (as live)."""
        try:
            step(*args)
        except PluginCallError as exc:
            self._fail(unit, exc, now, failed)
        except Exception as exc:
            error = PluginCallError("engine", "engine", "step", traceback_summary(exc))
            self._fail(unit, error, now, failed)

    def _fail(self, unit: AssetUnit, error: PluginCallError, now: datetime,
              failed: set[int]) -> None:
        """Record a failed asset step: the engine's audit row and the run's error line."""
        failed.add(unit.info.id)
        self.books.add_audit({"action": "trading.asset_failed",
                              "resource": f"asset:{unit.info.id}", "timestamp": now,
                              "outcome": "error", "details": {"error": error.summary}})
        self.errors.append(f"{now.isoformat()} asset {unit.info.id}: {error}")

    def _mark(self, unit: AssetUnit, snapshot: MarketSnapshot, now: datetime,
              positions: dict[int, list[PositionInfo]]) -> None:
        """Book the broker's protective fills, then mark what stays open at the close."""
        asset_id = unit.info.id
        books = self.books
        infos = _infos(books, asset_id)
        fills = call_direct(unit.broker, "mark", unit.broker.mark, unit.info, snapshot, infos)
        for fill in fills or ():
            book_mark_fill(books, asset_id, fill, now)
        positions[asset_id] = books.mark(asset_id, snapshot.last_price, now) \
            if fills or infos else infos

    def _equity_and_state(self, now: datetime) -> tuple[float, str]:
        """Equity after the marks; equity <= 0 halts before any strategy is asked."""
        books = self.books
        portfolio = books.portfolios[PORTFOLIO_ID]
        realized, unrealized, _ = books.portfolio_pnl(PORTFOLIO_ID)
        equity = portfolio["total_capital"] + realized + unrealized
        state = portfolio["risk_state"]
        if equity <= 0 and state != "halted":
            books.halt(PORTFOLIO_ID, now, trigger="equity", equity=equity)
            state = "halted"
        return equity, state

    def _allocate(self, now: datetime, equity: float, allocatable: float,
                  units: list[AssetUnit], snapshots: Mapping[int, MarketSnapshot]
                  ) -> dict[int, float]:
        """Split the allocatable equity as the engine does, and store it on the assets."""
        pinfo = portfolio_info(self.portfolio, equity=equity, allocatable=allocatable)
        limit = pinfo.capital
        ids = [u.info.id for u in units]
        try:
            raw = validate_allocation(call_direct(
                self.allocator, "allocate", self.allocator.allocate, pinfo,
                [u.info for u in units], snapshots), ids)
            asked = sum(raw.values())
            if asked > limit + max(abs(limit), 1.0) * _EPSILON:  # as the engine reports it
                self.errors.append(f"{now.isoformat()} over_allocated: allocated "
                                   f"{asked:.2f}, more than the allocatable {limit:.2f}: "
                                   f"scaled down")
            allocation = capped(raw, limit)
        except (PluginCallError, ValueError) as exc:
            summary = exc.summary if isinstance(exc, PluginCallError) else str(exc)
            self.errors.append(f"{now.isoformat()} allocation_failed: {summary}")
            stored = self.books.assets  # the units' allocation at the tick's start
            allocation = capped({u.info.id: stored[u.info.id]["allocated_capital"]
                                 for u in units}, limit)
        final = {}
        for asset_id, row in self.books.assets.items():
            value = allocation.get(asset_id, 0.0)
            final[asset_id] = value
            if abs(row["allocated_capital"] - value) > 1e-12:  # as the engine stores it
                row["allocated_capital"] = value
        return final

    def _decide(self, unit: AssetUnit, snapshot: MarketSnapshot, infos: list[PositionInfo],
                risk_state: str, tick: _Tick) -> None:
        """The engine's decision step, its orders placed on the books."""
        decision, intents, _warnings = strategy_orders(unit, snapshot, infos, risk_state,
                                                       tick.now, call_direct)
        place_intents(intents, decision, snapshot,
                      lambda intent: self._place(unit, intent, snapshot, tick), tick.opened)

    def _place(self, unit: AssetUnit, intent: OrderIntent, snapshot: MarketSnapshot | None,
               tick: _Tick) -> Any:
        """Place one order on the books through the memory paper broker."""
        return place_on_books(self.books, intent, tick.next_client_order_id(unit.info.id),
                              unit.info, unit.broker, snapshot, tick.now, self.limits,
                              leverage=unit.leverage)

    def _finish(self, tick: _Tick, units: list[AssetUnit],
                snapshots: Mapping[int, MarketSnapshot]) -> None:
        """Settle new positions; the kill switch on equity and drawdown; the peak."""
        books, now = self.books, tick.now
        for order_id, last_price, anchor, reference, decimals in tick.opened:
            books.settle_opened(order_id, last_price, anchor=anchor, reference=reference,
                                now=now, price_decimals=decimals)
        portfolio = books.portfolios[PORTFOLIO_ID]
        capital, state = portfolio["total_capital"], portfolio["risk_state"]
        realized, unrealized, _ = books.portfolio_pnl(PORTFOLIO_ID)
        equity = capital + realized + unrealized
        tripped = False
        if equity <= 0 and state != "halted":
            tripped = books.halt(PORTFOLIO_ID, now, trigger="equity", equity=equity)
        elif self.portfolio.max_drawdown_pct is not None and state != "halted":
            limit = self.portfolio.max_drawdown_pct
            peak = max(self.peak, capital) if self.peak is not None else capital
            drawdown = (peak - equity) / peak * 100 if peak > 0 else 0.0
            if drawdown >= limit - _EPSILON:
                tripped = books.halt(PORTFOLIO_ID, now, trigger="max_drawdown_pct",
                                     drawdown_pct=drawdown, limit_pct=limit,
                                     equity=equity, peak=peak)
        self.peak = equity if self.peak is None else max(self.peak, equity)
        if tripped and self.settings["flatten_on_kill"]:
            self._flatten(tick, units, snapshots)

    def _flatten(self, tick: _Tick, units: list[AssetUnit],
                 snapshots: Mapping[int, MarketSnapshot]) -> None:
        """Close every open position with orders that pass the kill switch (as live)."""
        from lts.trading.engine import _closing_intent

        for unit in units:  # a quiet asset's unit gets this tick's allocation here
            unit = _allocated(unit, self.allocation.get(unit.info.id, 0.0))
            for info in _infos(self.books, unit.info.id):
                price = info.current_price or info.entry_price
                intent = _closing_intent(unit.info.id, info, price, "kill switch: flatten",
                                         source="risk", flatten=True)
                self._place(unit, intent, snapshots.get(unit.info.id), tick)


def _allocated(unit: AssetUnit, capital: float) -> AssetUnit:
    """``unit`` with ``capital`` allocated; the same unit when it already has it."""
    return unit if unit.info.allocated_capital == capital else unit.with_allocation(capital)


def _infos(books: MemoryBooks, asset_id: int) -> list[PositionInfo]:
    """The asset's open positions as plugins see them."""
    from lts.trading.positions import position_info

    return [position_info(p) for p in books.open_positions(asset_id)]



#: Portfolio plugins whose allocation is a pure function of their inputs (and capped, so
#: never reported over-allocated): skipping their calls on quiet ticks changes nothing a
#: later tick reads. Any other allocator keeps every tick.
_PURE_ALLOCATORS: tuple[type, ...] = (EqualWeight, FixedWeights, InverseVolatility)


class _Skipper:
    """Which ticks :class:`MemoryReplay` may skip, and which assets are quiet at the others.

    An asset is *quiet* at a tick when its step there can change nothing but its marks:

    - its strategy's :meth:`~lts.plugins.base.StrategyPlugin.quiet` says ``decide`` holds
      on that bar for the asset's position side (flat, long, short), the tick bringing
      exactly one new bar of a csv feed read by position;
    - the paper broker fills nothing there: the tick's new bar touches no level of a
      resting order, stop or target (:func:`_levels`, the paper broker's own tests, run
      on the bars' arrays), all of them already checked once at a replayed tick;
    - its last step did not fail.

    A tick where every asset is quiet is skipped, unless the kill switch could trip there:
    the equity of each skipped tick is computed with numpy from the same closes and the
    same P&L formula, summed in the books' order (so the same floats), and the first tick
    at or below zero equity or past the drawdown limit is replayed in full; the drawdown
    peak covers the skipped ticks. The skipped marks need no catching up: a replayed tick
    marks every open position at its close before anything reads it; the broker's check
    marks (newest bar checked) are moved as a bar-by-bar replay leaves them before the
    broker reads them, and at the end. At a replayed tick the
    quiet assets are only marked (no snapshot unless the allocator reads one, no broker
    call, no decision). Allocations are computed at replayed ticks only, so only for
    allocators in :data:`_PURE_ALLOCATORS`; with any other, no tick is skipped.
    ``MemoryReplay(skip_quiet=False)`` replays every tick in full;
    ``tests/integration/test_backtest_skip_quiet.py`` holds both to the same books.
    """

    def __init__(self, replay: MemoryReplay, loud: dict[int, list[np.ndarray]]) -> None:
        self.replay = replay
        self.loud = loud  # asset id -> per position side: sorted ticks not quiet, then n
        self.quiet: frozenset[int] = frozenset()  # the assets quiet at the last tick
        self.cache: dict[int, tuple[int, int]] = {}  # asset -> (next loud tick, orders)
        self.watching: dict[int, bool] = {}  # asset -> stops or resting orders to check

    @classmethod
    def build(cls, replay: MemoryReplay, ticks: pd.DatetimeIndex) -> _Skipper | None:
        """The skipper of this run, or None when nothing can ever be quiet."""
        if not isinstance(replay.allocator, _PURE_ALLOCATORS):
            return None
        loud = {}
        for unit in replay.units:
            quiet = _quiet_ticks(unit, replay.feeds[unit.info.id], len(ticks))
            if quiet is not None:
                loud[unit.info.id] = [np.append(np.flatnonzero(~quiet[:, side]), len(ticks))
                                      for side in range(3)]
        return cls(replay, loud) if loud else None

    def after(self, k: int, times: Any) -> tuple[int, frozenset[int]]:
        """The next tick to replay after tick ``k``, and the assets quiet at it.

        An asset quiet at tick ``k`` keeps its next loud tick: nothing of it changed there
        (unless an order was placed for it, a flattening kill switch).
        """
        replay, books = self.replay, self.replay.books
        n = len(times)
        if k + 1 >= n:  # the check marks of the assets quiet at the last tick
            for asset_id in self.quiet:
                if self.watching.get(asset_id):
                    self._checked_up_to(asset_id, k)
            return n, frozenset()
        nexts: dict[int, int] = {}
        for unit in replay.units:
            asset_id = unit.info.id
            placed = len(books._orders_of.get(asset_id, ()))
            cached = self.cache.get(asset_id)
            if asset_id in self.quiet and cached is not None and cached[0] > k + 1 \
                    and cached[1] == placed:
                nexts[asset_id] = cached[0]
                continue
            loud = self.loud.get(asset_id)
            still = books.open_positions(asset_id)
            levels = _levels(books, unit, still) if loud is not None else None
            self.watching[asset_id] = bool(levels)
            if levels is None or asset_id in replay.failed:
                nexts[asset_id] = k + 1
                continue
            side = 0 if not still else 1 if still[0].side == "long" else 2
            ticks = loud[side]
            nexts[asset_id] = int(ticks[np.searchsorted(ticks, k + 1)])
            if levels:
                nexts[asset_id] = self._first_touch(asset_id, k, nexts[asset_id], levels)
            self.cache[asset_id] = (nexts[asset_id], placed)
        target = min(min(nexts.values(), default=n), n - 1)
        if target > k + 1:
            target = self._skip_equity(k, target)
        quiet = frozenset(a for a, nxt in nexts.items() if nxt > target)
        for asset_id, watched in self.watching.items():  # as a bar-by-bar replay leaves
            if watched and asset_id not in quiet:      # them, before the broker reads them
                self._checked_up_to(asset_id, target - 1)
        self.quiet = quiet
        return target, quiet

    def _first_touch(self, asset_id: int, k: int, until: int,
                     levels: list[tuple[str, str, float]]) -> int:
        """The first tick in (k, until) whose new bar touches a level; else ``until``.

        The paper broker's own tests (``_first_cross``, ``exit_trigger``) on the bars'
        arrays: a tick whose bar touches nothing fills nothing there.
        """
        feed = self.replay.feeds[asset_id]
        first, last = int(feed.ends[k]), int(feed.ends[min(until, len(feed.ends)) - 1])
        if last <= first:
            return until
        touched = np.zeros(last - first, dtype=bool)
        for column, how, level in levels:
            prices = (feed.lows if column == "low" else feed.highs)[first:last]
            touched |= prices <= level if how == "<=" else prices >= level
        hits = np.flatnonzero(touched)
        return k + 1 + int(hits[0]) if len(hits) else until

    def _checked_up_to(self, asset_id: int, k: int) -> None:
        """The broker's check marks as ``mark`` leaves them at tick ``k`` (nothing filled)."""
        feed = self.replay.feeds[asset_id]
        assert feed.bars is not None
        newest = feed.bars.index[int(feed.ends[k]) - 1].to_pydatetime()
        broker: Any = next(u.broker for u in self.replay.units if u.info.id == asset_id)
        for p in self.replay.books.open_positions(asset_id):
            if p.id in broker._checked:  # every watched one is (see _levels)
                broker._checked[p.id] = newest
        for row in broker._resting.values():
            row["last_checked_bar"] = newest

    def _skip_equity(self, k: int, target: int) -> int:
        """The first tick in (k, target] the kill switch must see; the peak moved past the rest.

        The equity of ticks k+1 .. target-1 as :meth:`MemoryReplay._finish` computes it:
        capital + realized (unchanged: nothing fills) + each asset's open positions'
        ``pnl`` at the tick's close, summed per asset then over assets in the books' order.
        """
        replay, books = self.replay, self.replay.books
        from lts.trading.positions import direction

        portfolio = books.portfolios[PORTFOLIO_ID]
        capital = portfolio["total_capital"]
        realized, _, _ = books.portfolio_pnl(PORTFOLIO_ID)
        span = slice(k + 1, target)
        unrealized: Any = 0.0
        for asset_id in books.assets:
            still = books.open_positions(asset_id)
            if not still:
                continue
            closes = replay.feeds[asset_id].tick_closes[span]
            summed: Any = 0.0
            for p in still:
                summed = summed + (direction(p.side) * (closes - p.entry_price) * p.quantity
                                   - p.commission)
            unrealized = unrealized + summed
        limit = replay.portfolio.max_drawdown_pct
        halted = portfolio["risk_state"] == "halted"
        equity = capital + realized + unrealized
        if not isinstance(equity, np.ndarray):  # nothing open: the same equity throughout
            equity = np.full(target - k - 1, equity)
        low, high = float(equity.min()), float(equity.max())
        # The common case (no drawdown limit, nothing near zero) needs no mask per tick.
        if (limit is None or halted) and np.isfinite(low) and np.isfinite(high) \
                and (halted or low > 0):
            replay.peak = max(replay.peak, high)  # type: ignore[type-var]
            return target
        bad = ~np.isfinite(equity)
        if not halted:
            bad |= equity <= 0
            if limit is not None:
                before = np.concatenate(([replay.peak], equity[:-1]))
                peaks = np.maximum(np.maximum.accumulate(before), capital)
                with np.errstate(divide="ignore", invalid="ignore"):
                    drawdown = np.where(peaks > 0, (peaks - equity) / peaks * 100, 0.0)
                bad |= drawdown >= limit - _EPSILON
        first = np.flatnonzero(bad)
        if len(first):
            target = k + 1 + int(first[0])
        skipped = equity[:target - k - 1]
        if len(skipped):
            assert replay.peak is not None  # tick 0 is always replayed
            replay.peak = max(replay.peak, float(skipped.max()))
        return target


def _levels(books: MemoryBooks, unit: AssetUnit, still: list[Any]
            ) -> list[tuple[str, str, float]] | None:
    """The prices at which the asset's paper broker could fill something; None: unsure.

    Each level is (bar column, ``<=`` or ``>=``, price), the paper broker's tests: a
    long's stop ``low <= stop`` and target ``high >= target`` (a short's the other way),
    a buy limit ``low <= price``, a sell limit ``high >= price``, stop entries the other
    way. Unsure (so the next tick is replayed): a stop, target or resting order the
    broker has not checked at a replayed tick yet (opened or placed at this one), a
    booked exit still to report, an order on the books the broker is not resting.
    """
    broker: Any = unit.broker
    resting = broker._resting
    if any(o.client_order_id not in resting for o in books.open_orders(unit.info.id)):
        return None
    levels: list[tuple[str, str, float]] = []
    for row in resting.values():
        if row["last_checked_bar"] is None:
            return None
        buy = row["side"] == "buy"
        lower = buy if row["order_type"] == "limit" else not buy
        levels.append(("low", "<=", float(row["price"])) if lower
                      else ("high", ">=", float(row["price"])))
    for p in still:
        if f"{EXIT_PREFIX}{p.id}" in broker.book:
            return None
        stop, target = _finite_positive(p.stop_loss), _finite_positive(p.take_profit)
        if not (stop or target):
            continue
        if p.id not in broker._checked:
            return None
        long = p.side == "long"
        if stop:
            levels.append(("low", "<=", p.stop_loss) if long else ("high", ">=", p.stop_loss))
        if target:
            levels.append(("high", ">=", p.take_profit) if long
                          else ("low", "<=", p.take_profit))
    return levels


def _quiet_ticks(unit: AssetUnit, feed: _Feed, n: int) -> np.ndarray | None:
    """Per tick and position side, whether the asset's strategy surely holds; None: never.

    A tick maps to the prepared row of its snapshot's newest bar, and counts only when it
    brings exactly one new bar (a gap or a repeated bar: replayed in full).
    """
    strategy = unit.strategy
    frame = strategy.__dict__.get("_prepared_frames", {}).get(unit.info.symbol)
    if feed.bars is None or frame is None or not len(frame) or n < 2:
        return None
    bars = feed.bars.iloc[:len(frame)]
    if not bars.index.equals(frame.index):
        return None
    try:
        marks = strategy.quiet(bars, frame)
    except Exception:  # a broken hook: every tick in full, where decide reports it
        return None
    if not isinstance(marks, np.ndarray) or marks.shape != (len(frame), 3) \
            or marks.dtype != np.bool_:
        return None
    ends = feed.ends
    rows = ends - 1
    stepped = np.zeros(n, dtype=bool)
    stepped[1:] = (ends[1:] == ends[:-1] + 1) & (ends[:-1] >= 1) & (rows[1:] < len(frame))
    quiet = np.zeros((n, 3), dtype=bool)
    quiet[stepped] = marks[rows[stepped]]
    return quiet
