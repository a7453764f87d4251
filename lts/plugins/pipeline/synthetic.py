"""Pipeline ``synthetic``: a seeded random walk of OHLCV bars per symbol (the demo default).

Bars sit on a fixed grid of ``interval_minutes`` counted from a fixed epoch
(2020-01-01 UTC), each stamped by the start of its period, and every bar is a pure
function of (seed, symbol, bar index): the bar for time t is the same whatever ``now``
is, in any process. A bar is returned only once complete (``now >= t + interval``):
never the forming one, nothing after ``now`` (see :mod:`lts.plugins.bars`).

How a walk anchored at the epoch can be evaluated anywhere without summing every step
since 2020: the grid is cut into chunks of :data:`CHUNK` bars. Chunk start levels follow
a mean-reverting AR(1) of per-chunk shocks (see :func:`_chunk_start`), so prices stay
around ``start_price`` for years; inside a chunk the path is a Brownian bridge from its
start level to the next chunk's, built from per-bar normal draws. Every "random" number
comes from a counter-based hash (splitmix64) of (seed, symbol, stream, index), so
nothing depends on call order, and chunks are cached (thread-safe, bounded).
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin, PluginError

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CHUNK = 1024
REVERSION = 0.9
MEMORY = 200
_WEIGHTS = REVERSION ** np.arange(MEMORY - 1, -1, -1, dtype=np.float64)
# Chunk paths (8 KB each) and chunk start levels (one float) are cached apart: the
# starts of 10,000 symbols fit in a few MB, while their paths would take 160 MB, so
# paths are kept for about 500 symbols (8 MB) and recomputed beyond (issue 16).
_PATH_CACHE_SIZE = 1024
_START_CACHE_SIZE = 65_536
_TWO_PI = 2.0 * math.pi
_U53 = float(2**53)
_COLUMNS = pd.Index(["open", "high", "low", "close", "volume"])
#: Most bars one ``bars()`` call builds: a year of 1-minute bars, about 20 MB.
MAX_BARS = 600_000


class SyntheticConfig(marshmallow.Schema):
    """Settings of the synthetic random walk."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    seed = fields.Integer(load_default=42, validate=validate.Range(min=0, max=2**63 - 1),
                          metadata={"description": "Seed of the walk; same seed, same bars."})
    interval_minutes = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=10_080),
        metadata={"description": "Minutes between two bars (bars sit on a fixed grid)."})
    lookback = fields.Integer(load_default=200, validate=validate.Range(min=1, max=100_000),
                              metadata={"description": "Number of bars returned."})
    start_price = fields.Float(load_default=100.0,
                               validate=validate.Range(min=0, min_inclusive=False),
                               metadata={"description": "Price level at the epoch."})
    volatility = fields.Float(load_default=0.001, validate=validate.Range(min=0, max=0.5),
                              metadata={"description": "Standard deviation of one bar's "
                                                       "log return."})
    drift = fields.Float(load_default=0.0, validate=validate.Range(min=-0.1, max=0.1),
                         metadata={"description": "Mean log return per bar."})
    base_volume = fields.Float(load_default=1000.0, validate=validate.Range(min=0),
                               metadata={"description": "Typical volume of one bar."})


# ------------------------------------------------------------------ hashing


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix(values: np.ndarray) -> np.ndarray:
    """Splitmix64 finaliser over a uint64 array (wrapping arithmetic, no warnings)."""
    z = values + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@functools.lru_cache(maxsize=8192)  # ~1.5 us to rebuild; 65,536 held 8 MB at 10,000 symbols
