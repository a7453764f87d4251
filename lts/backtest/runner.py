"""Run a backtest: the one seam between what a user asks and how bars are replayed.

:func:`run_backtest` takes a :class:`BacktestSpec` (the portfolio and its assets' plugin
settings, the range) and :class:`~lts.backtest.data.BarData`, replays every tick through
a :class:`Replay`, and builds the :class:`~lts.backtest.result.BacktestResult` from what
the replay returns (rows of orders, fills, trades and open positions). The equity and
every metric are computed from those rows and the bars, so they do not depend on how
the replay stores its books.

Two replays. :class:`~lts.backtest.memory.MemoryReplay` (the default of ``flask lts
backtest``) runs the engine's step functions on the storage port's ``MemoryBooks``, with
the paper broker's fill rules on an in-memory book: no database. :class:`EngineReplay`
is the live :class:`~lts.trading.engine.Engine` itself, on a throw-away Flask app with a
temporary SQLite file (never the live database), the assets on the ``csv`` pipeline
over the data folder and the ``paper`` broker, ticked at each bar's end with a
:class:`~lts.trading.clock.ManualClock`: as slow as the database makes it, kept as the
reference the one-engine test holds both to. Both enforce the same money-safety rules
(margin refusal, equity <= 0 halts, stops on every bar): the rules are the same code.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from flask import Flask
from sqlalchemy import select

from lts.backtest.data import BarData
from lts.backtest.result import BacktestResult, Replayed, build_result
from lts.errors import ValidationFailed

#: ``progress(done, total)`` after each tick; a CLI draws its bar from it.
Progress = Callable[[int, int], None]
#: The app factory (``lts.create_app``), passed in: this package sits below the entry.
AppFactory = Callable[..., Flask]
#: Not a hash of anything: no password matches it, nobody logs in to a backtest app.
_NO_PASSWORD = "!"  # noqa: S105


@dataclass(frozen=True)
class AssetSpec:
    """One asset of a backtest: its symbol and plugin settings (the broker is ``paper``)."""

    symbol: str
    strategy_plugin: str = "sma_cross"
    strategy_config: Mapping[str, Any] = field(default_factory=dict)
    broker_config: Mapping[str, Any] = field(default_factory=dict)
    lookback: int = 200
    file: str | None = None
    max_data_age_minutes: float | None = None


@dataclass(frozen=True)
class BacktestSpec:
    """What to replay: a portfolio's settings, its assets and the range [start, end)."""

    assets: tuple[AssetSpec, ...]
    start: datetime
    end: datetime
    capital: float = 10_000.0
    portfolio_plugin: str = "equal_weight"
    portfolio_config: Mapping[str, Any] = field(default_factory=dict)
    max_drawdown_pct: float | None = None
    name: str = "backtest"

    def parameters(self) -> dict[str, Any]:
        """The spec as JSON-ready data (stored with the report)."""
        return {"name": self.name, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "capital": self.capital, "portfolio_plugin": self.portfolio_plugin,
                "portfolio_config": dict(self.portfolio_config),
                "max_drawdown_pct": self.max_drawdown_pct,
                "assets": [{"symbol": a.symbol, "strategy_plugin": a.strategy_plugin,
                            "strategy_config": dict(a.strategy_config),
                            "broker_config": dict(a.broker_config), "lookback": a.lookback}
                           for a in self.assets]}


class Replay(Protocol):
    """Drives the engine through ``ticks`` and returns what it booked, as rows."""

    def __call__(self, spec: BacktestSpec, data: BarData, ticks: pd.DatetimeIndex,
                 progress: Progress | None) -> Replayed:
        """Replay every tick in order; never show a plugin a bar after the tick."""


def run_backtest(spec: BacktestSpec, data: BarData, replay: Replay, *,
                 progress: Progress | None = None) -> BacktestResult:
    """Replay ``data`` for ``spec`` through ``replay`` and build the result."""
    if not spec.assets:
        raise ValidationFailed("no assets", {"--portfolio": ["the portfolio has no assets"]})
    if spec.capital <= 0:
        raise ValidationFailed("no capital", {"capital": ["must be more than 0"]})
    ticks = data.ticks()
    if not len(ticks):
        raise ValidationFailed("empty range", {"--from": ["no bar in the range"]})
    replayed = replay(spec, data, ticks, progress)
    return build_result(replayed=replayed, bars=dict(data.bars), ticks=ticks,
                        period=data.period, capital=spec.capital, start=spec.start,
                        end=spec.end, gaps=data.gaps, parameters=spec.parameters())


