"""History for a backtest of a stored portfolio: each asset's own pipeline, saved as CSV.

A backtest replays files (:mod:`lts.backtest.data`, the ``csv`` pipeline); a stored
portfolio's assets read a ``synthetic``, ``csv``, ``oanda``... pipeline. As
``flask lts data fetch`` does, every active asset's pipeline is asked for its complete
bars (``bars(asset, start, end)``) and they are written as ``<symbol>.csv`` into a
folder of the run's own, so the replay sees exactly the history the live loop would
have seen, whatever the pipeline. ``lookback`` bars before ``from`` are fetched too:
the strategy's warm-up, as a live snapshot would give it.

Every problem is a :class:`~lts.errors.ValidationFailed` naming the request's field
(``portfolio_id``, ``from``, ``to``), never a 500.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Flask

from lts.backtest.data import BarData, load_bars
from lts.errors import ValidationFailed
from lts.models import Asset
from lts.plugins.bars import bar_period
from lts.plugins.base import AssetInfo
from lts.plugins.pipeline.csv import file_name_for
from lts.trading.plugin_source import RegistryPluginSource

#: The CLI's option names (what :mod:`lts.backtest` reports) -> the request's fields.
FIELD_OF_OPTION = {"--from": "from", "--to": "to", "--portfolio": "portfolio_id",
                   "--data-dir": "portfolio_id", "--config": "portfolio_id",
                   "capital": "portfolio_id", "portfolio_config": "portfolio_id"}


def renamed(exc: ValidationFailed) -> ValidationFailed:
    """``exc`` with the CLI's option names replaced by the request's field names."""
    fields: dict[str, list[str]] = {}
    for name, messages in exc.fields.items():
        field = FIELD_OF_OPTION.get(name, "portfolio_id" if name.startswith("assets[") else name)
        prefix = f"{name}: " if name.startswith("assets[") else ""
        fields.setdefault(field, []).extend(prefix + m for m in messages)
    return ValidationFailed(exc.message, fields)


def _history(source: RegistryPluginSource, asset: Asset, start: datetime, end: datetime
             ) -> pd.DataFrame:
    """The asset's complete bars in [start - lookback periods, end), through its pipeline."""
    from lts.plugins.base import PluginError
    from lts.plugins.registry import PluginRegistryError

    where = f"asset {asset.symbol} (pipeline {asset.pipeline_plugin})"
    try:
        pipeline: Any = source.get("pipeline", asset.pipeline_plugin,
                                   dict(asset.pipeline_config or {}))
        info = AssetInfo(id=asset.id, portfolio_id=asset.portfolio_id, symbol=asset.symbol,
                         name=asset.name, allocated_capital=asset.allocated_capital,
                         pipeline_config=dict(pipeline.config))
        inside = pipeline.bars(info, start, end)
        period = bar_period(inside.index) if len(inside) >= 2 else None
        if period is None:
            raise ValidationFailed("not enough history", {"from": [
                f"{where} has {len(inside)} bar(s) between {start.isoformat()} and "
                f"{end.isoformat()}: a backtest needs at least two"]})
        lookback = int(pipeline.config.get("lookback") or 200)
        warm_up = pipeline.bars(info, start - lookback * period.to_pytimedelta(), start)
    except (PluginRegistryError, PluginError) as exc:
        raise ValidationFailed("no history", {"portfolio_id": [f"{where}: {exc}"]}) from None
    frames = [frame for frame in (warm_up, inside) if len(frame)]
    bars = pd.concat(frames) if len(frames) > 1 else frames[0]
    return bars[~bars.index.duplicated(keep="last")].sort_index()


def write_csv(bars: pd.DataFrame, path: Path) -> None:
    """Bars as the ``csv`` pipeline reads them (what ``flask lts data fetch`` writes)."""
    written = bars[["open", "high", "low", "close", "volume"]].copy()
    written.index = written.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    written.index.name = "time"
    written.to_csv(path)


def fetch_history(app: Flask, assets: list[Asset], start: datetime, end: datetime
                  ) -> tuple[BarData, Path]:
    """Every asset's history as CSV in a new folder, loaded; the caller removes the folder.

    The folder is returned even though :class:`BarData` names it: the run removes it
    when it ends (and here it is removed at once when the data is refused).
    """
    source = RegistryPluginSource(app)
    folder = Path(tempfile.mkdtemp(prefix="lts-backtest-data-"))
    try:
        files: dict[str, str] = {}
        for asset in assets:
            name = file_name_for(asset.symbol)
            write_csv(_history(source, asset, start, end), folder / name)
            files[asset.symbol] = name
        data = load_bars(folder, [a.symbol for a in assets], start, end, files)
    except ValidationFailed as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise renamed(exc) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return data, folder

