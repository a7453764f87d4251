"""Seeded hourly bars as CSV files for the backtest tests (the ``csv`` pipeline's format)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd


def write_walk_csv(folder: Path, symbol: str, seed: int, *, start: datetime, days: int,
                   volatility: float = 0.004, drift: float = 0.0) -> None:
    """A seeded hourly random walk of ``days`` days after ``start``, a week of warm-up before."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    n = 24 * 7 + 24 * days
    closes = 100 * np.exp(np.cumsum(rng.normal(drift, volatility, n)))
    opens = np.concatenate(([100.0], closes[:-1]))
    wick = np.abs(rng.normal(0, 0.003, n))
    index = pd.date_range(start - pd.Timedelta(days=7), periods=n, freq="h", tz="UTC")
    pd.DataFrame({"time": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": opens,
                  "high": np.maximum(opens, closes) * (1 + wick),
                  "low": np.minimum(opens, closes) * (1 - wick), "close": closes,
                  "volume": 1}).to_csv(folder / f"{symbol}.csv", index=False)
