"""Stored backtests: start one for a portfolio and a range, list, read and compare them.

The dashboard and the API call the same functions. :func:`start` checks everything a
user can get wrong before anything is stored (the portfolio is theirs, the range is
real and in the past, its assets' pipelines have history there: each problem a
:class:`~lts.errors.ValidationFailed` naming ``portfolio_id``, ``from`` or ``to``),
fetches that history (:mod:`lts.services.backtest_data`), stores the run ``queued`` and
hands it to the process's bounded pool (:mod:`lts.services.backtest_pool`), which
replays it through the same engine as the live loop and stores the report.

Who may see a run is the aaa plugin's answer, as for every object: a run carries its
owner's ``user_id``; another user's run is the same NotFound as a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from lts.backtest.report import METRICS
from lts.backtest.specs import parse_date, spec_from_portfolio
from lts.database import write_transaction
from lts.errors import Conflict, NotFound, ValidationFailed
from lts.extensions import db
from lts.models import Asset, BacktestRun, Portfolio, User
from lts.models.backtest import ACTIVE_BACKTEST_STATUSES
from lts.models.types import utcnow
from lts.plugins.config_secrets import mask_stored
from lts.services.access import list_scope, load_owned, record, user_condition
from lts.services.backtest_data import fetch_history, renamed
from lts.services.backtest_pool import pool_of, recover_orphans, runner_name
from lts.services.pagination import Page, paginate
from lts.trading.plugin_versions import app_registry, describe, versions_of

#: Queued or running runs one user may have at once (the pool is 1-2 threads a process).
MAX_ACTIVE_PER_USER = 3
#: Bars one run may replay (a year of minute bars is ~525,000: ask for hours instead).
MAX_BARS = 200_000
#: Trades listed on the report page (the API gives them all).
SHOWN_TRADES = 200
#: Labels of the report's metrics, in :data:`lts.backtest.report.METRICS` order.
METRIC_LABELS = {
    "start_equity": "Start equity", "end_equity": "End equity",
    "total_return": "Total return", "cagr": "CAGR", "volatility": "Volatility (annual)",
    "sharpe": "Sharpe", "sortino": "Sortino", "max_drawdown": "Max drawdown",
    "max_drawdown_bars": "Max drawdown (bars)",
    "max_drawdown_seconds": "Max drawdown duration", "trades": "Trades",
    "win_rate": "Win rate", "profit_factor": "Profit factor", "expectancy": "Expectancy",
    "average_trade_seconds": "Average trade", "longest_trade_seconds": "Longest trade",
    "exposure": "Exposure", "commissions": "Commissions"}
#: Metrics where more is better (for the comparison's highlight); the rest: less is.
HIGHER_IS_BETTER = {"end_equity", "total_return", "cagr", "sharpe", "sortino", "win_rate",
                    "profit_factor", "expectancy"}
LOWER_IS_BETTER = {"volatility", "max_drawdown", "max_drawdown_bars",
                   "max_drawdown_seconds", "commissions"}


def _moment(value: datetime | str | None, name: str) -> datetime:
    """A form's text or a schema's datetime as aware UTC; ValidationFailed naming ``name``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(f"{name} is required", {name: ["is required"]})
    if isinstance(value, str):
        return parse_date(value, name)
    if value.tzinfo is None:
        raise ValidationFailed(f"invalid {name}", {name: ["give a time zone (UTC)"]})
    return value


def _owned_portfolio(actor: User, portfolio_id: Any, ip: str | None) -> Portfolio:
    """The actor's portfolio; someone else's or a missing one names ``portfolio_id``."""
    try:
        return load_owned(Portfolio, portfolio_id, actor, "read", ip=ip)
    except NotFound:
        raise ValidationFailed("no such portfolio", {"portfolio_id": [
            f"portfolio {portfolio_id} not found"]}) from None


