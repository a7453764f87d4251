"""Where stored backtests run: a small thread pool per app, and what a run leaves behind.

A backtest takes seconds to minutes, far longer than a request, so
:func:`lts.services.backtests.start` stores the run ``queued`` and hands it here. Each
process keeps one bounded pool per app (``BACKTEST_WORKERS``, 1 or 2 threads): a web
worker never runs more than two replays at once, whatever users ask. A job runs in its
own app context and writes only through the live app's engine (the replay pushes an app
of its own, whose ``db`` must not be confused with ours):

- ``running`` with ``runner`` (host, pid, a nonce) and ``heartbeat_at`` when it starts;
- ``progress_done`` and the heartbeat every ``progress_every`` bars (about 1 % steps);
- ``done`` with the report, or ``failed`` with the error, at the end.

A process that dies mid-run leaves its rows ``running``; :func:`recover_orphans` (at the
next start) marks them failed: at once when their process is gone from this host,
else once their heartbeat is older than ``STALE_AFTER``.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask
from sqlalchemy import Engine, select, update

from lts.backtest.data import BarData
from lts.backtest.result import BacktestResult
from lts.backtest.runner import BacktestSpec
from lts.database import retry_unit
from lts.errors import ServiceError
from lts.extensions import db
from lts.models import BacktestRun
from lts.models.backtest import ACTIVE_BACKTEST_STATUSES, MAX_CURVE_POINTS
from lts.models.types import utcnow
from lts.trading.plugin_source import RegistryPluginSource

log = logging.getLogger(__name__)

EXTENSION_KEY = "lts.backtest_pool"
MAX_WORKERS = 2
#: A run whose process is elsewhere and silent this long is taken for dead.
STALE_AFTER = timedelta(minutes=30)
#: Candles kept per symbol for the report's chart (consecutive bars merged beyond it).
MAX_CANDLES = 1_000
#: Closed trades kept per run (the metrics count them all).
MAX_TRADES = 5_000
#: This process's name in ``backtest_runs.runner``: host, pid and a nonce (pids recur).
RUNNER = f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"
_CREATE = threading.Lock()


def runner_name() -> str:
    """The runner name of the current process (read at call time: a fork has its own pid)."""
    host, _pid, nonce = RUNNER.rsplit(":", 2)
    return f"{host}:{os.getpid()}:{nonce}"


class BacktestPool:
    """One app's bounded pool of replay threads and the futures of its runs."""

    def __init__(self, app: Flask, workers: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="lts-backtest")
        self.futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: int, spec: BacktestSpec, data: BarData, folder: Path) -> None:
        """Queue the replay of ``run_id``; its folder of bars is removed when it ends."""
        future = self.executor.submit(execute, self.app, run_id, spec, data, folder)
        with self._lock:
            self.futures[run_id] = future

    def unfinished(self) -> set[int]:
        """The runs this pool still has queued or running."""
        with self._lock:
            return {run_id for run_id, future in self.futures.items() if not future.done()}

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        """Block until ``run_id`` ended (tests, the CLI); no-op for a run not queued here."""
        with self._lock:
            future = self.futures.get(run_id)
        if future is not None:
            future.result(timeout=timeout)

    def close(self) -> None:
        """Let the queued runs finish and stop the threads (tests and shutdown)."""
        self.executor.shutdown(wait=True)


def pool_of(app: Flask) -> BacktestPool:
    """The app's pool, created on first use with ``BACKTEST_WORKERS`` threads (1..2)."""
    pool = app.extensions.get(EXTENSION_KEY)
    if pool is None:
        with _CREATE:
            pool = app.extensions.get(EXTENSION_KEY)
            if pool is None:
                workers = int(app.config.get("BACKTEST_WORKERS", 1))
                pool = BacktestPool(app, max(1, min(MAX_WORKERS, workers)))
                app.extensions[EXTENSION_KEY] = pool
    return pool  # type: ignore[no-any-return]


# -- the rows, written through the live app's engine ---------------------------------

