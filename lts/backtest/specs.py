"""Where a backtest's settings come from: a stored portfolio, or a JSON file.

Both give a :class:`~lts.backtest.runner.BacktestSpec`. A stored portfolio is only read:
its capital, allocator, drawdown limit and active assets' strategies; every asset trades
on the ``paper`` broker in a backtest (an asset on another broker keeps the paper
defaults: a backtest never sends an order anywhere). Bad input raises ValidationFailed
naming the option or the file's field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lts.backtest.runner import AssetSpec, BacktestSpec
from lts.errors import ValidationFailed


def parse_date(text: str, option: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC. ValidationFailed names ``option``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(f"invalid {option}", {option: [
            f"{text!r} is not an ISO 8601 date or time, e.g. 2026-01-31 or "
            f"2026-01-31T09:30:00+00:00"]}) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def spec_from_portfolio(portfolio_id: int, start: datetime, end: datetime) -> BacktestSpec:
    """The stored portfolio's settings (read only) as a backtest spec."""
    from sqlalchemy import select

    from lts.extensions import db
    from lts.models import Asset, Portfolio

    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None:
        raise ValidationFailed("no such portfolio", {"--portfolio": [
            f"portfolio {portfolio_id} does not exist"]})
    rows = db.session.scalars(select(Asset).where(
        Asset.portfolio_id == portfolio_id, Asset.is_active.is_(True)).order_by(Asset.id)).all()
    if not rows:
        raise ValidationFailed("no assets", {"--portfolio": [
            f"portfolio {portfolio_id} has no active asset"]})
    assets = tuple(AssetSpec(
        symbol=row.symbol, strategy_plugin=row.strategy_plugin,
        strategy_config=dict(row.strategy_config or {}),
        broker_config=dict(row.broker_config or {}) if row.broker_plugin == "paper" else {},
        lookback=int((row.pipeline_config or {}).get("lookback") or 200),
        max_data_age_minutes=row.max_data_age_minutes) for row in rows)
    spec = BacktestSpec(assets=assets, start=start, end=end,
                        capital=float(portfolio.total_capital),
                        portfolio_plugin=portfolio.portfolio_plugin,
                        portfolio_config=dict(portfolio.portfolio_config or {}),
                        max_drawdown_pct=portfolio.max_drawdown_pct,
                        name=f"backtest of {portfolio.name}")
    db.session.rollback()  # only read: end the read transaction at once
    return spec


_ASSET_KEYS = {"symbol", "strategy_plugin", "strategy_config", "broker_config", "lookback",
               "file", "max_data_age_minutes"}
_TOP_KEYS = {"name", "capital", "portfolio_plugin", "portfolio_config", "max_drawdown_pct",
             "assets"}


def spec_from_file(path: Path, start: datetime, end: datetime) -> BacktestSpec:
    """A spec from a JSON file: ``{"capital", "portfolio_plugin", "assets": [...]}``.

    Each asset: ``symbol`` (required), ``strategy_plugin`` (default sma_cross),
    ``strategy_config``, ``broker_config`` (paper), ``lookback``, ``file`` (under the
    data folder, default ``<symbol>.csv``), ``max_data_age_minutes``.
    """
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed("unreadable config", {"--config": [f"{path}: {exc}"]}) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed("bad config", {"--config": [
            f"{path} line {exc.lineno}: not JSON ({exc.msg})"]}) from None
    if not isinstance(raw, dict):
        raise ValidationFailed("bad config", {"--config": [f"{path}: expected a JSON object"]})
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValidationFailed("bad config", {"--config": [
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}"]})
    assets = raw.get("assets")
    if not isinstance(assets, list) or not assets:
        raise ValidationFailed("bad config", {"--config": [f"{path}: assets must be a "
                                                           f"non-empty list"]})
    specs = []
    for n, item in enumerate(assets):
        where = f"{path}: assets[{n}]"
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            raise ValidationFailed("bad config", {"--config": [f"{where}.symbol is required"]})
        extra = set(item) - _ASSET_KEYS
        if extra:
            raise ValidationFailed("bad config", {"--config": [
                f"{where}: unknown key(s) {', '.join(sorted(extra))}"]})
        specs.append(AssetSpec(**item))
    try:
        capital = float(raw.get("capital", 10_000.0))
    except (TypeError, ValueError):
        capital = -1.0
    if capital <= 0:
        raise ValidationFailed("bad config", {"--config": [
            f"{path}: capital must be a number above 0"]})
    return BacktestSpec(assets=tuple(specs), start=start, end=end, capital=capital,
                        portfolio_plugin=str(raw.get("portfolio_plugin", "equal_weight")),
                        portfolio_config=dict(raw.get("portfolio_config") or {}),
                        max_drawdown_pct=raw.get("max_drawdown_pct"),
                        name=str(raw.get("name", "backtest")))