def _parameters(portfolio: Portfolio, assets: Sequence[Asset], spec: Any, data: Any
                ) -> dict[str, Any]:
    """What was asked, for the report and the comparison: every config with secrets masked."""
    return {
        "portfolio": {"id": portfolio.id, "name": portfolio.name},
        "from": spec.start.isoformat(), "to": spec.end.isoformat(),
        "capital": spec.capital, "portfolio_plugin": spec.portfolio_plugin,
        "portfolio_config": mask_stored(spec.portfolio_config),
        "max_drawdown_pct": spec.max_drawdown_pct,
        "bars": len(data.ticks()), "period_seconds": data.period.total_seconds(),
        "gaps": len(data.gaps), "broker": "paper",
        "assets": [{"symbol": a.symbol, "pipeline_plugin": a.pipeline_plugin,
                    "pipeline_config": mask_stored(a.pipeline_config),
                    "strategy_plugin": s.strategy_plugin,
                    "strategy_config": mask_stored(s.strategy_config),
                    "broker_config": mask_stored(s.broker_config), "lookback": s.lookback}
                   for a, s in zip(assets, spec.assets, strict=True)],
    }


def _plugin_versions(portfolio: Portfolio, assets: Sequence[Asset]) -> dict[str, Any]:
    """The plugins the run is made with, as orders record theirs (the replay is on paper)."""
    registry = app_registry(current_app._get_current_object())  # type: ignore[attr-defined]
    return {"portfolio": describe(registry, "portfolio", portfolio.portfolio_plugin),
            "assets": {a.symbol: versions_of(registry, {
                "pipeline": a.pipeline_plugin, "strategy": a.strategy_plugin,
                "broker": "paper"}) for a in assets}}


def start(actor: User, portfolio_id: Any, date_from: datetime | str | None,
          date_to: datetime | str | None, *, now: datetime | None = None,
          ip: str | None = None) -> BacktestRun:
    """Check, fetch the history, store a ``queued`` run and queue its replay.

    Runs left behind by a dead process are marked failed first, so they neither count
    against the user's limit nor poll forever.
    """
    now = now or utcnow()
    start_at, end_at = _moment(date_from, "from"), _moment(date_to, "to")
    if end_at <= start_at:
        raise ValidationFailed("empty range", {"to": [
            f"{end_at.isoformat()} is not after from ({start_at.isoformat()})"]})
    if end_at > now:
        raise ValidationFailed("range in the future", {"to": [
            f"{end_at.isoformat()} is in the future: history ends now ({now.isoformat()})"]})
    portfolio = _owned_portfolio(actor, portfolio_id, ip)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    recover_orphans(now, alive=pool_of(app).unfinished())
    active = db.session.scalar(select(func.count()).select_from(BacktestRun).where(
        BacktestRun.user_id == actor.id, BacktestRun.status.in_(ACTIVE_BACKTEST_STATUSES)))
    if (active or 0) >= MAX_ACTIVE_PER_USER:
        raise Conflict(f"{active} of your backtests are still queued or running",
                       {"portfolio_id": [f"wait until one of your {active} backtests "
                                         f"finishes (at most {MAX_ACTIVE_PER_USER} at once)"]})
    try:
        spec = spec_from_portfolio(portfolio.id, start_at, end_at)
    except ValidationFailed as exc:
        raise renamed(exc) from None
    assets = list(db.session.scalars(select(Asset).where(
        Asset.portfolio_id == portfolio.id, Asset.is_active.is_(True)).order_by(Asset.id)))
    data, folder = fetch_history(app, assets, start_at, end_at)
    ticks = len(data.ticks())
    if ticks > MAX_BARS:
        raise ValidationFailed("range too long", {"from": [
            f"{ticks} bars between from and to: at most {MAX_BARS} per backtest"]})
    try:
        with write_transaction(db.session()):
            run = BacktestRun(user_id=actor.id, portfolio_id=portfolio.id,
                              name=portfolio.name[:200], status="queued", progress_done=0,
                              progress_total=ticks, date_from=start_at, date_to=end_at,
                              parameters=_parameters(portfolio, assets, spec, data),
                              plugin_versions=_plugin_versions(portfolio, assets),
                              created_at=now, heartbeat_at=now, runner=runner_name())
            db.session.add(run)
            db.session.flush()
            record(actor, "backtest.start", f"backtest:{run.id}",
                   {"portfolio_id": portfolio.id, "from": start_at.isoformat(),
                    "to": end_at.isoformat(), "bars": ticks}, ip=ip, commit=False)
        pool_of(app).submit(run.id, spec, data, folder)
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return run