class DirectCaller:
    """Plugin calls run inline in the replay's thread: no worker thread, no timeout.

    The live loop runs each plugin call on a worker thread with a timeout, so a hung
    plugin cannot stop the loop; a backtest has no wall clock to protect and the hand-off
    cost about a third of each tick. A plugin that raises still fails only its asset:
    the error is wrapped exactly as the live caller wraps it. Same interface as
    :class:`~lts.trading.plugin_calls.PluginCaller`.
    """

    def __init__(self) -> None:
        self.plugin_seconds = 0.0
        self.calls = 0

    def call(self, kind: str, name: str, method: str, func: Callable[..., Any],
             *args: Any, timeout: float) -> Any:
        """Run ``func(*args)``; raise PluginCallError when it raises."""
        from lts.trading.errors import PluginCallError
        from lts.trading.plugin_calls import traceback_summary

        started = time.perf_counter()
        self.calls += 1
        try:
            return func(*args)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise PluginCallError(kind, name, method, traceback_summary(exc)) from exc
        finally:
            self.plugin_seconds += time.perf_counter() - started

    def set_affinity(self, cpus: set[int]) -> None:
        """Nothing to pin: the calls run on the replay's own thread."""

    def close(self) -> None:
        """Nothing to stop."""


class EngineReplay:
    """Today's replay: the live engine on a throw-away SQLite app (see the module doc).

    ``prepare`` hooks are computed once over each symbol's series (warm-up included) and
    handed to the strategy instances the engine uses, so ``decide`` reads a row instead
    of recomputing its indicators on every tick.
    """

    def __init__(self, create_app: AppFactory, *, prepare: bool = True,
                 secret_key: str | None = None, direct_calls: bool = True) -> None:
        """``secret_key``: the live app's, so stored plugin secrets decrypt (else random).

        ``direct_calls`` False keeps the live loop's worker thread per plugin call.
        """
        self.create_app = create_app
        self.prepare = prepare
        self.direct_calls = direct_calls
        self.secret_key = secret_key
        self.seconds = 0.0

    def __call__(self, spec: BacktestSpec, data: BarData, ticks: pd.DatetimeIndex,
                 progress: Progress | None) -> Replayed:
        """Seed a temporary database, tick the engine at every bar end, read the books."""
        from flask_migrate import upgrade

        from lts.extensions import db
        from lts.trading.clock import ManualClock
        from lts.trading.engine import Engine
        from lts.trading.plugin_source import RegistryPluginSource

        with tempfile.TemporaryDirectory(prefix="lts-backtest-") as folder:
            app = self.create_app({
                "database_url": f"sqlite:///{folder}/backtest.db",
                "secret_key": self.secret_key or secrets.token_hex(16), "loop_enabled": False,
                "log_level": "ERROR", "data_dir": str(Path(data.data_dir).resolve())},
                instance_path=Path(folder) / "instance")
            with app.app_context():
                logging.getLogger("lts").setLevel(logging.ERROR)
                with contextlib.redirect_stderr(io.StringIO()):  # alembic's INFO lines
                    upgrade()
                asset_ids = _seed(db, spec, data)
                source = RegistryPluginSource(app)
                _check_and_prepare(source, spec, data, asset_ids, prepare=self.prepare)
                clock = ManualClock(ticks[0].to_pydatetime())
                engine = Engine(app, plugins=source, clock=clock)
                if self.direct_calls:
                    engine.caller.close()
                    engine.caller = DirectCaller()  # type: ignore[assignment]
                errors: list[str] = []
                started = time.perf_counter()
                try:
                    for done, tick in enumerate(ticks, start=1):
                        clock.now = tick.to_pydatetime()
                        report = engine.tick(clock.now)
                        errors += [f"{clock.now.isoformat()} asset {o.asset_id}: {o.error}"
                                   for o in report.errors]
                        errors += [f"{clock.now.isoformat()} {f.kind}: {f.error}"
                                   for f in report.portfolio_failures]
                        if progress is not None:
                            progress(done, len(ticks))
                finally:
                    engine.close()
                self.seconds = time.perf_counter() - started
                replayed = read_books(db, asset_ids, len(ticks), errors)
                db.session.remove()
                db.engine.dispose()
        return replayed


def _seed(db: Any, spec: BacktestSpec, data: BarData) -> dict[int, str]:
    """One user, the portfolio and its assets (csv pipeline, paper broker); ids to symbols."""
    from lts.models import Asset, Portfolio, User

    user = User(username="backtest", email="backtest@example.invalid", role="user",
                password_hash=_NO_PASSWORD)
    db.session.add(user)
    db.session.flush()
    portfolio = Portfolio(user_id=user.id, name=spec.name[:100], total_capital=spec.capital,
                          portfolio_plugin=spec.portfolio_plugin,
                          portfolio_config=dict(spec.portfolio_config),
                          portfolio_latency=1, max_drawdown_pct=spec.max_drawdown_pct)
    db.session.add(portfolio)
    db.session.flush()
    ids = {}
    for asset in spec.assets:
        row = Asset(portfolio_id=portfolio.id, symbol=asset.symbol, pipeline_plugin="csv",
                    pipeline_config={"file": data.files[asset.symbol],
                                     "lookback": asset.lookback},
                    strategy_plugin=asset.strategy_plugin,
                    strategy_config=dict(asset.strategy_config), broker_plugin="paper",
                    broker_config=dict(asset.broker_config),
                    max_data_age_minutes=asset.max_data_age_minutes)
        db.session.add(row)
        db.session.flush()
        ids[row.id] = asset.symbol
    db.session.commit()
    return ids


