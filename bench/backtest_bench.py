"""Benchmark backtests: LTS's runner against backtesting.py on the very same series.

A seeded random walk of hourly bars (default 100,000) of one symbol; ``sma_cross``
(10, 20), always in the market (reverse on every cross, shorts allowed, no stop or
target), on the ``paper`` broker without costs (no spread, slippage or commission).
backtesting.py runs its classic ``SmaCross`` (SMA 10 / 20, close and reverse on a
cross, no commission) on the same bars. Each side runs in a child process of its own,
so the peak RSS printed is that side's alone. Then 20 assets x N bars.

LTS runs :class:`lts.backtest.memory.MemoryReplay` by default (the engine's step on
in-memory books, the paper broker's fill rules in memory, plugin calls made directly,
quiet ticks skipped: only the ticks where a decision, a fill or the kill switch can
happen are stepped). ``--replay every-bar`` steps every tick (``skip_quiet=False``).
``--replay engine`` runs :class:`lts.backtest.runner.EngineReplay` instead (the live
engine over a throw-away SQLite database: tens of bars/s, so give it ``--lts-bars``),
and ``--replay module:attribute`` any other Replay. ``--lts-bars N`` replays only the
first N bars of the series (0: all) and extrapolates the full run's time.

Run: .venv/bin/python bench/backtest_bench.py [--bars 100000] [--lts-bars 0]
     [--assets 20] [--assets-bars 100000] [--assets-lts-bars 0]
     [--replay memory|every-bar|engine]
     [--profile FILE]  (cProfile of the LTS side, for finding what a bar costs)
Instructions of one side's run only: valgrind --tool=callgrind --instr-atstart=no
     .venv/bin/python bench/backtest_bench.py --worker lts|backtesting --assets 1 --callgrind
Needs ``backtesting`` (requirements-bench.txt, never a runtime requirement).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2015, 1, 1, tzinfo=UTC)


def random_walk(bars: int, seed: int) -> pd.DataFrame:
    """Hourly OHLCV bars of a seeded geometric random walk, stamped by period start."""
    rng = np.random.default_rng(seed)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, bars)))
    opens = np.concatenate(([100.0], closes[:-1]))
    spread = np.abs(rng.normal(0.0, 0.001, bars))
    index = pd.date_range(START, periods=bars, freq="h", tz="UTC")
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, closes) * (1 + spread),
                         "low": np.minimum(opens, closes) * (1 - spread), "close": closes,
                         "volume": 1.0}, index=index)


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ workers

def work_backtesting(bars: int, assets: int, count: bool = False) -> dict[str, Any]:
    """backtesting.py's SmaCross on each asset's series; total bars and seconds."""
    import warnings

    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1, n2 = 10, 20

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    seconds, cpu, trades = 0.0, 0.0, 0
    for n in range(assets):
        frame = random_walk(bars, seed=n).rename(columns=str.capitalize)
        frame.index = frame.index.tz_localize(None)
        if count:
            callgrind(True)
        started, cpu_started = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = Backtest(frame, SmaCross, cash=1e9, commission=0.0,
                             finalize_trades=True).run()
        seconds += time.perf_counter() - started
        if count:
            callgrind(False)
        cpu += time.process_time() - cpu_started
        trades += int(stats["# Trades"])
    return {"bars": bars * assets, "seconds": seconds, "cpu_seconds": cpu, "trades": trades,
            "peak_rss_mb": peak_rss_mb()}


def callgrind(on: bool) -> None:
    """Switch callgrind's instrumentation (run with ``--instr-atstart=no``) on or off.

    Only ``run_backtest`` is counted (not the imports, the app or writing the CSV files);
    instruction counts do not move with the machine's load.
    """
    import os

    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True)


def work_lts(bars: int, assets: int, replay_name: str | None,
             profile: str | None = None, count: bool = False) -> dict[str, Any]:
    """LTS's run_backtest on the first ``bars`` bars of each asset's series."""
    import importlib
    import logging

    sys.path.insert(0, str(ROOT))
    from lts import create_app
    from lts.backtest.data import load_bars
    from lts.backtest.runner import AssetSpec, BacktestSpec, EngineReplay, run_backtest

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="lts-bt-bench-") as folder:
        symbols = [f"SYM{n:02d}" for n in range(assets)]
        for n, symbol in enumerate(symbols):
            frame = random_walk(bars, seed=n)
            frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
            frame.index.name = "time"
            frame.to_csv(Path(folder) / f"{symbol}.csv")
        end = START + pd.Timedelta(hours=bars).to_pytimedelta()
        config = {"fast": 10, "slow": 20, "entry": "cross", "reverse": True,
                  "allow_short": True, "stop_loss": 0, "take_profit": 0}
        costs = {"spread_bps": 0.0, "slippage_bps": 0.0, "commission_pct": 0.0,
                 "commission_fixed": 0.0}
        spec = BacktestSpec(assets=tuple(AssetSpec(s, "sma_cross", config, costs, lookback=50)
                                         for s in symbols),
                            start=START, end=end, capital=1e9)
        data = load_bars(Path(folder), symbols, START, end)
        app = create_app({"database_url": f"sqlite:///{folder}/bench.db", "log_level": "ERROR",
                          "loop_enabled": False, "data_dir": folder},
                         instance_path=Path(folder) / "instance")
        with app.app_context():
            from flask_migrate import upgrade

            from lts.backtest.memory import MemoryReplay
            from lts.trading.plugin_source import RegistryPluginSource

            if replay_name in (None, "memory", "every-bar"):
                upgrade()  # the plugin registry reads its generation from the Config table
                replay = MemoryReplay(RegistryPluginSource(app),
                                      skip_quiet=replay_name != "every-bar")
            elif replay_name == "engine":
                replay = EngineReplay(create_app)
            else:
                module, _, attribute = replay_name.partition(":")
                replay = getattr(importlib.import_module(module), attribute)
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            if count:
                callgrind(True)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = run_backtest(spec, data, replay)
            seconds = time.perf_counter() - started
            if count:
                callgrind(False)
            cpu = time.process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
    return {"bars": bars * assets, "ticks": result.bars_replayed, "seconds": seconds,
            "cpu_seconds": cpu,
            "replay_seconds": getattr(replay, "seconds", None), "trades": len(result.trades),
            "stepped": getattr(replay, "ticks_replayed", None),
            "errors": len(result.errors), "peak_rss_mb": peak_rss_mb()}


# ------------------------------------------------------------------ parent

def child(side: str, bars: int, assets: int, replay: str | None,
          profile: str | None = None) -> dict[str, Any]:
    """Run one side in a fresh interpreter; its JSON figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", side,
               "--bars", str(bars), "--assets", str(assets)]
    if replay:
        command += ["--replay", replay]
    if profile:
        command += ["--profile", profile]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(label: str, bars: int, lts_bars: int, assets: int, replay: str | None,
            profile: str | None = None) -> None:
    """Both sides on ``assets`` x ``bars``; LTS on its first ``lts_bars`` bars."""
    theirs = child("backtesting", bars, assets, None)
    mine = child("lts", lts_bars or bars, assets, replay, profile)
    their_rate = theirs["bars"] / theirs["seconds"]
    my_rate = mine["bars"] / mine["seconds"]
    print(f"== {label}: {assets} asset(s) x {bars:,} hourly bars, sma_cross(10, 20), no costs")
    print(f"backtesting.py : {theirs['bars']:,} bars in {theirs['seconds']:.2f} s = "
          f"{their_rate:,.0f} bars/s, {theirs['trades']} trades, "
          f"peak RSS {theirs['peak_rss_mb']:.0f} MB")
    replay_part = (f" (replay loop {mine['replay_seconds']:.2f} s)"
                   if mine.get("replay_seconds") else "")
    if mine.get("stepped") is not None:
        replay_part += f" ({mine['stepped']:,} ticks stepped, the others quiet)"
    print(f"LTS runner     : {mine['bars']:,} bars ({mine['ticks']:,} ticks) in "
          f"{mine['seconds']:.2f} s{replay_part} = {my_rate:,.1f} bars/s, "
          f"{mine['trades']} trades, {mine['errors']} errors, "
          f"peak RSS {mine['peak_rss_mb']:.0f} MB")
    if lts_bars and lts_bars < bars:
        print(f"  (LTS replayed the first {lts_bars:,} bars of each series; at this rate the "
              f"full {bars * assets:,} bars take {bars * assets / my_rate / 3600:.1f} h)")
    print(f"ratio LTS / backtesting.py (bars/s): {my_rate / their_rate:.4f} [target >= 1.0]")
    # CPU time: on a shared, loaded machine the wall-clock ratio swings with the load.
    print(f"ratio by CPU time (bars per CPU second): "
          f"{mine['bars'] / mine['cpu_seconds']:,.0f} / "
          f"{theirs['bars'] / theirs['cpu_seconds']:,.0f} = "
          f"{(mine['bars'] / mine['cpu_seconds']) / (theirs['bars'] / theirs['cpu_seconds']):.4f}")


