"""The ``hourly_csv`` pipeline: the built-in ``csv`` pipeline's files as hourly bars.

It wraps a built-in through public import paths only: :class:`CsvPipeline` reads and
caches the files (``all_bars``, ``period``), :mod:`lts.plugins.bars` cuts and
resamples by the bar-time rules (stamped by period start, complete hours only, nothing
after ``now``).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from lts.plugins.bars import bars_between, resample
from lts.plugins.base import AssetInfo, MarketSnapshot
from lts.plugins.pipeline.csv import CsvConfig, CsvPipeline

HOUR = pd.Timedelta(hours=1)


class HourlyCsvConfig(CsvConfig):
    """The csv pipeline's settings; ``resample_minutes`` is fixed at 60 here."""

    class Meta(CsvConfig.Meta):
        """Unknown keys are errors; resample_minutes is not this plugin's to set."""

        exclude = ("resample_minutes",)


class HourlyCsv(CsvPipeline):
    """Hourly bars built from the CSV files under data_dir (complete hours only)."""

    name = "hourly_csv"
    interface_version = "1.0"
    description = "CSV files under data_dir, as hourly bars (complete hours only)."
    config_schema = HourlyCsvConfig

    def _hours(self, asset: AssetInfo, now: datetime) -> pd.DataFrame:
        """Every hourly bar complete at ``now``."""
        bars = self.all_bars(asset)
        return resample(bars, HOUR, now, source_period=self.period(bars))

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """The last ``lookback`` complete hours."""
        hours = self._hours(asset, now).iloc[-int(self.config["lookback"]):]
        return MarketSnapshot(symbol=asset.symbol, candles=hours, as_of=now)

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """The hours stamped from ``start`` and complete at ``end``."""
        return bars_between(self._hours(asset, end), start, end, HOUR)
