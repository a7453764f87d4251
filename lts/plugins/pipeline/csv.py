"""Pipeline ``csv``: OHLCV bars read from CSV files under the ``data_dir`` setting.

One file per symbol: ``file`` from the config, or ``<symbol>.csv`` with ``/`` and ``:``
in the symbol replaced by ``_`` (``EUR/USD`` -> ``EUR_USD.csv``). The path must stay
inside ``data_dir`` (a relative ``data_dir`` is relative to the project folder).

Accepted layouts (header names are case-insensitive, surrounding spaces ignored):

- one time column named ``timestamp``, ``time``, ``date``, ``datetime`` or ``date_time``
  holding ISO 8601 text (``2024-01-02T10:00:00Z``, ``2024-01-02 10:00``, ``2024.01.02``)
  or epoch seconds (milliseconds when the numbers are that large);
- ``date`` and ``time`` columns side by side (MetaTrader exports: ``2024.01.02,10:00``);
- then ``open``, ``high``, ``low``, ``close`` (``o/h/l/c`` accepted) and an optional
  ``volume`` (``vol``, ``tickvol``); other columns (``adj close``, ``spread``) are ignored;
- no header row at all, when the first line starts with a date or an epoch number:
  ``time,open,high,low,close[,volume]`` or ``date,time,open,high,low,close,volume``.

Each row's time is the **start** of its bar's period (as OANDA, most exchanges and
MetaTrader stamp candles); a bar is returned only once complete, at time + period
(``interval_minutes``, default the smallest step between two rows), never the forming
one: see :mod:`lts.plugins.bars`. Times without a zone are taken in ``timezone``
(default UTC). A row whose time or
prices cannot be read, or whose high/low do not bracket its open/close, is reported as
a :class:`~lts.plugins.base.PluginError` naming the file and line. Parsed files are
cached by path, modification time and size, so a changed file is read again.
"""

from __future__ import annotations

import re
import threading
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any

import marshmallow
import numpy as np
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.bars import bar_period, bars_between, complete_bars, resample, utc
from lts.plugins.base import (
    AssetInfo,
    MarketSnapshot,
    PipelinePlugin,
    PluginError,
    PluginSetting,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
_TIME_NAMES = ("timestamp", "datetime", "date_time", "time", "date")
_ALIASES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last", "price"),
    "volume": ("volume", "vol", "tickvol", "tick_volume", "v"),
}
_MAX_REPORTED = 5
#: Column names assumed for files without a header row, by column count.
_HEADERLESS = {
    5: ("timestamp", "open", "high", "low", "close"),
    6: ("timestamp", "open", "high", "low", "close", "volume"),
    7: ("date", "time", "open", "high", "low", "close", "volume"),
}


class CsvConfig(marshmallow.Schema):
    """Settings of the CSV pipeline."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    file = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(min=1, max=255),
                                   lambda name: _inside_data_dir(name)],
                         metadata={"description": "File under data_dir; default "
                                                  "<symbol>.csv."})
    lookback = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1_000_000),
                              metadata={"description": "Number of bars returned."})
    timezone = fields.String(load_default="UTC", validate=lambda zone: _known_zone(zone),
                             metadata={"description": "Zone of times written without one."})
    interval_minutes = fields.Float(
        load_default=None, allow_none=True,
        validate=validate.Range(min=0, max=527_040, min_inclusive=False),
        metadata={"description": "Minutes one bar lasts (rows are stamped by the start of "
                                 "their bar; a bar is returned once complete). Default: "
                                 "the smallest step between two rows."})
    resample_minutes = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=527_040),
        metadata={"description": "Aggregate the file's bars into bars of this many minutes "
                                 "(stamped by their start, aligned on the hour/epoch, "
                                 "complete ones only). Default: the file's own bars."})


_DRIVE = re.compile(r"^[A-Za-z]:")


def _inside_data_dir(name: str) -> bool:
    """Refuse, when the config is saved, a ``file`` that could leave ``data_dir``.

    Only a plain relative path of named parts is accepted: no absolute path, drive
    letter, backslash, ``.``/``..`` part, empty part or control character. The check
    at read time (:meth:`CsvPipeline.path_for`) stays for symbolic links.
    """
    parts = name.split("/")
    if (name.startswith("/") or "\\" in name or _DRIVE.match(name)
            or any(part in ("", ".", "..") for part in parts)
            or any(ord(char) < 32 or ord(char) == 127 for char in name)):
        raise marshmallow.ValidationError(
            "must be a file name under data_dir, such as EURUSD.csv or fx/EURUSD.csv "
            "(no absolute path, no '..', no backslash)")
    return True


def _known_zone(zone: str) -> bool:
    """Refuse a time zone name the zone database does not know."""
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise marshmallow.ValidationError(f"unknown time zone {zone!r}") from None
    return True


class _FileCache:
    """Parsed files by path, reused while modification time and size are unchanged."""

    def __init__(self) -> None:
        self._items: dict[Path, tuple[tuple[int, int, str], pd.DataFrame]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, timezone: str) -> pd.DataFrame:
        """Return the bars of ``path``, parsing it only when it changed."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise PluginError(f"CSV file {path} not found") from None
        stamp = (stat.st_mtime_ns, stat.st_size, timezone)
        with self._lock:
            cached = self._items.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        frame = read_ohlcv(path, timezone)
        with self._lock:
            self._items[path] = (stamp, frame)
        return frame