def main() -> None:
    """Parse the options; run a worker or the whole comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--lts-bars", type=int, default=0,
                        help="bars LTS replays of the single series (0: all)")
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--assets-bars", type=int, default=None,
                        help="bars per asset of the multi-asset run (default --bars)")
    parser.add_argument("--assets-lts-bars", type=int, default=0,
                        help="bars per asset LTS replays in the multi-asset run (0: all)")
    parser.add_argument("--replay", default=None,
                        help="memory (default), every-bar (memory, no tick skipped), engine, "
                             "or module:attribute of a Replay")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the LTS side of the one-symbol run here")
    parser.add_argument("--callgrind", action="store_true",
                        help="with --worker under valgrind --tool=callgrind "
                             "--instr-atstart=no: count only the backtest's instructions")
    parser.add_argument("--worker", choices=("lts", "backtesting"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "lts":
        print(json.dumps(work_lts(args.bars, args.assets, args.replay, args.profile,
                                  args.callgrind)))
        return
    if args.worker == "backtesting":
        print(json.dumps(work_backtesting(args.bars, args.assets, args.callgrind)))
        return
    compare("one symbol", args.bars, args.lts_bars, 1, args.replay, args.profile)
    if args.assets > 1:
        compare("portfolio", args.assets_bars or args.bars, args.assets_lts_bars, args.assets,
                args.replay)


if __name__ == "__main__":
    main()
