"""Bars for a backtest: one CSV file per symbol in a data folder.

Files are read with the ``csv`` pipeline's parser (:func:`read_ohlcv`), so every layout
the live pipeline reads works here, and a bad row is named by its file and line. The
replay reads the same files through the ``csv`` pipeline, so a strategy sees in a
backtest exactly the bars (and warm-up history before ``--from``) it would see live.

- bars are stamped by the start of their period (SPEC 2a "Bar time"); the range keeps
  the bars stamped in ``[start, end)``;
- holes (two bars further apart than the period) are reported as :class:`Gap`, never
  filled: the replay simply has no tick there;
- an empty range is an error naming ``--from``/``--to``; a missing or bad file one
  naming ``--data-dir``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lts.backtest.result import Gap
from lts.errors import ValidationFailed
from lts.plugins.bars import bar_period
from lts.plugins.base import PluginError
from lts.plugins.pipeline.csv import file_name_for, read_ohlcv


@dataclass(frozen=True)
class BarData:
    """The bars of every symbol inside the range, their common period, and the gaps."""

    data_dir: Path
    bars: Mapping[str, pd.DataFrame]
    files: Mapping[str, str]
    period: pd.Timedelta
    start: datetime
    end: datetime
    gaps: tuple[Gap, ...] = ()

    def ticks(self) -> pd.DatetimeIndex:
        """When the replay ticks: each time a bar of any symbol becomes complete, in order."""
        ends = [frame.index + self.period for frame in self.bars.values()]
        if not ends:
            return pd.DatetimeIndex([], tz="UTC")
        joined = ends[0]
        for more in ends[1:]:
            joined = joined.union(more)
        return joined.sort_values()


def find_gaps(symbol: str, index: pd.DatetimeIndex, period: pd.Timedelta) -> list[Gap]:
    """Every step between consecutive bars longer than ``period``."""
    if len(index) < 2:
        return []
    steps = np.diff(index.asi8)
    unit = pd.Timedelta(1, unit=index.unit).value  # ns per index unit
    wide = np.flatnonzero(steps * unit > period.value)
    return [Gap(symbol=symbol, after=index[i].to_pydatetime(),
                before=index[i + 1].to_pydatetime(),
                missing_bars=int(steps[i] * unit // period.value) - 1) for i in wide]


def read_symbol(data_dir: Path, symbol: str, file: str | None = None) -> pd.DataFrame:
    """Every bar of ``symbol``'s file; ValidationFailed naming ``--data-dir`` and the line."""
    path = data_dir / (file or file_name_for(symbol))
    if not path.is_file():
        raise ValidationFailed("no data file", {"--data-dir": [
            f"{path} does not exist (symbol {symbol}; expected {file_name_for(symbol)}, "
            f"or fetch it with `flask lts data fetch`)"]})
    try:
        return read_ohlcv(path)
    except PluginError as exc:
        raise ValidationFailed("bad data file", {"--data-dir": [
            f"{path.parent}/{exc}"]}) from None


def load_bars(data_dir: Path, symbols: Sequence[str], start: datetime, end: datetime,
              files: Mapping[str, str] | None = None) -> BarData:
    """Read the bars of ``symbols`` stamped in ``[start, end)`` from ``data_dir``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("naive time", {"--from": ["give times with a zone (UTC)"]})
    if end <= start:
        raise ValidationFailed("empty range", {"--to": [
            f"{end.isoformat()} is not after --from {start.isoformat()}"]})
    if not symbols:
        raise ValidationFailed("no symbols", {"--portfolio": ["the portfolio has no assets"]})
    files = dict(files or {})
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValidationFailed("no data folder", {"--data-dir": [f"{data_dir} is not a folder"]})
    chosen: dict[str, pd.DataFrame] = {}
    periods = []
    for symbol in symbols:
        whole = read_symbol(data_dir, symbol, files.get(symbol))
        period = whole.attrs.get("period") or bar_period(whole.index)
        if period is not None:
            periods.append(period)
        inside = whole[(whole.index >= pd.Timestamp(start)) & (whole.index < pd.Timestamp(end))]
        chosen[symbol] = inside
        files.setdefault(symbol, file_name_for(symbol))
    if not periods:
        raise ValidationFailed("too few bars", {"--data-dir": [
            "every file has fewer than two bars: the bar period is unknown"]})
    period = min(periods)
    empty = [s for s, frame in chosen.items() if frame.empty]
    if len(empty) == len(chosen):
        raise ValidationFailed("empty range", {"--from": [
            f"no bar of {', '.join(symbols)} is stamped between {start.isoformat()} and "
            f"{end.isoformat()} in {data_dir}"]})
    gaps = [gap for s, frame in chosen.items() for gap in find_gaps(s, frame.index, period)]
    return BarData(data_dir=data_dir, bars=chosen, files=files, period=period, start=start,
                   end=end, gaps=tuple(gaps))