def write_run(engine: Engine, run_id: int, *, only_if: tuple[str, ...] | None = None,
              **values: Any) -> bool:
    """Update one run in a short transaction of its own (retried when the database is busy).

    Core on ``engine``, not the session: the replay runs inside an app of its own, where
    ``db.session`` is the throw-away database's. ``only_if``: only while the run has
    one of these statuses. Whether the row was changed.
    """
    statement = update(BacktestRun).where(BacktestRun.id == run_id).values(**values)
    if only_if is not None:
        statement = statement.where(BacktestRun.status.in_(only_if))

    def unit() -> bool:
        with engine.connect().execution_options(sqlite_immediate=True) as connection, \
                connection.begin():
            return bool(connection.execute(statement).rowcount)

    return retry_unit(unit, what=f"backtest run {run_id}")


def _process_gone(runner: str | None) -> bool:
    """Whether ``runner`` names a process of this host that no longer exists."""
    if not runner or runner.count(":") < 2:
        return False
    host, pid, _nonce = runner.rsplit(":", 2)
    if host != runner_name().rsplit(":", 2)[0] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def recover_orphans(now: datetime, *, alive: set[int] | None = None,
                    stale_after: timedelta = STALE_AFTER) -> int:
    """Mark failed the runs left queued/running by a dead process; how many.

    A run of this very process is dead only when its pool no longer has it (``alive``:
    the pool's unfinished runs; None: trust every run of this process). Another
    process's run is dead at once when that process is gone from this host, else when
    it has been silent (no heartbeat, no progress) for ``stale_after``.
    """
    mine = runner_name()
    rows = db.session.execute(select(BacktestRun.id, BacktestRun.runner,
                                     BacktestRun.heartbeat_at, BacktestRun.created_at)
                              .where(BacktestRun.status.in_(ACTIVE_BACKTEST_STATUSES))).all()
    db.session.commit()
    dead = []
    for run_id, runner, heartbeat, created in rows:
        last = heartbeat or created
        if runner == mine:
            if alive is not None and run_id not in alive:
                dead.append((run_id, "its replay thread ended without storing a result"))
        elif _process_gone(runner):
            dead.append((run_id, f"the process replaying it ({runner}) stopped"))
        elif last is not None and now - last > stale_after:
            dead.append((run_id, f"no progress from {runner or 'its process'} since "
                                 f"{last.isoformat()}: taken for dead"))
    for run_id, why in dead:
        log.warning("backtest run %s marked failed: %s", run_id, why)
        write_run(db.engine, run_id, status="failed", error=why, finished_at=now,
                  only_if=ACTIVE_BACKTEST_STATUSES)
    return len(dead)


# -- the job ---------------------------------------------------------------------------

def make_replay(app: Flask) -> Any:
    """The replay a stored run uses: the engine's step functions on in-memory books.

    :class:`~lts.backtest.memory.MemoryReplay` runs in this process without a database of
    its own (the live tables are never written), with the live app's plugin registry, so a
    run replays the very plugins the portfolio trades with.
    """
    from lts.backtest.memory import MemoryReplay

    return MemoryReplay(RegistryPluginSource(app))


def execute(app: Flask, run_id: int, spec: BacktestSpec, data: BarData, folder: Path,
            *, clock: Callable[[], datetime] = utcnow) -> None:
    """Replay one stored run and store its report (or why it failed); never raises."""
    from lts.backtest.report import build_report
    from lts.backtest.runner import run_backtest

    with app.app_context():
        engine = db.engine
        try:
            total = len(data.ticks())
            every = max(1, total // 100)
            if not write_run(engine, run_id, only_if=("queued",), status="running",
                             started_at=clock(), heartbeat_at=clock(), runner=runner_name(),
                             progress_total=total):
                return  # taken for dead while it waited (see recover_orphans): not run

            written = [0]  # the last progress stored

            def progress(done: int, of: int) -> None:
                # Crossing a step, not landing on one: quiet bars are skipped, so
                # ``done`` jumps and may never be a multiple of ``every``.
                if done // every > written[0] // every or done == of:
                    written[0] = done
                    write_run(engine, run_id, progress_done=done, progress_total=of,
                              heartbeat_at=clock())

            result = run_backtest(spec, data, make_replay(app), progress=progress)
            report = build_report(result)
            write_run(engine, run_id, status="done", finished_at=clock(),
                      heartbeat_at=clock(), **stored_result(result, report, data.bars))
        except ServiceError as exc:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            write_run(engine, run_id, status="failed", finished_at=clock(),
                      error=f"{exc.message}: {details}" if details else exc.message)
        except Exception as exc:  # a run must end failed, never stay "running"
            log.exception("backtest run %s failed", run_id)
            write_run(engine, run_id, status="failed", finished_at=clock(),
                      error=f"{type(exc).__name__}: {exc}"[:2000])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            db.session.remove()


# -- what a run stores -------------------------------------------------------------------

def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: numpy and pandas values converted, NaN/inf as None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | datetime):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    return value