def stream_key(seed: int, symbol: str, stream: str) -> int:
    """Return a 64-bit key for one random stream of one symbol under one seed."""
    digest = hashlib.blake2b(f"{seed}\x1f{symbol}\x1f{stream}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


@functools.lru_cache(maxsize=64)
def _mixed_counters(first: int, count: int) -> np.ndarray:
    """``_mix`` of the counters ``first .. first + count - 1`` (read-only).

    The first round of every stream's hash depends on the bar indexes only: in one tick
    every symbol asks for the same few ranges, so each is hashed once, not per symbol.
    """
    counters = np.arange(first, first + count, dtype=np.int64).view(np.uint64)
    mixed = _mix(counters)
    mixed.setflags(write=False)
    return mixed


def _uniforms(key: int, first: int, count: int) -> np.ndarray:
    """Uniform numbers in (0, 1), one per (key, index) for indexes ``first ..+count``."""
    bits = _mix(_mixed_counters(first, count) ^ np.uint64(key))
    return ((bits >> _S11).astype(np.float64) + 0.5) / _U53


def _normals(key: int, first: int, count: int) -> np.ndarray:
    """Standard normals, one per (key, index) for ``first ..+count``, by Box-Muller."""
    u1 = _uniforms(key, first, count)
    u2 = _uniforms(key ^ 0x5DEECE66D, first, count)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


# ------------------------------------------------------------------ the walk


class _WalkCache:
    """Caches chunk paths and chunk start levels of unit-variance walks (thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], np.ndarray | float] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        """Return the cached value or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        """Store a value, evicting the least recently used."""
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_paths = _WalkCache(_PATH_CACHE_SIZE)
_starts = _WalkCache(_START_CACHE_SIZE)


def _chunk_start(key: int, chunk: int) -> float:
    """Return the unit walk level at the first bar of ``chunk``.

    Chunk start levels follow an AR(1) process, ``level[c] = REVERSION * level[c-1] +
    N(0, CHUNK)``, evaluated from its last :data:`MEMORY` shocks (the older ones weigh
    less than 1e-9): prices wander like a random walk within days but stay around
    ``start_price`` over years.
    """
    cached = _starts.get((key, chunk))
    if cached is not None:
        return float(cached)
    shocks = _normals(key ^ 0x7F4A7C15, chunk - MEMORY, MEMORY)
    level = float(np.dot(_WEIGHTS, shocks)) * math.sqrt(CHUNK)
    _starts.put((key, chunk), level)
    return level


def _chunk_path(key: int, chunk: int) -> np.ndarray:
    """Return the unit walk level after each bar of ``chunk``, from the chunk's start."""
    cached = _paths.get((key, chunk))
    if cached is not None:
        return cached
    first = chunk * CHUNK
    steps = _normals(key, first, CHUNK)
    partial = np.cumsum(steps)
    total = _chunk_start(key, chunk + 1) - _chunk_start(key, chunk)
    # Brownian bridge: the same path law, pinned to end exactly at the chunk's total.
    path = partial - (np.arange(1, CHUNK + 1) / CHUNK) * (partial[-1] - total)
    path.setflags(write=False)
    _paths.put((key, chunk), path)
    return path


def unit_walk(key: int, first: int, last: int) -> np.ndarray:
    """Unit-variance walk level after bars ``first..last`` (inclusive), bar -1 at level 0."""
    out = np.empty(last - first + 1)
    position = 0
    for chunk in range(first // CHUNK, last // CHUNK + 1):
        start_bar = chunk * CHUNK
        lo = max(first, start_bar) - start_bar
        hi = min(last, start_bar + CHUNK - 1) - start_bar
        segment = _chunk_path(key, chunk)[lo:hi + 1] + _chunk_start(key, chunk)
        out[position:position + len(segment)] = segment
        position += len(segment)
    return out


def synthetic_bars(symbol: str, first: int, last: int, *, seed: int, interval_minutes: int,
                   start_price: float, volatility: float, drift: float,
                   base_volume: float) -> pd.DataFrame:
    """OHLCV bars with grid indexes ``first..last`` (inclusive) for ``symbol``."""
    walk_key = stream_key(seed, symbol, "close")
    levels = unit_walk(walk_key, first - 1, last)  # one more for the first bar's open
    indexes = np.arange(first - 1, last + 1, dtype=np.int64)
    log_close = volatility * levels + drift * (indexes + 1)
    closes = start_price * np.exp(log_close)
    opens, closes = closes[:-1], closes[1:]
    count = last - first + 1
    wick_up = np.abs(_normals(stream_key(seed, symbol, "high"), first, count))
    wick_down = np.abs(_normals(stream_key(seed, symbol, "low"), first, count))
    highs = np.maximum(opens, closes) * np.exp(0.5 * volatility * wick_up)
    lows = np.minimum(opens, closes) * np.exp(-0.5 * volatility * wick_down)
    volumes = base_volume * (0.5 + _uniforms(stream_key(seed, symbol, "volume"), first,
                                             count))
    # One 2-D block: far cheaper for pandas than five separate columns.
    values = np.column_stack((opens, highs, lows, closes, volumes))
    # A view: the frame's own index object (its name may be set) over the shared times.
    return pd.DataFrame(values, index=_bar_times(first, last, interval_minutes).view(),
                        columns=_COLUMNS, copy=False)


@functools.lru_cache(maxsize=64)
def _bar_times(first: int, last: int, interval_minutes: int) -> pd.DatetimeIndex:
    """The bar times of grid indexes ``first..last``, built once per tick.

    Every symbol of a tick asks for the same range, and building the index cost a third
    of a snapshot.
    """
    epoch_ns = pd.Timestamp(EPOCH).value
    step_ns = interval_minutes * 60 * 1_000_000_000
    stamps = (epoch_ns + np.arange(first, last + 1, dtype=np.int64) * step_ns
              ).astype("datetime64[ns]")
    return pd.DatetimeIndex(stamps, name="time").tz_localize(UTC)


def last_bar_index(now: datetime, interval_minutes: int) -> int:
    """Grid index of the newest bar complete at ``now`` (stamped at or before now - interval)."""
    if now.tzinfo is None:
        raise PluginError(f"naive datetime {now!r}: pass timezone-aware UTC")
    step = timedelta(minutes=interval_minutes)
    return (now - EPOCH) // step - 1


def first_bar_index(start: datetime, interval_minutes: int) -> int:
    """Grid index of the oldest bar whose time is at or after ``start``."""
    if start.tzinfo is None:
        raise PluginError(f"naive datetime {start!r}: pass timezone-aware UTC")
    step = timedelta(minutes=interval_minutes)
    return -((EPOCH - start) // step)  # ceiling division


class SyntheticPipeline(PipelinePlugin):
    """Seeded random-walk OHLCV bars, deterministic per (seed, symbol, bar time)."""

    name = "synthetic"
    interface_version = "1.0"
    description = "Seeded random-walk OHLCV bars per symbol; the demo default."
    config_schema = SyntheticConfig

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Return the last ``lookback`` bars complete at ``now``."""
        last = last_bar_index(now, self.config["interval_minutes"])
        candles = self._bars(asset, last - self.config["lookback"] + 1, last)
        return MarketSnapshot(symbol=asset.symbol, candles=candles, as_of=now)

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the grid's bars stamped from ``start`` and complete at ``end``, all of them."""
        interval = self.config["interval_minutes"]
        first = first_bar_index(start, interval)
        last = last_bar_index(end, interval)
        if last - first + 1 > MAX_BARS:
            raise PluginError(f"{last - first + 1} bars asked from {start.isoformat()} to "
                              f"{end.isoformat()}: at most {MAX_BARS} per call")
        return self._bars(asset, first, max(first - 1, last))

    def _bars(self, asset: AssetInfo, first: int, last: int) -> pd.DataFrame:
        """Bars with grid indexes ``first..last`` (none when ``last < first``)."""
        settings = self.config
        if last < first:
            return pd.DataFrame(columns=_COLUMNS, index=pd.DatetimeIndex([], tz=UTC,
                                                                         name="time"),
                                dtype=np.float64)
        return synthetic_bars(
            asset.symbol, first, last,
            seed=settings["seed"], interval_minutes=settings["interval_minutes"],
            start_price=settings["start_price"], volatility=settings["volatility"],
            drift=settings["drift"], base_volume=settings["base_volume"],
        )