def wait(run_id: int, timeout: float | None = None) -> None:
    """Block until a run queued by this process ended (tests and scripts)."""
    pool_of(current_app._get_current_object()).wait(run_id, timeout)  # type: ignore[attr-defined]


def list_runs(actor: User, *, portfolio_id: int | None = None, status: str | None = None,
              page: int | None = 1, per_page: int | None = None) -> Page[BacktestRun]:
    """The runs the actor may see (admins: everyone's), newest first."""
    statement = select(BacktestRun)
    scope = list_scope(actor, "backtest")
    condition = user_condition(scope.shape, BacktestRun.user_id, scope.owners)
    if condition is not None:
        statement = statement.where(condition)
    if portfolio_id is not None:
        statement = statement.where(BacktestRun.portfolio_id == portfolio_id)
    if status is not None:
        statement = statement.where(BacktestRun.status == status)
    statement = statement.order_by(BacktestRun.created_at.desc(), BacktestRun.id.desc())
    return paginate(statement, page, per_page, key=BacktestRun.id)


def get_run(actor: User, run_id: Any, *, ip: str | None = None) -> BacktestRun:
    """One run the actor may see; NotFound otherwise (someone else's included)."""
    return load_owned(BacktestRun, run_id, actor, "read", ip=ip)


# -- what the report page shows ---------------------------------------------------------

def duration(seconds: float) -> str:
    """``3 d 4 h``, ``1 h 21 min``, ``45 s``: a trade's or drawdown's length, to the minute."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes and not days else ""]
    return " ".join(p for p in parts if p) or "0 min"


def format_metric(key: str, value: Any) -> str:
    """One metric as the CLI's table prints it (same rounding); durations in words."""
    from lts.backtest.report import _cell

    if key.endswith("_seconds") and value is not None:
        return duration(float(value))
    return _cell(key, value)


def headline(run: BacktestRun) -> dict[str, str]:
    """The list's figures of a run (``-`` until it is done)."""
    figures = (run.metrics or {}).get("portfolio") or {}
    return {key: format_metric(key, figures.get(key))
            for key in ("total_return", "max_drawdown", "trades")}


@dataclass(frozen=True)
class MetricRow:
    """One line of a metrics table: the label and one shown value per column."""

    key: str
    label: str
    values: list[str]
    better: int | None = None  # compare view: the index of the better column, if any


@dataclass(frozen=True)
class Report:
    """A finished run as the report page draws it."""

    run: BacktestRun
    columns: list[str]
    rows: list[MetricRow]
    #: Chart series ``[{label, points: [{t: epoch ms, v}]}]``: equity, and drawdown <= 0.
    equity: list[dict[str, Any]]
    drawdown: list[dict[str, Any]]
    #: Per symbol, the candles with the trades as markers (charts.js ``candles``).
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The first ``SHOWN_TRADES`` trades, times as ``YYYY-MM-DD HH:MM`` (UTC).
    trades: list[dict[str, Any]] = field(default_factory=list)


def metric_rows(columns: Sequence[dict[str, Any] | None]) -> list[MetricRow]:
    """The metrics of each column (a portfolio's or an asset's), one row per metric."""
    return [MetricRow(key, METRIC_LABELS.get(key, key),
                      [format_metric(key, (c or {}).get(key)) for c in columns])
            for key in METRICS]


def _bar_at(stamp: int, times: Sequence[int]) -> int | None:
    """The candle whose period holds ``stamp`` (markers must sit on a candle)."""
    import bisect

    i = bisect.bisect_right(list(times), stamp) - 1
    return times[i] if i >= 0 else None