def _check_and_prepare(source: Any, spec: BacktestSpec, data: BarData,
                       asset_ids: Mapping[int, str], *, prepare: bool) -> None:
    """Build every plugin once, so a bad config fails the run naming the asset.

    With ``prepare``, compute each strategy's hook once over its symbol's whole series.
    """
    from lts.extensions import db
    from lts.models import Asset, Portfolio
    from lts.plugins.base import PluginError
    from lts.plugins.pipeline.csv import read_ohlcv
    from lts.plugins.registry import PluginRegistryError

    portfolio = db.session.scalars(select(Portfolio)).one()
    try:
        source.get("portfolio", portfolio.portfolio_plugin, portfolio.portfolio_config)
    except (PluginRegistryError, PluginError) as exc:
        raise ValidationFailed("bad portfolio plugin", {"portfolio_config": [str(exc)]}
                               ) from None
    for asset_id in asset_ids:
        row = db.session.get(Asset, asset_id)
        try:
            strategy = source.get("strategy", row.strategy_plugin, row.strategy_config)
            source.get("broker", "paper", row.broker_config)
        except (PluginRegistryError, PluginError) as exc:
            raise ValidationFailed("bad plugin config", {f"assets[{row.symbol}]": [
                str(exc)]}) from None
        if not prepare:
            continue
        bars = read_ohlcv(Path(data.data_dir) / data.files[row.symbol])
        strategy.use_prepared(row.symbol, strategy.prepare(
            bars[bars.index < pd.Timestamp(spec.end)]))


def read_books(db: Any, asset_ids: Mapping[int, str], ticks: int,
                errors: Sequence[str]) -> Replayed:
    """The orders, fills, closed trades and open positions the engine booked, as rows."""
    from lts.models import AuditLog, Order, Position

    halts = [(row.timestamp, row.details) for row in db.session.scalars(
        select(AuditLog).where(AuditLog.action == "portfolio.kill_switch")
        .order_by(AuditLog.id))]
    return replayed_from(db.session.scalars(select(Order).order_by(Order.id)),
                         db.session.scalars(select(Position).order_by(Position.id)),
                         halts, asset_ids, ticks, errors)


def replayed_from(orders: Iterable[Any], positions: Iterable[Any],
                  halts: Iterable[tuple[datetime, Mapping[str, Any] | None]],
                  asset_ids: Mapping[int, str], ticks: int,
                  errors: Sequence[str]) -> Replayed:
    """Rows of books: orders and positions (ORM rows or records, by id), kill-switch halts.

    One function for both replays, so the SQL engine's books and the in-memory ones are
    turned into rows the same way (the one-engine test compares them).
    """
    order_rows, fills = [], []
    by_id: dict[int, Any] = {}
    for order in orders:
        by_id[order.id] = order
        symbol = asset_ids[order.asset_id]
        order_rows.append({"time": order.created_at, "symbol": symbol, "side": order.side,
                           "quantity": order.quantity, "order_type": order.order_type,
                           "status": order.status, "fill_price": order.fill_price,
                           "filled_quantity": order.filled_quantity,
                           "commission": order.commission, "reason": order.reason,
                           "client_order_id": order.client_order_id})
        if order.filled_quantity:
            fills.append({"time": order.filled_at or order.updated_at, "symbol": symbol,
                          "side": order.side, "quantity": order.filled_quantity,
                          "price": order.fill_price, "commission": order.commission,
                          "reason": order.reason or ""})
    trades, still_open = [], []
    for position in positions:
        symbol = asset_ids[position.asset_id]
        if position.status == "open":
            still_open.append({"symbol": symbol, "side": position.side,
                               "quantity": position.quantity,
                               "entry_time": position.opened_at,
                               "entry_price": position.entry_price,
                               "fees": position.commission})
            continue
        closing = by_id.get(position.close_order_id) if position.close_order_id else None
        trades.append({"symbol": symbol, "side": position.side, "quantity": position.quantity,
                       "entry_time": position.opened_at, "entry_price": position.entry_price,
                       "exit_time": position.closed_at, "exit_price": position.exit_price,
                       "pnl": position.realized_pnl, "fees": position.commission,
                       "exit_reason": (closing.reason if closing is not None else "") or "",
                       "booked_time": closing.created_at if closing is not None else None})
    halt_lines = [f"{timestamp.isoformat()} kill switch: " + ", ".join(
        f"{key}={value}" for key, value in sorted((details or {}).items()))
        for timestamp, details in halts]
    return Replayed(orders=order_rows, fills=fills, trades=trades, open_positions=still_open,
                    ticks=ticks, errors=tuple(errors), halts=tuple(halt_lines))