_cache = _FileCache()


def _normalise(name: Any) -> str:
    """Lower-case a header and turn spaces and dashes into underscores."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_").strip("<>")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    """Return the first of ``names`` present in ``columns``."""
    return next((name for name in names if name in columns), None)


def _parse_times(text: pd.Series, timezone: str) -> pd.Series:
    """Parse ISO text or epoch numbers into UTC timestamps; NaT where unreadable."""
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all() and len(numbers):
        unit = "ms" if float(numbers.abs().max()) >= 1e11 else "s"
        return pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    cleaned = text.str.strip().str.replace(r"^(\d{4})\.(\d{2})\.(\d{2})", r"\1-\2-\3",
                                           regex=True)
    zoned = cleaned.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if zoned.any():
        parsed[zoned] = _to_datetime(cleaned[zoned], utc=True)
    if (~zoned).any():
        naive = _to_datetime(cleaned[~zoned], utc=False)
        try:
            local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        except Exception as exc:  # an unknown zone name
            raise PluginError(f"unknown timezone {timezone!r}: {exc}") from exc
        parsed[~zoned] = local.dt.tz_convert("UTC")
    return parsed


def _to_datetime(text: pd.Series, *, utc: bool) -> pd.Series:
    """Parse ISO 8601 text, falling back to element-wise parsing; NaT where unreadable."""
    try:
        return pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    except (ValueError, TypeError):
        return pd.to_datetime(text, format="mixed", errors="coerce", utc=True).dt.tz_convert(
            None if not utc else "UTC")


def _bad_rows(path: Path, lines: pd.Index, problem: str) -> PluginError:
    """Build the error naming the file and the first bad lines."""
    shown = ", ".join(str(int(line)) for line in lines[:_MAX_REPORTED])
    more = f" and {len(lines) - _MAX_REPORTED} more" if len(lines) > _MAX_REPORTED else ""
    return PluginError(f"{path.name} line {shown}{more}: {problem}")


def read_ohlcv(path: Path, timezone: str = "UTC") -> pd.DataFrame:
    """Read a CSV file of bars into open/high/low/close/volume on a sorted UTC index."""
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False,
                          skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PluginError(f"{path.name}: not a readable CSV file: {exc}") from exc
    except pd.errors.EmptyDataError:
        raise PluginError(f"{path.name}: the file is empty") from None
    raw.columns = [_normalise(c) for c in raw.columns]
    first_line = 2  # line numbers as a text editor shows them: the header is line 1
    headerless = _HEADERLESS.get(len(raw.columns))
    if headerless and re.match(r"^\d{4}[-./]\d{2}[-./]\d{2}|^\d{9,}$", str(raw.columns[0])):
        # No header row (MetaTrader history exports): the first line is data.
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False,
                          header=None, names=list(headerless))
        first_line = 1
    columns = list(raw.columns)
    raw.index = pd.RangeIndex(first_line, len(raw) + first_line)

    date_col, time_col = _find(columns, ("date",)), _find(columns, ("time",))
    if date_col and time_col:
        times_text = raw[date_col].str.strip() + " " + raw[time_col].str.strip()
    else:
        single = _find(columns, _TIME_NAMES)
        if single is None:
            raise PluginError(f"{path.name} line 1: no time column (expected one of "
                              f"{', '.join(_TIME_NAMES)}, or date and time)")
        times_text = raw[single]
    chosen = {key: _find(columns, aliases) for key, aliases in _ALIASES.items()}
    missing = [key for key in ("open", "high", "low", "close") if chosen[key] is None]
    if missing:
        raise PluginError(f"{path.name} line 1: missing column(s) {', '.join(missing)}")

    times = _parse_times(times_text, timezone)
    bad = times.isna()
    if bad.any():
        raise _bad_rows(path, raw.index[bad], "unreadable time")
    frame = pd.DataFrame(index=pd.DatetimeIndex(times.to_numpy(), name="time"))
    for key in ("open", "high", "low", "close", "volume"):
        source = chosen[key]
        if source is None:
            frame[key] = 0.0
            continue
        values = pd.to_numeric(raw[source].str.strip(), errors="coerce")
        invalid = values.isna() | ~np.isfinite(values) | (values < 0)
        if key != "volume":
            invalid |= values <= 0
        if invalid.any():
            raise _bad_rows(path, raw.index[invalid.to_numpy()],
                            f"{source} is not a valid {'volume' if key == 'volume' else 'price'}")
        frame[key] = values.to_numpy(dtype=np.float64)
    inconsistent = ((frame["high"] < frame[["open", "close", "low"]].max(axis=1))
                    | (frame["low"] > frame[["open", "close", "high"]].min(axis=1)))
    if inconsistent.any():
        raise _bad_rows(path, raw.index[inconsistent.to_numpy()],
                        "high/low do not bracket open and close")
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs["period"] = bar_period(frame.index)  # computed once per parse, see _period
    return frame


def file_name_for(symbol: str) -> str:
    """Return the default file name of ``symbol``: ``EUR/USD`` -> ``EUR_USD.csv``."""
    return symbol.replace("/", "_").replace(":", "_").replace("\\", "_") + ".csv"


class CsvPipeline(PipelinePlugin):
    """Bars from a CSV file per symbol under ``data_dir``."""

    name = "csv"
    interface_version = "1.0"
    description = "OHLCV bars from CSV files under data_dir (common column layouts)."
    config_schema = CsvConfig
    # LTS's own data_dir setting, shared: the only global this plugin reads.
    settings = (PluginSetting("data_dir", str, "data",
                              "Folder of CSV market data (relative to the project)."),)

    def data_dir(self) -> Path:
        """Return the data folder: ``data_dir`` from the app config, under the project."""
        folder = Path(str(self.app_config.get("data_dir") or "data"))
        return folder if folder.is_absolute() else PROJECT_ROOT / folder

    def path_for(self, asset: AssetInfo) -> Path:
        """Return the file of ``asset``, refusing any path that leaves the data folder."""
        root = self.data_dir().resolve()
        path = (root / (self.config.get("file") or file_name_for(asset.symbol))).resolve()
        if not path.is_relative_to(root):
            raise PluginError(f"CSV file {self.config.get('file')!r} is outside data_dir")
        return path

    def all_bars(self, asset: AssetInfo) -> pd.DataFrame:
        """Return every bar of the asset's file (cached; never modify it)."""
        return _cache.get(self.path_for(asset), str(self.config.get("timezone") or "UTC"))

    def period(self, bars: pd.DataFrame) -> pd.Timedelta | None:
        """How long one bar lasts: ``interval_minutes``, else the file's smallest step."""
        minutes = self.config.get("interval_minutes")
        if minutes:
            return pd.Timedelta(minutes=float(minutes))
        period = bars.attrs.get("period")
        return period if period is not None else bar_period(bars.index)

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Return the last ``lookback`` bars complete at ``now`` (never the forming one)."""
        lookback = int(self.config["lookback"])
        bars = self.all_bars(asset)
        target = self._target_period()
        if target is None:
            # pandas copy-on-write: a strategy writing to the slice never touches the cache.
            done = complete_bars(bars, now, self.period(bars))
        else:  # only the source bars the last ``lookback`` periods need
            since = utc(now) - (lookback + 1) * target
            done = self._resampled(bars.iloc[bars.index.searchsorted(since):], now)
        return MarketSnapshot(symbol=asset.symbol, as_of=now, candles=done.iloc[-lookback:])

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the bars stamped from ``start`` and complete at ``end``, all of them."""
        first = utc(start, "start")
        bars = self.all_bars(asset)
        target = self._target_period()
        if target is None:
            return bars_between(bars, start, end, self.period(bars))
        done = self._resampled(bars.iloc[bars.index.searchsorted(first - target):], end)
        return done[done.index >= first]

    def _target_period(self) -> pd.Timedelta | None:
        """The resampled bars' period, or None for the file's own bars."""
        minutes = self.config.get("resample_minutes")
        return pd.Timedelta(minutes=int(minutes)) if minutes else None

    def _resampled(self, source: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """``source`` (file bars) as ``resample_minutes`` bars complete at ``now``."""
        target = self._target_period()
        assert target is not None
        return resample(source, target, now, source_period=self.period(source))
