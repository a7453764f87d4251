"""ARIMA forecasts for many assets: what one tick costs cold and warm (issue 14).

100 assets on 20 symbols (5 assets per symbol, as when several portfolios trade the
same market), each on ``arima`` over the ``synthetic`` pipeline with ARIMA(2,1,2) and a
500-bar window. A "tick" asks every asset's snapshot once, as the engine does.

* cold: an empty cache; every symbol is fitted once, its other 4 assets are cache hits;
* warm: one new bar per symbol; the fitted parameters are updated with it (no refit
  before ``refit_every`` bars), the other assets hit the cache;
* refit: a warm tick with ``refit_every=1``, the worst case: one fit per symbol.

Prints seconds per tick, fits, updates, cache hits, fallbacks, the cold cost per fit
and the process's peak resident memory (tracemalloc would slow every tick tenfold).
Target: a warm tick with one new bar per symbol costs at most one fit per symbol.

    .venv/bin/python bench/predictions_bench.py [--symbols 20] [--per-symbol 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import UTC, datetime, timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")  # BLAS threads only fight on a shared box
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from lts.plugins.pipeline.arima import ArimaCache, ArimaPipeline
from lts.plugins.registry import PluginRegistry
from lts.testing.base_contract import sample_asset

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def pipeline(cache: ArimaCache, refit_every: int, window: int) -> ArimaPipeline:
    config = {"source": "synthetic", "source_config": {"lookback": window, "drift": 0.0001},
              "order": [2, 1, 2], "window": window, "refit_every": refit_every}
    loaded = PluginRegistry.discover({}).validate_config("pipeline", "arima", config)
    return ArimaPipeline(loaded, cache=cache)


def tick(plugin: ArimaPipeline, assets: list, now: datetime) -> float:
    started = time.perf_counter()
    for asset in assets:
        plugin.snapshot(asset, now)
    return time.perf_counter() - started


def report(label: str, seconds: float, cache: ArimaCache, before: dict[str, float]) -> None:
    stats = cache.stats
    fits = stats.fits - before["fits"]
    fit_seconds = stats.fit_seconds - before["fit_seconds"]
    per_fit = f"{fit_seconds / fits:.3f} s/fit" if fits else "-"
    print(f"{label:<6} {seconds:8.2f} s/tick  fits {fits:3d}  updates "
          f"{stats.updates - before['updates']:3d}  hits {stats.hits - before['hits']:3d}  "
          f"fallbacks {stats.fallbacks - before['fallbacks']:3d}  {per_fit}")


def snapshot_stats(cache: ArimaCache) -> dict[str, float]:
    stats = cache.stats
    return {"fits": stats.fits, "updates": stats.updates, "hits": stats.hits,
            "fallbacks": stats.fallbacks, "fit_seconds": stats.fit_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--per-symbol", type=int, default=5)
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    assets = [sample_asset(f"SYM{s:02d}", asset_id=s * args.per_symbol + k + 1)
              for s in range(args.symbols) for k in range(args.per_symbol)]
    print(f"{len(assets)} assets on {args.symbols} symbols, ARIMA(2,1,2), "
          f"window {args.window}")
    import statsmodels.tsa.arima.model  # noqa: F401  (import time is no tick's cost)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = ArimaCache()
    plugin = pipeline(cache, refit_every=20, window=args.window)
    before = snapshot_stats(cache)
    report("cold", tick(plugin, assets, NOW), cache, before)
    before = snapshot_stats(cache)
    warm = tick(plugin, assets, NOW + timedelta(minutes=1))
    report("warm", warm, cache, before)
    assert cache.stats.fits - before["fits"] <= args.symbols, "more than one fit per symbol"
    refitting = pipeline(cache, refit_every=1, window=args.window)
    tick(refitting, assets, NOW + timedelta(minutes=1))  # its own cold start
    before = snapshot_stats(cache)
    report("refit", tick(refitting, assets, NOW + timedelta(minutes=2)), cache, before)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS {peak / 1024:.0f} MiB ({(peak - baseline) / 1024:.0f} MiB above the "
          f"process after imports)")


if __name__ == "__main__":
    main()
