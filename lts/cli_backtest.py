"""``flask lts backtest`` and ``flask lts data fetch``: replay history, save history.

``backtest`` replays a stored portfolio (``--portfolio ID``, only read) or a JSON spec
(``--config FILE``) over the bars of ``--data-dir`` from ``--from`` to ``--to`` through
the same plugins and engine as the live loop, on a throw-away database (see
:mod:`lts.backtest.runner`), with a progress bar (bars, ETA) on stderr; it prints the
report table and writes report.json, equity.csv, trades.csv, orders.csv and fills.csv
to ``--out``. ``data fetch`` saves the bars of any pipeline (``bars(asset, start,
end)``) as a CSV file the ``csv`` pipeline and backtests read. Neither writes to the
live database. Bad arguments name the option.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from lts.errors import ServiceError


def register_backtest_commands(group: click.Group, data_group: click.Group) -> None:
    """Add ``backtest`` to ``flask lts`` and ``fetch`` to ``flask lts data``."""
    group.add_command(backtest_command)
    data_group.add_command(fetch_command)


def _failure(exc: ServiceError) -> click.ClickException:
    """A service error as one line naming each option."""
    details = "; ".join(f"{name}: {message}" for name, messages in exc.fields.items()
                        for message in messages)
    return click.ClickException(f"{exc.message}: {details}" if details else exc.message)


def _data_dir(given: Path | None) -> Path:
    """``--data-dir``, else the app's ``data_dir`` (relative to the project, as csv reads it)."""
    if given is not None:
        return given
    from lts.plugins.pipeline.csv import PROJECT_ROOT

    folder = Path(str(current_app.config["LTS"].get("data_dir") or "data"))
    return folder if folder.is_absolute() else PROJECT_ROOT / folder


@click.command("backtest")
@click.option("--portfolio", "portfolio_id", type=int, help="A stored portfolio's id (read only).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A JSON backtest spec instead of a stored portfolio.")
@click.option("--from", "date_from", required=True, help="First bar (ISO 8601, UTC if no zone).")
@click.option("--to", "date_to", required=True, help="End of the range (exclusive).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of <symbol>.csv files (default: the data_dir setting).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.json, equity.csv, trades.csv, orders.csv, fills.csv.")
@click.option("--walk-forward", type=int, default=0,
              help="Also report the metrics over N consecutive windows.")
@with_appcontext
def backtest_command(portfolio_id: int | None, config_file: Path | None, date_from: str,
                     date_to: str, data_dir: Path | None, out: Path | None,
                     walk_forward: int) -> None:
    """Replay a portfolio over history on in-memory books; print and save the report."""
    from lts.backtest.data import load_bars
    from lts.backtest.memory import MemoryReplay
    from lts.backtest.report import build_report, format_table, write_all
    from lts.backtest.runner import run_backtest
    from lts.backtest.specs import parse_date, spec_from_file, spec_from_portfolio
    from lts.trading.plugin_source import RegistryPluginSource

    if (portfolio_id is None) == (config_file is None):
        raise click.UsageError("give exactly one of --portfolio ID or --config FILE")
    if walk_forward < 0:
        raise click.BadParameter("must be 0 (off) or more", param_hint="--walk-forward")
    try:
        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        if portfolio_id is not None:
            spec = spec_from_portfolio(portfolio_id, start, end)
        else:
            assert config_file is not None
            spec = spec_from_file(config_file, start, end)
        files = {a.symbol: a.file for a in spec.assets if a.file}
        data = load_bars(_data_dir(data_dir), [a.symbol for a in spec.assets], start, end,
                         files)
        if walk_forward > len(data.ticks()):
            raise click.BadParameter(f"{walk_forward} windows for {len(data.ticks())} bars",
                                     param_hint="--walk-forward")
        for gap in data.gaps[:10]:
            click.echo(f"gap: {gap.describe()}", err=True)
        if len(data.gaps) > 10:
            click.echo(f"gap: ... and {len(data.gaps) - 10} more", err=True)
        with click.progressbar(length=len(data.ticks()), label="bars", show_eta=True,
                               show_pos=True, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            # The app's plugins (stored secrets decrypt with its key); books in memory.
            replay = MemoryReplay(RegistryPluginSource(current_app))
            result = run_backtest(spec, data, replay, progress=progress)
    except ServiceError as exc:
        raise _failure(exc) from None
    report = build_report(result, walk_forward)
    click.echo(format_table(report))
    for window in report.get("walk_forward", []):
        m = window["portfolio"]
        click.echo(f"window {window['window']} {window['from']} .. {window['to']}: "
                   f"return {m['total_return'] * 100:+.2f}%, max drawdown "
                   f"{m['max_drawdown'] * 100:.2f}%, trades {m['trades']}")
    for halt in result.halts:
        click.echo(f"halted: {halt}")
    for error in result.errors[:10]:
        click.echo(f"error: {error}", err=True)
    if out is not None:
        for path in write_all(result, report, out):
            click.echo(f"wrote {path}")


@click.command("fetch")
@click.option("--pipeline", "pipeline", required=True, help="Pipeline plugin name (oanda...).")
@click.option("--symbol", required=True, help="Instrument, as the pipeline names it.")
@click.option("--from", "date_from", required=True, help="First bar (ISO 8601, UTC if no zone).")
@click.option("--to", "date_to", required=True, help="End of the range (exclusive).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The CSV file to write.")
@click.option("--pipeline-config", "config_text", default="{}",
              help="The pipeline's config as JSON (e.g. granularity, account).")
@with_appcontext
def fetch_command(pipeline: str, symbol: str, date_from: str, date_to: str, out: Path,
                  config_text: str) -> None:
    """Save a pipeline's bars of SYMBOL from --from to --to as CSV (for backtests)."""
    from lts.backtest.specs import parse_date
    from lts.plugins.base import AssetInfo, PluginError
    from lts.plugins.registry import PluginConfigError, UnknownPlugin, get_registry

    try:
        config: Any = json.loads(config_text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param_hint="--pipeline-config"
                                 ) from None
    if not isinstance(config, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--pipeline-config")
    try:
        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    except ServiceError as exc:
        raise _failure(exc) from None
    if end <= start:
        raise click.BadParameter(f"{date_to} is not after --from", param_hint="--to")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        plugin: Any = get_registry(app).create("pipeline", pipeline, config, app.config["LTS"])
    except UnknownPlugin:
        raise click.BadParameter(f"no pipeline plugin named {pipeline!r}",
                                 param_hint="--pipeline") from None
    except PluginConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--pipeline-config") from None
    asset = AssetInfo(id=0, portfolio_id=0, symbol=symbol, name=symbol, allocated_capital=0.0,
                      pipeline_config=config)
    try:
        bars = plugin.bars(asset, start, end)
    except PluginError as exc:
        raise click.ClickException(f"--pipeline {pipeline}: {exc}") from None
    if bars.empty:
        raise click.ClickException(f"no bars of {symbol} between {start.isoformat()} and "
                                   f"{end.isoformat()} (--from/--to)")
    written = bars[["open", "high", "low", "close", "volume"]].copy()
    written.index = written.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    written.index.name = "time"
    out.parent.mkdir(parents=True, exist_ok=True)
    written.to_csv(out)
    click.echo(f"wrote {len(written)} bars of {symbol} ({written.index[0]} .. "
               f"{written.index[-1]}) to {out}")
