"""``flask lts predict`` and ``flask lts data concat``: the seed's price-file scripts as commands.

Both read price files with the ``csv`` pipeline's reader (:func:`read_ohlcv`: the same
layouts, and a bad row is reported with its file and line), so a file that works here
works as market data and the other way round. Neither needs the database.

- ``predict`` fits the ``arima`` pipeline's model on the last ``--window`` closes of
  each file and prints (or writes as CSV) the next ``--horizon`` forecasts with their
  interval; a fit that fails falls back to the naive forecast and says so. Many files
  show a progress bar (on stderr, so the printed forecasts stay clean).
- ``data concat`` merges price files by timestamp: exact duplicates are removed,
  conflicting rows (one time, different prices) are reported and the first file's row
  kept, and gaps longer than the bar period are listed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from lts.plugins.bars import COLUMNS, bar_period
from lts.plugins.base import PluginError

_MAX_LISTED = 10


def register_data_commands(group: click.Group) -> None:
    """Add ``predict`` and ``data`` to the ``flask lts`` group."""
    group.add_command(predict_command)
    group.add_command(data_group)


def _order(text: str) -> tuple[int, int, int]:
    """Parse ``p,d,q``."""
    try:
        parts = tuple(int(part) for part in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0:
        raise click.BadParameter(f"{text!r}: give three non-negative integers p,d,q",
                                 param_hint="--order")
    return parts  # type: ignore[return-value]


def forecast_file(path: Path, params: Any) -> pd.DataFrame:
    """The forecast rows of one price file (model, or naive fallback with the reason)."""
    from lts.plugins.pipeline._wrapping import forecast_index
    from lts.plugins.pipeline.arima import FitFailed, fit_arima, model_forecast, naive_forecast
    from lts.plugins.pipeline.csv import read_ohlcv

    bars = read_ohlcv(path)
    if len(bars) < 2:
        raise PluginError(f"{path.name}: {len(bars)} bar(s); a forecast needs more")
    closes = bars["close"].to_numpy(dtype=float)[-params.window:]
    status, message = "fitted", ""
    try:
        results = fit_arima(closes, params)
        mean, lower, upper = model_forecast(results, params.horizon, params.interval_level)
    except FitFailed as exc:
        status, message = "fallback", str(exc)
        mean, lower, upper = naive_forecast(closes, params.horizon, params.interval_level)
    index = forecast_index(bars, params.horizon)
    return pd.DataFrame({
        "file": path.name, "timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "step": range(1, params.horizon + 1), "close": mean, "lower": lower, "upper": upper,
        "model": params.label, "status": status, "message": message})


@click.command("predict")
@click.option("--csv", "files", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A price file (repeat for many).")
@click.option("--horizon", type=click.IntRange(1, 1000), required=True,
              help="Bars to forecast.")
@click.option("--order", "order_text", default="1,1,1", show_default=True,
              help="ARIMA order p,d,q.")
@click.option("--window", type=click.IntRange(20, 100_000), default=200, show_default=True,
              help="Closes the model is fitted on (the newest ones).")
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.8, show_default=True,
              help="Coverage of the prediction interval.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the forecasts to this CSV file instead of printing them.")
def predict_command(files: tuple[Path, ...], horizon: int, order_text: str, window: int,
                    level: float, out: Path | None) -> None:
    """Print (or write as CSV) an ARIMA forecast of each price file's next bars."""
    from lts.plugins.pipeline.arima import ArimaParams

    params = ArimaParams(order=_order(order_text), horizon=horizon, window=window,
                         interval_level=level)
    frames, failures = [], []
    with click.progressbar(files, label="forecasting", file=sys.stderr,
                           hidden=len(files) < 2) as progress:
        for path in progress:
            try:
                frames.append(forecast_file(path, params))
            except PluginError as exc:
                failures.append(f"{path}: {exc}")
    for failure in failures:
        click.echo(f"Error: {failure}", err=True)
    if frames:
        table = pd.concat(frames, ignore_index=True)
        if out is not None:
            table.to_csv(out, index=False, float_format="%.10g")
            click.echo(f"{len(table)} forecasts of {len(frames)} file(s) written to {out}.")
        else:
            for row in table.itertuples(index=False):
                note = f"  {row.status}: {row.message}" if row.status == "fallback" else ""
                click.echo(f"{row.file} {row.timestamp} +{row.step} {row.close:.6g} "
                           f"[{row.lower:.6g}, {row.upper:.6g}] {row.model}{note}")
    if failures:
        sys.exit(1)


@click.group("data")
def data_group() -> None:
    """Price-file utilities."""


def merge_price_files(paths: list[Path]) -> tuple[pd.DataFrame, int, list[str], list[str]]:
    """Merge bars by time: (merged, duplicates removed, conflicts, gaps).

    An identical row found twice is a duplicate; one time with different prices is a
    conflict, reported with both files, and the first file's row is kept.
    """
    from lts.plugins.pipeline.csv import read_ohlcv

    frames = []
    for position, path in enumerate(paths):
        bars = read_ohlcv(path).loc[:, list(COLUMNS)].copy()
        bars["source_file"] = path.name
        bars["source_order"] = position
        frames.append(bars)
    # by time, and at one time in the order the files were given (the first file wins)
    combined = pd.concat(frames).sort_values("source_order", kind="stable")
    combined = combined.sort_index(kind="stable")
    exact = combined.reset_index().duplicated(subset=["time", *COLUMNS]).to_numpy()
    duplicates = int(exact.sum())
    combined = combined[~exact]
    repeated = combined.index.duplicated(keep="first")
    conflicts = []
    for stamp in combined.index[repeated].unique():
        rows = combined.loc[[stamp]]
        kept, *others = list(rows.itertuples())
        for other in others:
            conflicts.append(
                f"{stamp.isoformat()}: {kept.source_file} has close {kept.close:g}, "
                f"{other.source_file} has close {other.close:g} (kept {kept.source_file})")
    merged = combined[~repeated].drop(columns=["source_file", "source_order"])
    gaps = []
    period = bar_period(merged.index)
    if period is not None:
        steps = merged.index[1:] - merged.index[:-1]
        for at in (steps > period).nonzero()[0]:
            gaps.append(f"{merged.index[at].isoformat()} -> "
                        f"{merged.index[at + 1].isoformat()} ({steps[at]})")
    return merged, duplicates, conflicts, gaps


@data_group.command("concat")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged CSV file to write.")
def concat_command(files: tuple[Path, ...], out: Path) -> None:
    """Merge price files by timestamp; report duplicates, conflicting rows and gaps."""
    try:
        merged, duplicates, conflicts, gaps = merge_price_files(list(files))
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    written = merged.copy()
    written.insert(0, "timestamp", merged.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    written.to_csv(out, index=False, float_format="%.10g")
    click.echo(f"{len(merged)} bars from {len(files)} file(s) written to {out}; "
               f"{duplicates} duplicate row(s) removed.")
    for title, lines in (("conflicting rows", conflicts), ("gaps", gaps)):
        if lines:
            click.echo(f"{len(lines)} {title}:")
            for line in lines[:_MAX_LISTED]:
                click.echo(f"  {line}")
            if len(lines) > _MAX_LISTED:
                click.echo(f"  ... and {len(lines) - _MAX_LISTED} more")
