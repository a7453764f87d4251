"""Pipeline ``csv_predictions``: precomputed predictions from a CSV file, on a source's bars.

The file (under ``data_dir``; default ``<symbol>_predictions.csv``) has a time column
(``timestamp``, ``time``, ``date``, ``datetime``; ISO 8601 or epoch seconds, UTC unless
the text carries a zone) and then one column per horizon step, in order::

    timestamp,step_1,step_2,step_3
    2024-03-04T15:00:00Z,1.0841,1.0843,1.0846

A row stamped ``T`` was made at ``T``: it is used only from ``T`` on, never before (no
look-ahead). Its step ``k`` forecasts the close of the ``k``-th bar after the newest bar
complete at ``T``; once later bars exist, steps now in the past are dropped. A row older
than ``max_age_minutes`` is not used at all (the strategy then says it has no forecast
of its own).

Every cell is checked when the file is read; a bad one is reported with the file, line
(1 = header) and column. Parsed files are cached by path, modification time and size.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.bars import bar_period, utc
from lts.plugins.base import AssetInfo, MarketSnapshot, PluginError
from lts.plugins.pipeline._wrapping import (
    ATTR_MESSAGE,
    ATTR_MODEL,
    ATTR_STATUS,
    WrappedSourceConfig,
    WrappingPipeline,
)
from lts.plugins.pipeline.csv import PROJECT_ROOT, _inside_data_dir, _parse_times

_TIME_NAMES = ("timestamp", "datetime", "date_time", "time", "date")


class CsvPredictionsConfig(WrappedSourceConfig):
    """Settings of the precomputed-predictions pipeline."""

    file = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(min=1, max=255),
                                   lambda name: _inside_data_dir(name)],
                         metadata={"description": "Predictions file under data_dir; default "
                                                  "<symbol>_predictions.csv."})
    max_age_minutes = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False),
        metadata={"description": "Ignore a prediction row older than this (null: any age)."})


def predictions_file_name(symbol: str) -> str:
    """Default file of ``symbol``: ``EUR/USD`` -> ``EUR_USD_predictions.csv``."""
    return symbol.replace("/", "_").replace(":", "_").replace("\\", "_") + "_predictions.csv"


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions file: one float column per step on a sorted, unique UTC index.

    Raises :class:`PluginError` naming the file, line and column of the first bad cell.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise PluginError(f"predictions file {path} not found") from None
    except pd.errors.EmptyDataError:
        raise PluginError(f"{path.name}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PluginError(f"{path.name}: not a readable CSV file: {exc}") from exc
    names = [str(c).strip() for c in raw.columns]
    lowered = [n.lower() for n in names]
    time_column = next((names[lowered.index(n)] for n in _TIME_NAMES if n in lowered), None)
    if time_column is None:
        raise PluginError(f"{path.name} line 1: no time column (one of "
                          f"{', '.join(_TIME_NAMES)})")
    raw.columns = names
    steps = [n for n in names if n != time_column]
    if not steps:
        raise PluginError(f"{path.name} line 1: no prediction column after {time_column!r}")
    if raw.empty:
        raise PluginError(f"{path.name}: no prediction rows")
    lines = pd.RangeIndex(2, len(raw) + 2)  # line 1 is the header
    times = _parse_times(raw[time_column].astype(str), "UTC")
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise PluginError(f"{path.name} line {lines[row]}, column {time_column}: cannot read "
                          f"{raw[time_column].iloc[row]!r} as a time")
    values = np.empty((len(raw), len(steps)))
    for position, column in enumerate(steps):
        numbers = pd.to_numeric(raw[column].str.strip(), errors="coerce").to_numpy(float)
        wrong = np.flatnonzero(~np.isfinite(numbers) | (numbers <= 0))
        if len(wrong):
            row = int(wrong[0])
            raise PluginError(f"{path.name} line {lines[row]}, column {column}: "
                              f"{raw[column].iloc[row]!r} is not a positive price")
        values[:, position] = numbers
    index = pd.DatetimeIndex(times, name="time")
    duplicated = np.flatnonzero(index.duplicated())
    if len(duplicated):
        row = int(duplicated[0])
        raise PluginError(f"{path.name} line {lines[row]}, column {time_column}: "
                          f"{raw[time_column].iloc[row]!r} appears twice")
    frame = pd.DataFrame(values, index=index, columns=steps)
    return frame.sort_index()


class _FileCache:
    """Parsed prediction files by path, reused while modification time and size hold."""

    def __init__(self) -> None:
        self._items: dict[Path, tuple[tuple[int, int], pd.DataFrame]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> pd.DataFrame:
        """The predictions of ``path``, parsed again only when it changed."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise PluginError(f"predictions file {path} not found") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._items.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        frame = read_predictions(path)
        with self._lock:
            self._items[path] = (stamp, frame)
        return frame


_cache = _FileCache()


class CsvPredictionsPipeline(WrappingPipeline):
    """Bars from a source pipeline plus predictions read from a CSV file."""

    name = "csv_predictions"
    interface_version = "1.0"
    description = ("Precomputed predictions from a CSV file (timestamp + one column per "
                   "step), used only from their timestamp on.")
    config_schema = CsvPredictionsConfig

    def path_for(self, asset: AssetInfo) -> Path:
        """The asset's predictions file, refusing any path that leaves the data folder."""
        folder = Path(str(self.app_config.get("data_dir") or "data"))
        root = (folder if folder.is_absolute() else PROJECT_ROOT / folder).resolve()
        name = self.config.get("file") or predictions_file_name(asset.symbol)
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise PluginError(f"predictions file {name!r} is outside data_dir")
        return path

    def predict(self, asset: AssetInfo, snapshot: MarketSnapshot,
                now: datetime) -> pd.DataFrame | None:
        """The newest row made at or before ``now``, as forecasts of the coming bars."""
        path = self.path_for(asset)
        table = _cache.get(path)
        moment = utc(now)
        position = int(table.index.searchsorted(moment, side="right")) - 1
        if position < 0:
            return None  # no prediction made yet at now
        made_at = table.index[position]
        max_age = self.config.get("max_age_minutes")
        if max_age and moment - made_at > pd.Timedelta(minutes=float(max_age)):
            return None
        candles = snapshot.candles
        period = bar_period(candles.index)
        if period is None:
            return None
        # the newest bar complete when the row was made; step k is the k-th bar after it
        known = candles.index[candles.index + period <= made_at]
        base = known[-1] if len(known) else candles.index[0] - period
        steps = table.iloc[position].to_numpy(dtype=np.float64)
        index = pd.DatetimeIndex([base + period * (k + 1) for k in range(len(steps))],
                                 name="time")
        frame = pd.DataFrame({"close": steps}, index=index)
        frame = frame[frame.index > candles.index[-1]]
        if frame.empty:
            return None
        frame.attrs.update({ATTR_MODEL: f"csv {path.name}", ATTR_STATUS: "precomputed",
                            ATTR_MESSAGE: f"made at {made_at.isoformat()}"})
        return frame