def trade_markers(trades: Sequence[dict[str, Any]], symbol: str, times: Sequence[int]
                  ) -> list[dict[str, Any]]:
    """Entries (arrows) and exits (circles) of ``symbol``'s trades on its candles."""
    markers = []
    for trade in trades:
        if trade.get("symbol") != symbol:
            continue
        long = trade.get("side") == "long"
        for moment, entry in ((trade.get("entry_time"), True), (trade.get("exit_time"), False)):
            if not moment:
                continue
            bar = _bar_at(int(datetime.fromisoformat(moment).timestamp()), times)
            if bar is None:
                continue
            if entry:
                markers.append({"time": bar, "position": "belowBar" if long else "aboveBar",
                                "color": "#198754" if long else "#dc3545",
                                "shape": "arrowUp" if long else "arrowDown",
                                "text": f"{'buy' if long else 'sell'} {trade['quantity']:g}"})
            else:
                pnl = float(trade.get("pnl") or 0.0)
                markers.append({"time": bar, "position": "aboveBar" if long else "belowBar",
                                "color": "#6c757d", "shape": "circle",
                                "text": f"exit {pnl:+,.2f}"})
    return sorted(markers, key=lambda m: m["time"])


def report(run: BacktestRun) -> Report:
    """The report of a run: metrics per asset and for the portfolio, curve, candles."""
    metrics = run.metrics or {}
    assets = metrics.get("assets") or {}
    columns = ["Portfolio", *assets]
    rows = metric_rows([metrics.get("portfolio"), *assets.values()])
    charts = {}
    for symbol, candles in (run.candles or {}).items():
        times = [c["time"] for c in candles]
        charts[symbol] = {"bars": candles,
                          "markers": trade_markers(run.trades or [], symbol, times),
                          "lines": []}
    curve = list(run.equity or [])
    return Report(run=run, columns=columns, rows=rows,
                  equity=[{"label": "Equity", "points": [{"t": p["t"], "v": p["v"]}
                                                         for p in curve]}],
                  drawdown=[{"label": "Drawdown", "points": [{"t": p["t"], "v": -p["dd"]}
                                                             for p in curve]}],
                  charts=charts, trades=[shown_trade(t) for t in (run.trades or [])[:SHOWN_TRADES]])


def shown_trade(trade: dict[str, Any]) -> dict[str, Any]:
    """A stored trade with its times as the page prints them (UTC, to the minute)."""
    def minute(moment: str | None) -> str:
        return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M") if moment else ""

    return {**trade, "entry_time": minute(trade.get("entry_time")),
            "exit_time": minute(trade.get("exit_time"))}


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side: their portfolio metrics and their curves as returns."""

    first: BacktestRun
    second: BacktestRun
    rows: list[MetricRow]
    curves: list[dict[str, Any]]


def _better(key: str, a: Any, b: Any) -> int | None:
    """0 or 1: the run whose ``key`` is better; None when equal, unknown or not ranked."""
    if a is None or b is None or a == b:
        return None
    if key in HIGHER_IS_BETTER:
        return 0 if a > b else 1
    if key in LOWER_IS_BETTER:
        return 0 if a < b else 1
    return None


def _returns(run: BacktestRun) -> list[dict[str, Any]]:
    """The run's curve as return since its start (runs with other capital compare)."""
    points = run.equity or []
    if not points or not points[0]["v"]:
        return []
    base = points[0]["v"]
    return [{"t": p["t"], "v": p["v"] / base - 1.0} for p in points]


def compare(actor: User, first_id: Any, second_id: Any, *, ip: str | None = None
            ) -> Comparison:
    """Two of the actor's runs side by side; each must be visible and finished."""
    runs = []
    for name, run_id in (("first", first_id), ("second", second_id)):
        try:
            run = get_run(actor, run_id, ip=ip)
        except NotFound:
            raise ValidationFailed("no such backtest", {name: [
                f"backtest {run_id} not found"]}) from None
        if run.status != "done":
            raise ValidationFailed("backtest not finished", {name: [
                f"backtest {run.id} is {run.status}: only finished runs compare"]})
        runs.append(run)
    first, second = runs
    a = (first.metrics or {}).get("portfolio") or {}
    b = (second.metrics or {}).get("portfolio") or {}
    rows = [MetricRow(key, METRIC_LABELS.get(key, key),
                      [format_metric(key, a.get(key)), format_metric(key, b.get(key))],
                      _better(key, a.get(key), b.get(key))) for key in METRICS]
    curves = [{"label": f"#{run.id} {run.name}", "points": _returns(run)} for run in runs]
    return Comparison(first=first, second=second, rows=rows, curves=curves)