def _epoch_ms(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch milliseconds of a UTC index (the chart's x values)."""
    return (index.as_unit("ms").asi8).astype(np.int64)


def curve_points(result: BacktestResult, limit: int = MAX_CURVE_POINTS
                 ) -> list[dict[str, Any]]:
    """The portfolio equity and drawdown, ``{t: epoch ms, v, dd}``, at most ``limit`` points.

    The first point is the capital at the start of the first bar. Beyond ``limit`` the
    ticks are cut into ``limit // 2`` buckets and each keeps its lowest and highest
    equity (in time order), so the deepest drawdown and the peaks survive the thinning.
    """
    equity = result.equity["portfolio"].to_numpy(dtype=np.float64)
    times = _epoch_ms(result.equity.index)
    if not len(equity):
        return []
    start = int(times[0] - result.period / pd.Timedelta(milliseconds=1))
    equity = np.concatenate(([result.initial_capital], equity))
    times = np.concatenate(([start], times))
    drawdown = 1.0 - equity / np.maximum.accumulate(equity)
    keep = np.arange(len(equity))
    if len(equity) > limit:
        chosen: set[int] = {0, len(equity) - 1}
        for part in np.array_split(keep, limit // 2 - 1):
            chosen.add(int(part[np.argmin(equity[part])]))
            chosen.add(int(part[np.argmax(equity[part])]))
        keep = np.array(sorted(chosen))[:limit]
    return [{"t": int(times[i]), "v": float(equity[i]), "dd": float(drawdown[i])}
            for i in keep]


def candle_rows(bars: pd.DataFrame, limit: int = MAX_CANDLES) -> list[dict[str, Any]]:
    """Bars as chart candles (``time`` in epoch seconds), at most ``limit`` of them.

    Beyond ``limit``, each run of ``ceil(n / limit)`` consecutive bars becomes one
    candle (first open, highest high, lowest low, last close), stamped by its first bar.
    """
    if bars.empty:
        return []
    step = max(1, math.ceil(len(bars) / limit))
    groups = np.arange(len(bars)) // step
    merged = bars.groupby(groups).agg(open=("open", "first"), high=("high", "max"),
                                       low=("low", "min"), close=("close", "last"))
    stamps = bars.index[::step]
    return [{"time": int(stamp.timestamp()), "open": float(row.open), "high": float(row.high),
             "low": float(row.low), "close": float(row.close)}
            for stamp, row in zip(stamps, merged.itertuples(), strict=True)
            if all(math.isfinite(v) for v in (row.open, row.high, row.low, row.close))]


def stored_result(result: BacktestResult, report: Mapping[str, Any],
                  bars: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """The columns a finished run stores: metrics, curve, trades, candles of ``bars``."""
    metrics = {key: report[key] for key in ("portfolio", "assets", "gaps", "errors", "halts",
                                            "bars_replayed", "symbols", "initial_capital")}
    metrics["trades_total"] = len(result.trades)
    metrics["open_positions"] = result.open_positions.to_dict("records")
    return {"metrics": plain(metrics), "equity": curve_points(result),
            "trades": plain(result.trades.head(MAX_TRADES).to_dict("records")),
            "candles": {symbol: candle_rows(frame) for symbol, frame in bars.items()},
            "progress_done": result.bars_replayed}
