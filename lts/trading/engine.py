"""The engine: one tick over every due portfolio (SPEC section 1).

Every asset step runs in short transactions of its own, no transaction is open during
a plugin call, and a plugin that raises or times out fails only its asset's step.
Portfolios are claimed with a compare-and-set on ``last_execution``, so two engines on
one database never run the same portfolio twice for one interval, lease or no lease.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from lts.database import retry_unit, write_transaction
from lts.extensions import db
from lts.logging_setup import log_context
from lts.models import Asset, Order, Portfolio, Position, User
from lts.plugins.base import (
    AssetOutcome,
    BrokerAccount,
    BrokerPlugin,
    CredentialsRefused,
    Decision,
    Fill,
    MarketSnapshot,
    PortfolioDue,
    PortfolioFailure,
    PortfolioInfo,
    PortfolioPlugin,
    PositionInfo,
    StepTiming,
    TickReport,
)
from lts.plugins.portfolio._common import capped
from lts.plugins.precision import round_price
from lts.runtime_config import effective_settings
from lts.trading import statistics
from lts.trading.affinity import shared_cpu
from lts.trading.books import Books, SqlBooks
from lts.trading.broker_accounts import (
    reported_allocatable,
    reported_equity,
    reports_account,
)
from lts.trading.clock import Clock, system_clock
from lts.trading.decisions import record_decisions
from lts.trading.errors import PluginCallError
from lts.trading.fanout import dispatcher_for
from lts.trading.forecast_notices import audit_forecast_fallbacks
from lts.trading.history import BarsHistory
from lts.trading.lease import lost_claims, placing_here, process_holder_id
from lts.trading.order_state import OPEN_STATUSES, advance, is_terminal
from lts.trading.orders import (
    OrderExecutor,
    OrderIntent,
    PlacedOrder,
    apply_broker_result,
    audit,
    audit_values,
    client_order_id,
    ensure_no_transaction,
    placing_window,
)
from lts.trading.plugin_calls import CallResult, PluginCaller, traceback_summary
from lts.trading.plugin_source import PluginSource, RegistryPluginSource
from lts.trading.positions import (
    apply_fill,
    mark_params,
    open_positions,
    position_info,
    write_marks,
)
from lts.trading.risk import RISK_SETTING_KEYS, RiskLimits, lock_portfolio
from lts.trading.sizing import fit_quantity, round_to_step, size_quantity
from lts.trading.staleness import stale_warning
from lts.trading.units import AssetUnit, build_unit, config_leverage, portfolio_info

log = logging.getLogger(__name__)
T = TypeVar("T")
# (tick time, claimed portfolio ids) -> (outcomes, portfolio failures, step timings)
PortfolioDispatch = Callable[[datetime, list[int]], tuple[list[AssetOutcome],
                                                         list[PortfolioFailure],
                                                         tuple[StepTiming, ...]]]
TICK_SETTING_KEYS = (*RISK_SETTING_KEYS, "plugin_timeout_seconds", "flatten_on_kill",
                     "global_latency")
_EPSILON = 1e-9
_PORTFOLIOS = Portfolio.__table__
_PORTFOLIO_LIMITS = select(_PORTFOLIOS.c.total_capital, _PORTFOLIOS.c.max_drawdown_pct,
                           _PORTFOLIOS.c.risk_state, _PORTFOLIOS.c.capital_changed_at
                           ).where(_PORTFOLIOS.c.id == bindparam("pid"))
_PORTFOLIO_ROW = select(_PORTFOLIOS).where(_PORTFOLIOS.c.id == bindparam("pid"))
_ASSETS = Asset.__table__
# Every asset: active ones trade, deactivated ones holding a position stay reduce-only.
_PORTFOLIO_ASSETS = (select(_ASSETS).where(_ASSETS.c.portfolio_id == bindparam("pid"))
                     .order_by(_ASSETS.c.id))
#: At most this many assets per batched ``mark_many`` call (Engine._mark_answers): a
#: portfolio's assets share one read, and a call that hangs fails no more than these.
MARK_CHUNK = 64
HALTED_HOLD = ("portfolio halted: positions are marked and their stops and targets "
               "checked, but the strategy is not asked and no order is placed")
REDUCE_ONLY = "asset deactivated: reduce-only until flat"
REDUCING = "portfolio reducing: only closing orders"
# Pause an asset whose credentials the broker refused (once: the rowcount says so).
_PAUSE = update(_ASSETS).where(_ASSETS.c.id == bindparam("pid"),
                               _ASSETS.c.paused_reason.is_(None)
                               ).values(paused_reason=bindparam("reason"),
                                        paused_at=bindparam("now"))
# Executemany by primary key; updated_at gets its onupdate default, as with the ORM.
_SET_ALLOCATION = update(_ASSETS).where(_ASSETS.c.id == bindparam("pk_"))


@dataclass
class TickContext:
    """What one tick shares across its portfolios."""

    now: datetime
    settings: dict[str, Any]
    executor: OrderExecutor
    order_counters: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # Positions opened this tick, settled (marked at the last close, relative exits moved
    # to the fill) in the portfolio's closing transaction: (order id, last close, exit
    # anchor, reference price, the instrument's price decimals or None).
    opened: list[tuple[int, float, str, float, int | None]] = field(default_factory=list)
    # Warnings of an asset's marking (bars the broker could not load), for its outcome.
    warnings: dict[int, list[str]] = field(default_factory=dict)
    # Portfolio-wide problems (allocator failed or over-allocated), for the report.
    failures: list[PortfolioFailure] = field(default_factory=list)
    # Marks of the portfolio's assets whose broker reported no fill, written together
    # in the transaction that reads the portfolio's equity (see Engine._mark).
    marks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def timeout(self) -> float:
        """Seconds a plugin call may take."""
        return float(self.settings["plugin_timeout_seconds"])

    def next_client_order_id(self, asset_id: int) -> str:
        """Return the next deterministic client id of ``asset_id`` in this tick."""
        self.order_counters[asset_id] += 1
        return client_order_id(asset_id, self.now, self.order_counters[asset_id])


@dataclass(frozen=True)
class ReconcileChange:
    """One order whose status reconciliation changed."""

    order_id: int
    client_order_id: str
    before: str
    after: str


class Engine:
    """Runs ticks for one app; one engine per process (or per thread in tests)."""

    def __init__(self, app: Flask, *, plugins: PluginSource | None = None,
                 clock: Clock = system_clock) -> None:
        self.app = app
        self.plugins = plugins or RegistryPluginSource(app)
        self.clock = clock
        self.caller = PluginCaller(app)
        # Older bars for the broker's protective checks load here (see BarsHistory):
        # ``mark`` runs in the caller's worker, which cannot wait on itself.
        self.history_caller: PluginCaller | None = None
        # Set by a stopping server (SIGTERM): the tick finishes the portfolio it steps and
        # claims no other; those stay due for the next leader (issue 16).
        self.stopping = threading.Event()
        # With a Celery broker configured, claimed portfolios are stepped by workers
        # (lts.trading.fanout); None steps them here, as without Celery.
        self.dispatch: PortfolioDispatch | None = dispatcher_for(app, self.stopping)

    @property
    def session(self) -> Session:
        """The engine's session: the current app context's."""
        return db.session()

    def close(self) -> None:
        """Stop the plugin worker threads."""
        self.caller.close()
        if self.history_caller is not None:
            self.history_caller.close()
            self.history_caller = None

    # --------------------------------------------------------------------- tick

    def tick(self, now: datetime | None = None, *,
             portfolio_ids: Collection[int] | None = None) -> TickReport:
        """Run every due portfolio once; return what happened to each asset.

        ``portfolio_ids`` limits the tick to those portfolios (a user's "run now"): the
        others wait for the loop, and the run is not counted as a loop tick.
        """
        with shared_cpu(self.caller):
            return self._tick(now or self.clock(), portfolio_ids)

    def _tick(self, now: datetime, portfolio_ids: Collection[int] | None = None
              ) -> TickReport:
        """The tick itself (see :meth:`tick`)."""
        started = time.perf_counter()
        context = self._context(now)
        self.reconcile(now, timeout=context.timeout, portfolio_ids=portfolio_ids)
        portfolios_run: list[int] = []
        outcomes: list[AssetOutcome] = []
        # Loop ticks fan out; a user's "run now" (scoped) steps here, never waiting on workers.
        dispatch = self.dispatch if portfolio_ids is None else None
        schedule = self._due_portfolios(now, _slack(context.settings), portfolio_ids)
        try:
            for due in schedule:
                if not due.due:
                    continue
                if self.stopping.is_set():
                    log.info("stopping: portfolio %s and later ones left to the next tick",
                             due.id)
                    break
                if not self._claim(due.id, due.last_execution, now):
                    continue  # another engine took it for this interval
                portfolios_run.append(due.id)
                if dispatch is None:
                    outcomes.extend(self._guarded_portfolio(context, due.id))
        finally:
            context.executor.close()
        recorded = len(outcomes)  # a worker records the decisions of the steps it ran
        steps: tuple[StepTiming, ...] = ()
        if dispatch is not None and portfolios_run:
            remote, failures, steps = dispatch(now, portfolios_run)
            outcomes.extend(remote)
            context.failures.extend(failures)
        elapsed = time.perf_counter() - started
        with write_transaction(self.session):
            record_decisions(self.session, outcomes[:recorded], now)
            if portfolio_ids is None:
                statistics.record(self.session, [(statistics.tick_seconds_key(), elapsed)],
                                  now)
        return TickReport(started_at=now, finished_at=now + timedelta(seconds=elapsed),
                          portfolios_run=tuple(portfolios_run), outcomes=tuple(outcomes),
                          portfolio_failures=tuple(context.failures),
                          waiting=tuple(d for d in schedule if not d.due),
                          steps=steps)

    def _context(self, now: datetime) -> TickContext:
        """The settings and order executor one tick (or one fanned-out step) shares."""
        settings = effective_settings(TICK_SETTING_KEYS, self.session)
        return TickContext(now=now, settings=settings, executor=OrderExecutor(
            self.session, self.caller, RiskLimits.from_settings(settings),
            float(settings["plugin_timeout_seconds"])))

    def step_portfolio(self, now: datetime, portfolio_id: int
                       ) -> tuple[list[AssetOutcome], list[PortfolioFailure]]:
        """Run one portfolio already claimed for the tick at ``now`` (a Celery worker's step).

        The same step as the in-process tick, with the tick's time (so the same
        deterministic client order ids); the caller checked the claim. The decisions are
        recorded here, where the step ran.
        """
        with shared_cpu(self.caller):
            context = self._context(now)
            try:
                outcomes = self._guarded_portfolio(context, portfolio_id)
            finally:
                context.executor.close()
            with write_transaction(self.session):
                record_decisions(self.session, outcomes, now)
            return outcomes, list(context.failures)

    def portfolios(self, now: datetime, portfolio_ids: Collection[int] | None = None
                   ) -> tuple[PortfolioDue, ...]:
        """Every portfolio a tick at ``now`` looks at, and whether it would run it."""
        settings = effective_settings(("global_latency",), self.session)
        return tuple(self._due_portfolios(now, _slack(settings), portfolio_ids))

    def _due_portfolios(self, now: datetime, slack: timedelta = timedelta(0),
                        portfolio_ids: Collection[int] | None = None) -> list[PortfolioDue]:
        """Active portfolios of active users, each with whether it is due at ``now``.

        Halted portfolios are due too: their positions are still marked and their stops
        and targets checked (SPEC 2a "Protection never lapses"); the strategy is not.
        """
        statement = (
            select(Portfolio.id, Portfolio.name, Portfolio.last_execution,
                   Portfolio.portfolio_latency)
            .join(User, User.id == Portfolio.user_id)
            .where(User.is_active.is_(True), Portfolio.is_active.is_(True))
            .order_by(Portfolio.id))
        if portfolio_ids is not None:
            statement = statement.where(Portfolio.id.in_(list(portfolio_ids)))
        rows = self.session.execute(statement).all()
        self.session.commit()
        schedule = []
        # Seconds per latency minute: 60, except in system tests (latency_unit_seconds).
        unit = float(self.app.config["LTS"].get("latency_unit_seconds", 60.0))
        for pid, name, last, latency in rows:
            due_at = now if last is None else last + timedelta(seconds=latency * unit) - slack
            schedule.append(PortfolioDue(id=pid, name=name, due=due_at <= now,
                                         next_due_at=due_at, last_execution=last))
        return schedule

    def _claim(self, portfolio_id: int, observed: datetime | None, now: datetime) -> bool:
        """Set ``last_execution`` if nobody changed it since we read it (compare-and-set)."""
        condition = (_PORTFOLIOS.c.last_execution.is_(None) if observed is None
                     else _PORTFOLIOS.c.last_execution == observed)
        with write_transaction(self.session):
            # A Core UPDATE of the table: nothing in the session needs synchronising.
            result = self.session.connection().execute(
                update(_PORTFOLIOS).where(_PORTFOLIOS.c.id == portfolio_id, condition,
                                          _PORTFOLIOS.c.is_active.is_(True))
                .values(last_execution=now, updated_at=_PORTFOLIOS.c.updated_at))
        return result.rowcount == 1  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- portfolio

    def _guarded_portfolio(self, context: TickContext, portfolio_id: int
                           ) -> list[AssetOutcome]:
        """Run one portfolio; an unexpected error stops it, never the other portfolios."""
        try:
            with log_context(portfolio_id=portfolio_id):
                return self._run_portfolio(context, portfolio_id)
        except Exception as exc:
            self.session.rollback()
            context.marks.clear()
            context.opened.clear()
            context.executor.discard_deferred()
            log.exception("portfolio %s failed", portfolio_id)
            summary = traceback_summary(exc)
            context.failures.append(PortfolioFailure(portfolio_id, "portfolio_failed",
                                                     "engine", summary))
            with write_transaction(self.session):
                audit(self.session, "trading.portfolio_failed", f"portfolio:{portfolio_id}",
                      context.now, outcome="error", plugin="engine", error=summary)
            return []

    def _run_portfolio(self, context: TickContext, portfolio_id: int) -> list[AssetOutcome]:
        """Mark every asset, allocate the equity that leaves, decide, then check the limits.

        Marking (and the broker's protective fills) comes first for every asset, so the
        allocation splits the equity as it stands now (SPEC 2a). Deactivated assets still
        holding a position run too, reduce-only, and so do halted and reducing
        portfolios: protection never lapses.
        """
        session = self.session
        # Core rows, not ORM objects: nothing here is written back through them, and
        # plain rows neither expire at each commit below nor get reloaded afterwards.
        portfolio = session.execute(_PORTFOLIO_ROW, {"pid": portfolio_id}).first()
        assert portfolio is not None
        assets = session.execute(_PORTFOLIO_ASSETS, {"pid": portfolio_id}).all()
        inactive = [a.id for a in assets if not a.is_active]
        holding = set(open_positions(session, inactive)) if inactive else set()
        stepped = [a for a in assets if a.is_active or a.id in holding]
        outcomes: dict[int, AssetOutcome] = {}
        units: list[AssetUnit] = []
        for asset in stepped:
            if asset.paused_reason:  # credentials refused: no call until fixed or resumed
                outcomes[asset.id] = AssetOutcome(
                    asset_id=asset.id, ok=True, decision=Decision.hold(
                        f"paused: {asset.paused_reason}"),
                    warnings=(f"asset paused since {asset.paused_at}: save new "
                              f"credentials or resume it",))
                continue
            try:
                unit = build_unit(self.plugins, asset)
            except PluginCallError as exc:
                outcomes[asset.id] = self._fail(asset.id, portfolio_id, exc, context.now)
                continue
            units.append(unit if asset.is_active else unit.as_reduce_only())
        ensure_no_transaction(session)

        snapshots: dict[int, MarketSnapshot] = {}
        # One hand-off to the plugin worker per phase (snapshots, marks, decisions), each
        # call still under its own timeout (PluginCaller.call_many).
        answers = self._call_many(context, [
            (unit.pipeline, "snapshot", unit.pipeline.snapshot, (unit.info, context.now))
            for unit in units])
        for unit, answer in zip(units, answers, strict=True):
            if answer.error is not None:
                outcomes[unit.info.id] = self._fail(unit.info.id, portfolio_id, answer.error,
                                                    context.now)
            else:
                snapshots[unit.info.id] = answer.value
        audit_forecast_fallbacks(self.session, snapshots, portfolio_id, context.now)
        # One read for every asset's open positions; each asset's step re-checks in its
        # own write transactions (marks update open rows only, closes re-read the row).
        held = open_positions(session, [a.id for a in stepped])
        ensure_no_transaction(session)
        positions = {asset_id: [info for info, _ in rows] for asset_id, rows in held.items()}
        marking = [u for u in units if u.info.id not in outcomes]
        histories = [BarsHistory(self.app, session, u.pipeline, u.info, context.now,
                                 context.timeout / 2, caller=self._history_caller())
                     for u in marking]
        answers = self._mark_answers(context, [
            (u, (u.info, h.attach(snapshots[u.info.id]),
                 [info for info, _ in held.get(u.info.id, [])]))
            for u, h in zip(marking, histories, strict=True)])
        for unit, history, answer in zip(marking, histories, answers, strict=True):
            marked = self._guarded(context, unit, self._mark, context, unit,
                                   snapshots[unit.info.id], held.get(unit.info.id, []),
                                   answer, history)
            if isinstance(marked, AssetOutcome):
                outcomes[unit.info.id] = marked
            else:
                positions[unit.info.id] = marked
        reporting = units if not any(u.info.id in outcomes for u in units) else []
        accounts = self._broker_accounts(context, reporting)
        equity, risk_state, tripped, own_equity = self._equity_and_state(
            context, portfolio, accounts)
        allocated = [u for u in units if u.info.id not in outcomes and not u.reduce_only]
        leverages = {u.info.id: u.leverage for u in units}
        held = held_margin(positions, assets, {u.info.id for u in allocated}, leverages)
        allocatable = max(0.0, equity - held)
        if accounts is not None:  # the broker may lower it, never raise it
            allocatable = reported_allocatable(
                accounts, max(0.0, own_equity - held), held,
                held_margin(positions, assets, set(), leverages) - held)
        allocation = self._allocate(
            context, portfolio_info(portfolio, equity=equity, allocatable=allocatable),
            portfolio.portfolio_plugin, dict(portfolio.portfolio_config or {}), allocated,
            snapshots, assets)
        units = [u.with_allocation(allocation.get(u.info.id, 0.0)) for u in units]
        deciding = [u for u in units if u.info.id not in outcomes]
        # Every strategy is asked before any order is placed: no asset's decision reads
        # another's orders (each sees its own position and its allocation, fixed above).
        decided = dict(zip((u.info.id for u in deciding), self._call_many(context, [
            (u.strategy, "decide", u.strategy.decide,
             (snapshots[u.info.id], (positions.get(u.info.id) or [None])[0],
              u.info.allocated_capital))
            for u in deciding]), strict=True)) if risk_state != "halted" else {}
        for unit in deciding:
            outcome = self._guarded(context, unit, self._decide, context, unit,
                                    snapshots[unit.info.id], positions.get(unit.info.id, []),
                                    risk_state, decided.get(unit.info.id))
            assert isinstance(outcome, AssetOutcome)
            outcomes[unit.info.id] = outcome
        self._finish_portfolio(context, portfolio_id, units, snapshots, tripped=tripped,
                               reporting=reporting if accounts is not None else [])
        return [outcomes[a.id] for a in assets if a.id in outcomes]

    def _broker_accounts(self, context: TickContext, units: list[AssetUnit]
                         ) -> tuple[BrokerAccount, ...] | None:
        """The brokers' own accounts when every asset's broker reports one, else None.

        See :mod:`lts.trading.broker_accounts`. ``units`` is empty when an asset's step
        failed before (its account is unknown), and a broker that cannot answer this
        tick leaves LTS's own books in charge too (logged): a missing account would
        understate the equity and could trip the kill switch on a figure that is wrong.
        """
        if not units or not all(reports_account(u.broker) for u in units):
            return None
        accounts = []
        for unit in units:
            try:
                account = self._call(context, unit.broker, "account", unit.broker.account,
                                     unit.info)
            except PluginCallError as exc:
                log.warning("asset %s: broker account not read, LTS's books count: %s",
                            unit.info.id, exc)
                return None
            if not isinstance(account, BrokerAccount):
                return None
            accounts.append(account)
        return tuple(accounts)

    def _equity_and_state(self, context: TickContext, portfolio: Any,
                          accounts: tuple[BrokerAccount, ...] | None = None
                          ) -> tuple[float, str, bool, float]:
        """Equity after this tick's marks, the risk state, whether it tripped, own equity.

        Equity at or below zero halts the portfolio now, before any strategy is asked
        (SPEC 2a). ``accounts``: the brokers' own figures, which are then the equity;
        the last item is always LTS's own (capital plus P&L in its books).
        """
        state = portfolio.risk_state
        tripped = False
        # The tick's write connection: a session read and commit cost several times more.
        # The marks of every asset without fills are written here, in the transaction
        # that reads the equity they make: one transaction per portfolio, not per asset.
        with context.executor.transaction() as connection:
            lock_portfolio(connection, portfolio.id)
            write_marks(connection, context.marks)
            context.marks.clear()
            books = SqlBooks(connection)
            realized, unrealized, _ = books.portfolio_pnl(portfolio.id)
            own = equity = portfolio.total_capital + realized + unrealized
            if accounts is not None:
                equity = reported_equity(accounts)
            if equity <= 0 and state != "halted":
                tripped = books.halt(portfolio.id, context.now, trigger="equity",
                                     equity=equity)
                state = "halted"
        return equity, state, tripped, own

    def _allocate(self, context: TickContext, pinfo: PortfolioInfo, name: str,
                  config: dict[str, Any], units: list[AssetUnit],
                  snapshots: dict[int, MarketSnapshot], assets: list[Any]) -> dict[int, float]:
        """Split ``pinfo.allocatable`` among ``units`` and store it; every other asset gets 0.

        The answer is scaled down to the allocatable equity when it sums to more (a
        plugin written against ``total_capital``). When the plugin fails, the stored
        allocations are kept but scaled down the same way: never stale above the equity.
        """
        limit = pinfo.capital
        ids = [u.info.id for u in units]
        try:
            raw = self._ask_allocator(context, pinfo, name, config, units, snapshots, ids)
            asked = sum(raw.values())
            if asked > limit + max(abs(limit), 1.0) * _EPSILON:
                context.failures.append(PortfolioFailure(
                    pinfo.id, "over_allocated", name,
                    f"allocated {asked:.2f}, more than the allocatable {limit:.2f}: "
                    f"scaled down"))
            allocation = capped(raw, limit)
        except (PluginCallError, ValueError) as exc:
            summary = exc.summary if isinstance(exc, PluginCallError) else str(exc)
            log.warning("portfolio %s: allocation failed: %s", pinfo.id, summary)
            context.failures.append(PortfolioFailure(pinfo.id, "allocation_failed", name,
                                                     summary))
            with write_transaction(self.session):
                audit(self.session, "trading.portfolio_failed", f"portfolio:{pinfo.id}",
                      context.now, outcome="error", plugin=name, error=summary)
            allocation = capped({u.info.id: u.info.allocated_capital for u in units}, limit)
        stored = {a.id: a.allocated_capital for a in assets}
        final = {asset_id: allocation.get(asset_id, 0.0) for asset_id in stored}
        changed = [{"pk_": asset_id, "allocated_capital": value}
                   for asset_id, value in final.items()
                   if abs(stored[asset_id] - value) > 1e-12]
        # Written at the start of the portfolio's next write transaction: the first
        # order's placing (whose risk check reads them) or the closing statistics. No
        # transaction of its own: equity moves every tick, so this changes every tick.
        context.executor.defer(_SET_ALLOCATION, changed)
        return final

    def _ask_allocator(self, context: TickContext, pinfo: PortfolioInfo, name: str,
                       config: dict[str, Any], units: list[AssetUnit],
                       snapshots: dict[int, MarketSnapshot], ids: list[int]
                       ) -> dict[int, float]:
        """The portfolio plugin's answer, checked; PluginCallError/ValueError when unusable."""
        try:
            allocator: PortfolioPlugin = self.plugins.get(  # type: ignore[assignment]
                "portfolio", name, config)
        except Exception as exc:
            raise PluginCallError("portfolio", name, "load", traceback_summary(exc)) from exc
        raw = self._call(context, allocator, "allocate", allocator.allocate, pinfo,
                         [u.info for u in units], snapshots)
        return validate_allocation(raw, ids)

    def _finish_portfolio(self, context: TickContext, portfolio_id: int,
                          units: list[AssetUnit], snapshots: dict[int, MarketSnapshot],
                          *, tripped: bool = False,
                          reporting: list[AssetUnit] | None = None) -> None:
        """Statistics, and the kill switch: equity <= 0 or the drawdown limit halts.

        Equity at or below zero halts whatever ``max_drawdown_pct`` says (SPEC 2a);
        flattening follows either trip only if configured.
        """
        now = context.now
        # The brokers' figures after this tick's orders (their fills moved the NAV).
        accounts = self._broker_accounts(context, reporting or [])
        # Core statements on the tick's write connection: the ORM refresh of the
        # (expired) portfolio row and the ORM bulk insert cost ~0.5 ms per portfolio.
        with context.executor.transaction() as connection:
            lock_portfolio(connection, portfolio_id)
            books = SqlBooks(connection)
            books.settle_opened_many(context.opened, now)  # one read for all
            context.opened.clear()
            capital, max_drawdown_pct, risk_state, capital_changed_at = connection.execute(
                _PORTFOLIO_LIMITS, {"pid": portfolio_id}).one()
            realized, unrealized, per_asset = books.portfolio_pnl(portfolio_id)
            equity = capital + realized + unrealized
            if accounts is not None:
                equity = reported_equity(accounts)
            if equity <= 0 and risk_state != "halted":
                tripped = books.halt(portfolio_id, now, trigger="equity",
                                     equity=equity) or tripped
            elif max_drawdown_pct is not None and risk_state != "halted":
                peak = statistics.peak_equity(connection, portfolio_id, capital,
                                              since=capital_changed_at)
                drawdown = (peak - equity) / peak * 100 if peak > 0 else 0.0
                if drawdown >= max_drawdown_pct - _EPSILON:
                    tripped = books.halt(portfolio_id, now, trigger="max_drawdown_pct",
                                         drawdown_pct=drawdown, limit_pct=max_drawdown_pct,
                                         equity=equity, peak=peak) or tripped
            samples = [(statistics.equity_key(portfolio_id), equity),
                       (statistics.realized_key(portfolio_id), realized)]
            samples += [(statistics.unrealized_key(u.info.id), per_asset.get(u.info.id, 0.0))
                        for u in units]
            statistics.record(connection, samples, now)
        if tripped and context.settings["flatten_on_kill"]:
            self.flatten(context, units, snapshots)

    def flatten(self, context: TickContext, units: list[AssetUnit],
                snapshots: dict[int, MarketSnapshot]) -> None:
        """Close every open position of ``units`` with orders that pass the kill switch."""
        for unit in units:
            positions = self.session.scalars(select(Position).where(
                Position.asset_id == unit.info.id, Position.status == "open")).all()
            infos = [position_info(p) for p in positions]
            ensure_no_transaction(self.session)
            snapshot = snapshots.get(unit.info.id)
            for info in infos:
                price = info.current_price or info.entry_price
                intent = _closing_intent(unit.info.id, info, price, "kill switch: flatten",
                                         source="risk", flatten=True)
                context.executor.place(intent, context.next_client_order_id(unit.info.id),
                                       unit.info, unit.broker, snapshot, context.now,
                                       leverage=unit.leverage)

    # -------------------------------------------------------------------- asset

    def _guarded(self, context: TickContext, unit: AssetUnit, step: Callable[..., T],
                 *args: Any) -> T | AssetOutcome:
        """Run one step of an asset; any failure is recorded against that asset only."""
        try:
            return step(*args)
        except PluginCallError as exc:
            return self._fail(unit.info.id, unit.info.portfolio_id, exc, context.now)
        except Exception as exc:
            self.session.rollback()
            log.exception("asset %s step failed", unit.info.id)
            error = PluginCallError("engine", "engine", "step", traceback_summary(exc))
            return self._fail(unit.info.id, unit.info.portfolio_id, error, context.now)

    def _decide(self, context: TickContext, unit: AssetUnit, snapshot: MarketSnapshot,
                infos: list[PositionInfo], risk_state: str,
                decided: CallResult | None = None) -> AssetOutcome:
        """Ask the strategy, size and place its orders (the asset is already marked).

        A halted portfolio's strategy is not asked (nothing it says could be placed:
        SPEC 2a lets no strategy order through); a reducing portfolio's or a reduce-only
        asset's strategy may close, and an "open" becomes a hold that says why.
        """
        asset_id = unit.info.id
        warnings = context.warnings.pop(asset_id, [])
        # ``decided``: the strategy's answer, already asked in the portfolio's batch.
        call = functools.partial(self._call, context) if decided is None else \
            lambda *_: decided.get()
        decision, intents, more = strategy_orders(
            unit, snapshot, infos, risk_state, context.now, call)
        warnings += more
        order_ids = place_intents(
            intents, decision, snapshot, lambda intent: context.executor.place(
                intent, context.next_client_order_id(asset_id), unit.info, unit.broker,
                snapshot, context.now, leverage=unit.leverage), context.opened)
        return AssetOutcome(asset_id=asset_id, ok=True, decision=decision,
                            order_ids=tuple(order_ids), warnings=tuple(warnings))

    def _mark(self, context: TickContext, unit: AssetUnit, snapshot: MarketSnapshot,
              held: list[tuple[PositionInfo, float]], answer: CallResult,
              history: BarsHistory) -> list[PositionInfo]:
        """Book the broker's protective fills, mark what stays open; the open positions.

        ``answer``: the broker's ``mark`` (asked in the portfolio's batch, the snapshot's
        ``history`` being ``history``: bars older than the window it could not load are
        audited here, also when ``mark`` failed).
        """
        asset_id = unit.info.id
        infos = [info for info, _ in held]
        with history:
            fills = answer.get()
        context.warnings[asset_id] = list(history.warnings)
        if fills:
            with context.executor.transaction() as connection:
                books = SqlBooks(connection)
                for fill in fills:
                    book_mark_fill(books, asset_id, fill, context.now, functools.partial(
                        context.executor.plugin_versions, connection, asset_id))
                books.write()
                return books.mark(asset_id, snapshot.last_price, context.now)
        if held:
            # Written with the portfolio's equity read (Engine._equity_and_state), before
            # any strategy is asked: a crash before that leaves last tick's marks, which
            # the next tick replaces; no fill or order depends on them.
            context.marks.extend(mark_params(held, snapshot.last_price, context.now))
            return [replace(info, current_price=snapshot.last_price) for info in infos]
        return infos

    def _mark_answers(self, context: TickContext,
                      requests: list[tuple[AssetUnit, tuple[Any, ...]]]) -> list[CallResult]:
        """The brokers' ``mark`` of a portfolio's assets, one answer per request, in order.

        A broker overriding :meth:`BrokerPlugin.mark_many` (the paper broker: one read of
        its book for all) gets one call per instance and chunk of at most
        :data:`MARK_CHUNK` assets, under ``plugin_timeout_seconds`` times the chunk's
        size (what the same calls one by one may take at most); the others get a
        ``mark`` call per asset. An asset whose marking raised fails alone.
        """
        answers: list[CallResult | None] = [None] * len(requests)
        groups: dict[int, list[int]] = {}
        single: list[int] = []
        for index, (unit, _) in enumerate(requests):
            if type(unit.broker).mark_many is not BrokerPlugin.mark_many:
                groups.setdefault(id(unit.broker), []).append(index)
            else:
                single.append(index)
        chunks = [indexes[start:start + MARK_CHUNK] for indexes in groups.values()
                  for start in range(0, len(indexes), MARK_CHUNK)]
        if chunks:
            size = max(len(chunk) for chunk in chunks)
            batched = self._call_many(context, [
                (requests[chunk[0]][0].broker, "mark", requests[chunk[0]][0].broker.mark_many,
                 ([requests[index][1] for index in chunk],))
                for chunk in chunks], timeout=context.timeout * size)
            for chunk, result in zip(chunks, batched, strict=True):
                broker = requests[chunk[0]][0].broker
                values = result.value if result.error is None else None
                if result.error is None and (not isinstance(values, list)
                                             or len(values) != len(chunk)):
                    result = CallResult(error=PluginCallError(
                        broker.kind, broker.name, "mark",
                        f"mark_many answered {type(values).__name__} for {len(chunk)} assets"))
                for position, index in enumerate(chunk):
                    if result.error is not None:
                        answers[index] = result
                        continue
                    value = values[position]  # type: ignore[index]
                    if isinstance(value, Exception):
                        error = PluginCallError(broker.kind, broker.name, "mark",
                                                traceback_summary(value))
                        error.__cause__ = value
                        answers[index] = CallResult(error=error)
                    else:
                        answers[index] = CallResult(value)
        if single:
            for index, result in zip(single, self._call_many(context, [
                    (requests[i][0].broker, "mark", requests[i][0].broker.mark, requests[i][1])
                    for i in single]), strict=True):
                answers[index] = result
        return [answer for answer in answers if answer is not None]

    def _call(self, context: TickContext, plugin: Any, method: str, func: Callable[..., T],
              *args: Any) -> T:
        """Call a plugin method through the timeout guard."""
        return self.caller.call(plugin.kind, plugin.name, method, func, *args,
                                timeout=context.timeout)

    def _call_many(self, context: TickContext,
                   calls: list[tuple[Any, str, Callable[..., Any], tuple[Any, ...]]],
                   timeout: float | None = None) -> list[CallResult]:
        """``(plugin, method, func, args)`` calls in one batch, each under the timeout.

        ``timeout``: each call's, when not the tick's ``plugin_timeout_seconds``.
        """
        if not calls:
            return []
        ensure_no_transaction(self.session)  # no transaction open during plugin calls
        many = getattr(self.caller, "call_many", None)
        if many is not None:
            return many([(plugin.kind, plugin.name, method, func, args)  # type: ignore[no-any-return]
                         for plugin, method, func, args in calls],
                        timeout=context.timeout if timeout is None else timeout)
        # A caller without batches (a backtest's inline DirectCaller): one call at a time.
        results = []
        for plugin, method, func, args in calls:
            try:
                results.append(CallResult(self._call(context, plugin, method, func, *args)))
            except PluginCallError as exc:
                results.append(CallResult(error=exc))
        return results

    def _history_caller(self) -> PluginCaller:
        """The worker that loads older bars for ``mark`` (reused: no thread per asset)."""
        if self.history_caller is None:
            self.history_caller = PluginCaller(self.app)
        return self.history_caller

    def _fail(self, asset_id: int, portfolio_id: int, error: PluginCallError,
              now: datetime) -> AssetOutcome:
        """Audit a failed asset step and return its outcome."""
        log.warning("asset %s: %s", asset_id, error)
        if self.session.in_transaction():
            self.session.rollback()
        with write_transaction(self.session):
            audit(self.session, "trading.asset_failed", f"asset:{asset_id}", now,
                  outcome="error", portfolio_id=portfolio_id, kind=error.kind,
                  plugin=error.name, method=error.method, error=error.summary,
                  timed_out=error.timed_out)
            refused = error.__cause__
            if isinstance(refused, CredentialsRefused):
                reason = f"{error.kind} plugin '{error.name}': {refused}"[:500]
                paused = self.session.execute(_PAUSE, {"pid": asset_id, "reason": reason,
                                                       "now": now})
                if paused.rowcount == 1:  # type: ignore[attr-defined]
                    audit(self.session, "asset.paused", f"asset:{asset_id}", now,
                          outcome="error", portfolio_id=portfolio_id, reason=reason)
        return AssetOutcome(asset_id=asset_id, ok=False, error=str(error))

    # ----------------------------------------------------------- reconciliation

    def start_up(self, now: datetime | None = None, *,
                 portfolio_ids: Collection[int] | None = None) -> list[ReconcileChange]:
        """Reconcile orders left live by a previous run or a dead process.

        The same in-flight rule as every reconciliation (:meth:`reconcile`): a start-up
        or a lease takeover while other processes place orders touches none of theirs
        that may still be in flight.
        """
        settings = effective_settings(("plugin_timeout_seconds",), self.session)
        return self.reconcile(now or self.clock(),
                              timeout=float(settings["plugin_timeout_seconds"]),
                              portfolio_ids=portfolio_ids)

    def reconcile(self, now: datetime, *, timeout: float = 10.0,
                  portfolio_ids: Collection[int] | None = None) -> list[ReconcileChange]:
        """Look up live orders by ``client_order_id`` and book what the broker says.

        Only orders whose placing call is no longer in flight are settled (SPEC 2a):
        a ``pending`` one in flight is not looked up at all, and an ``unknown`` one
        (its call timed out, and may still reach the broker) is booked from a found
        answer but never declared "never sent". ``portfolio_ids``: only orders of those
        portfolios (a user's "run now" touches nobody else's orders).
        """
        session = self.session
        statement = (select(Order.id, Order.client_order_id, Order.status, Order.created_at,
                            Order.asset_id, Order.placed_by)
                     .where(Order.status.in_(OPEN_STATUSES)).order_by(Order.id))
        if portfolio_ids is not None:
            statement = statement.join(Asset, Asset.id == Order.asset_id).where(
                Asset.portfolio_id.in_(list(portfolio_ids)))
        rows = session.execute(statement).all()
        in_flight = _InFlightRule(now, placing_window(timeout), lost_claims(
            session, {r.placed_by for r in rows
                      if r.placed_by and r.status in ("pending", "unknown")}, now))
        todo = [r for r in rows if not (r.status == "pending" and in_flight(r))]
        changes: list[ReconcileChange] = []
        units: dict[int, AssetUnit | None] = {}
        for row in todo:
            if row.asset_id not in units:
                asset = session.get(Asset, row.asset_id)
                try:
                    units[row.asset_id] = build_unit(self.plugins, asset) if asset else None
                except PluginCallError as exc:
                    log.warning("cannot reconcile asset %s: %s", row.asset_id, exc)
                    units[row.asset_id] = None
            unit = units[row.asset_id]
            if unit is None:
                continue
            ensure_no_transaction(session)
            try:
                result = self.caller.call("broker", unit.broker.name, "lookup",
                                          unit.broker.lookup, unit.info, row.client_order_id,
                                          timeout=timeout)
            except PluginCallError as exc:
                log.warning("lookup of %s failed: %s", row.client_order_id, exc)
                continue
            if result.status == "not_found" and in_flight(row):
                continue  # not at the broker *yet*: its placing call may still get there
            change = retry_unit(lambda row=row, result=result: self._book_lookup(row, result,
                                                                                 now),
                                what="booking a reconciliation")
            if change is not None:
                changes.append(change)
        ensure_no_transaction(session)
        return changes

    def _book_lookup(self, row: Any, result: Any, now: datetime) -> ReconcileChange | None:
        """Book one lookup's answer in one transaction; None when nothing changed."""
        session = self.session
        with write_transaction(session):
            books = SqlBooks(session.connection())
            order = books.load_order(row.id)  # FOR UPDATE off SQLite
            before = order.status
            if before != row.status:
                return None  # someone else moved it meanwhile
            apply_broker_result(books, order, result, now)
            # Written whatever the status: more fills of a partially filled order, or the
            # broker's id and response, change nothing of the status but must be kept.
            changed = order.status != before
            if changed:
                books.add_audit(audit_values(
                    "order.reconciled", f"order:{order.id}", now,
                    client_order_id=order.client_order_id, before=before, after=order.status))
            books.write()
            if not changed:
                return None
            return ReconcileChange(order.id, order.client_order_id, before, order.status)


@dataclass(frozen=True)
class _InFlightRule:
    """Whether an order's placing call may still be in flight (SPEC 2a).

    In flight: this process is placing it right now; or it is younger than the broker
    timeout plus a margin and was placed by another process that has not lost its
    claim. An order this process placed and no longer lists was answered (or its
    caller died): it is not in flight, whatever its age.
    """

    now: datetime
    window: timedelta
    lost: set[str]

    def __call__(self, row: Any) -> bool:
        """Apply the rule to a row with ``id``, ``status``, ``created_at``, ``placed_by``."""
        if placing_here(row.id):
            return True
        if row.created_at <= self.now - self.window or row.placed_by in self.lost:
            return False
        return not (row.status == "pending" and row.placed_by == process_holder_id())


def _slack(settings: dict[str, Any]) -> timedelta:
    """Half a tick of slack on due times.

    A tick that fires a few ms early must not skip a portfolio for a whole interval;
    less than a tick, so none runs twice in one interval.
    """
    return timedelta(minutes=float(settings["global_latency"])) / 2


def validate_allocation(raw: Any, asset_ids: list[int]) -> dict[int, float]:
    """Check a portfolio plugin's answer: a dict of finite, non-negative amounts.

    Assets it leaves out get 0. Its sum is not checked here: the engine scales it down to
    the allocatable equity (:func:`lts.plugins.portfolio._common.capped`).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"allocate returned {type(raw).__name__}, not a dict")
    try:
        allocation = {asset_id: float(raw.get(asset_id, 0.0)) for asset_id in asset_ids}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"allocate returned a non-number: {exc}") from exc
    bad = [a for a, v in allocation.items() if not v >= 0 or v == float("inf")]
    if bad:
        raise ValueError(f"negative or non-finite allocation for assets {bad}")
    return allocation


def held_margin(held: dict[int, list[PositionInfo]], assets: list[Any],
                allocated: set[int], leverages: dict[int, float]) -> float:
    """Margin held by the open positions of assets not being allocated this tick.

    Margin is the position's cost (quantity x entry price) over its asset's leverage, as
    in the pre-trade margin check; ``leverages`` has the loaded brokers' figures, and an
    asset whose broker failed to load falls back to its stored config.
    """
    configs = {a.id: a.broker_config for a in assets}
    total = 0.0
    for asset_id, positions in held.items():
        if asset_id in allocated:
            continue
        leverage = leverages.get(asset_id) or config_leverage(configs.get(asset_id))
        total += sum(info.quantity * info.entry_price for info in positions) / leverage
    return total


def _closing_intent(asset_id: int, position: PositionInfo, price: float, reason: str, *,
                    source: str = "strategy", flatten: bool = False) -> OrderIntent:
    """Build the order that closes ``position`` at market."""
    return OrderIntent(asset_id=asset_id, side="sell" if position.side == "long" else "buy",
                       quantity=position.quantity, reference_price=price, reason=reason,
                       source=source, closes_position_id=position.id, flatten=flatten)


def decide_intents(decision: Decision, unit: AssetUnit, snapshot: MarketSnapshot,
                   positions: list[PositionInfo]) -> list[OrderIntent]:
    """Turn a decision into orders: close, open (sized per SPEC 2a), or reverse."""
    return plan_orders(decision, unit, snapshot, positions)[1]


def plan_orders(decision: Decision, unit: AssetUnit, snapshot: MarketSnapshot,
                positions: list[PositionInfo], no_opening: str | None = None
                ) -> tuple[Decision, list[OrderIntent]]:
    """The decision the engine acts on, and its orders: close, open, or reverse.

    An "open" that cannot be placed becomes a hold whose reason says why, so the
    decision record never claims an entry that was not tried: ``no_opening`` (reduce-only
    asset, reducing portfolio) refuses it, and an allocation too small for one lot sizes
    it to 0 (SPEC 2a: a hold, not an error).
    """
    asset_id = unit.info.id
    price = snapshot.last_price
    if decision.action == "hold":
        return decision, []
    if decision.action == "close":
        return decision, [_closing_intent(asset_id, p, price, decision.reason or "strategy close")
                          for p in positions]
    if decision.action != "open" or decision.side not in ("buy", "sell"):
        raise PluginCallError("strategy", unit.strategy.name, "decide",
                              f"invalid decision {decision.action!r} side {decision.side!r}")
    wanted = "long" if decision.side == "buy" else "short"
    if no_opening is not None:
        return Decision.hold(_because(f"{no_opening}: not opening {wanted}", decision)), []
    intents: list[OrderIntent] = []
    for position in positions:
        if position.side == wanted:
            return decision, []  # already holding it: one position per asset
        intents.append(_closing_intent(asset_id, position, price,
                                       decision.reason or "reverse"))
    order_price = decision.price if decision.order_type != "market" else None
    if order_price is not None and unit.instrument is not None:  # sized as it is sent
        order_price = round_price(order_price, unit.instrument.price_decimals)
    if decision.quantity is not None:
        quantity = round_to_step(decision.quantity, unit.lot_step)
    else:
        quantity = size_quantity(unit.info.allocated_capital, order_price or price,
                                 leverage=unit.leverage, lot_step=unit.lot_step)
    quantity, finer = fit_quantity(quantity, unit.instrument)  # the broker's decimals
    if quantity <= 0:
        why = finer or _too_small(unit, decision, order_price or price)
        if intents:  # the reversal closes; the new side cannot be opened
            return replace(decision, action="close", side=None,
                           reason=_because(f"closing only, {why}", decision)), intents
        return Decision.hold(_because(why, decision)), []
    intents.append(OrderIntent(
        asset_id=asset_id, side=decision.side, quantity=quantity, reference_price=price,
        order_type=decision.order_type, price=order_price, stop_loss=decision.stop_loss,
        take_profit=decision.take_profit, reason=decision.reason))
    return decision, intents


PluginCall = Callable[..., Any]


def strategy_orders(unit: AssetUnit, snapshot: MarketSnapshot, infos: list[PositionInfo],
                    risk_state: str, now: datetime, call: PluginCall
                    ) -> tuple[Decision, list[OrderIntent], list[str]]:
    """The strategy's decision for an asset already marked, its orders, and warnings.

    The one decision step of the live engine and of backtests (``call(plugin, method,
    func, *args)`` runs the plugin: through the timeout guard live, directly in a
    backtest). A halted portfolio's strategy is not asked (nothing it says could be
    placed: SPEC 2a lets no strategy order through); a reducing portfolio's or a
    reduce-only asset's strategy may close, and an "open" becomes a hold that says why.
    Stale data leaves only the closing orders: never new exposure on old prices.
    """
    if risk_state == "halted":
        return Decision.hold(HALTED_HOLD), [], []
    decision = call(unit.strategy, "decide", unit.strategy.decide, snapshot,
                    infos[0] if infos else None, unit.info.allocated_capital)
    if not isinstance(decision, Decision):
        raise PluginCallError("strategy", unit.strategy.name, "decide",
                              f"returned {type(decision).__name__}, not a Decision")
    no_opening = REDUCE_ONLY if unit.reduce_only else \
        REDUCING if risk_state == "reducing" else None
    decision, intents = plan_orders(decision, unit, snapshot, infos, no_opening)
    stale = stale_warning(snapshot, now, unit.info.max_data_age_minutes)
    if stale is None:
        return decision, intents, []
    return decision, [i for i in intents if i.closes_position_id is not None], [stale]


def place_intents(intents: list[OrderIntent], decision: Decision, snapshot: MarketSnapshot,
                  place: Callable[[OrderIntent], PlacedOrder],
                  opened: list[tuple[int, float, str, float, int | None]]) -> list[int]:
    """Place ``intents`` in order; the ids of the rows.

    Appended to ``opened`` as each is placed (an error on a later intent keeps them):
    (order id, last close, exit anchor, reference price, price decimals) of each filled
    opening order,
    settled (marked at the close, relative exits moved to the fill) when the
    portfolio's step ends (:meth:`Books.settle_opened`).
    """
    order_ids: list[int] = []
    for intent in intents:
        placed = place(intent)
        if placed.order_id is not None:
            order_ids.append(placed.order_id)
            if intent.closes_position_id is None and placed.status in (
                    "filled", "partially_filled"):
                opened.append((placed.order_id, snapshot.last_price, decision.exit_anchor,
                               intent.reference_price, placed.price_decimals))
    return order_ids


def _because(why: str, decision: Decision) -> str:
    """``why``, followed by the strategy's own reason when it gave one."""
    return f"{why} ({decision.reason})" if decision.reason else why


def _too_small(unit: AssetUnit, decision: Decision, price: float) -> str:
    """Why an entry sized to 0: the figures a user needs to see it."""
    if decision.quantity is not None:
        return (f"quantity {decision.quantity:g} is less than one lot of "
                f"{unit.lot_step:g}")
    allocation = unit.info.allocated_capital
    leverage = f" x leverage {unit.leverage:g}" if unit.leverage != 1 else ""
    lot = f" x lot {unit.lot_step:g}" if unit.lot_step != 1 else ""
    return (f"capital too small for one lot: allocation {allocation:.2f}{leverage} "
            f"< price {price:g}{lot}")


def book_mark_fill(books: Books, asset_id: int, fill: Fill, now: datetime,
                   plugin_versions: Callable[[], dict[str, Any] | None] = lambda: None
                   ) -> None:
    """Book a fill the broker reported while marking (stop loss, take profit, limit).

    A fill for a known order books on that order; a fill that closes a position with
    no order of ours (stop loss, take profit) gets an exit order of its own (its
    ``plugin_versions`` asked for only then). Nothing is durable until ``books.write()``.
    """
    order = books.order_by_client_id(fill.client_order_id) if fill.client_order_id else None
    if order is None:
        position = books.position(fill.position_id) if fill.position_id else None
        if position is None or position.status != "open" or position.asset_id != asset_id:
            log.warning("asset %s: ignoring fill %s for no open position", asset_id, fill)
            return
        reason = fill.reason or "broker exit"
        order = books.new_order(
            asset_id=asset_id, side="sell" if position.side == "long" else "buy",
            order_type={"stop_loss": "stop", "take_profit": "limit"}.get(reason, "market"),
            quantity=position.quantity, price=fill.price, status="submitted",
            client_order_id=fill.client_order_id or client_order_id(
                asset_id, now, f"{reason}-{position.id}"),
            reason=reason, source="risk", created_at=now, updated_at=now,
            plugin_versions=plugin_versions())
        position.close_order_id = order.id
        books.add_audit(audit_values("order.created", f"order:{order.id}", now,
                                     client_order_id=order.client_order_id, source="risk",
                                     reason=reason))
    if is_terminal(order.status) or order.filled_quantity + _EPSILON >= order.quantity:
        return  # already booked
    apply_fill(books, order, fill, now)
    if order.filled_quantity + _EPSILON >= order.quantity:
        order.filled_at = fill.time
        advance(books, order, "filled", now, fill.reason or None)
    else:
        advance(books, order, "partially_filled", now, fill.reason or None)
