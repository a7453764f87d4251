"""The engine trading on forecasts: prediction_threshold on arima(csv) and http_predictions.

Real components end to end: the engine, the paper broker and the database; ARIMA fitted
by statsmodels on real monthly prices (tests/data/prices); the prediction service a
real HTTP server speaking the protocol (tests/fakes/prediction_service.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from lts.models import AssetDecision, AuditLog, Position
from lts.plugins.pipeline.arima import CACHE
from lts.plugins.pipeline.synthetic import SyntheticPipeline
from lts.testing.base_contract import sample_asset
from lts.trading.engine import Engine
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.fakes.prediction_service import FakePredictionService, running_prediction_service

PRICES = Path(__file__).resolve().parents[1] / "data" / "prices"
MONTH = 31 * 24 * 60  # minutes: a monthly bar is used only once its month is surely over
FREE_PAPER = {"spread_bps": 0.0, "slippage_bps": 0.0, "commission_pct": 0.0}


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, object]:
    folder = tmp_path / "market"
    folder.mkdir()
    for name in ("AAPL.csv", "MSFT.csv"):
        (folder / name).write_bytes((PRICES / name).read_bytes())
    return {"data_dir": str(folder)}


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


@pytest.fixture
def service() -> Iterator[FakePredictionService]:
    with running_prediction_service() as running:
        yield running


def run(app, moments: list[datetime]):  # type: ignore[no-untyped-def]
    engine = Engine(app)
    try:
        return [engine.tick(moment) for moment in moments]
    finally:
        engine.close()


def arima_config(**extra: object) -> dict[str, object]:
    return {"source": "csv", "source_config": {"lookback": 60, "interval_minutes": MONTH},
            "window": 36, "horizon": 1, "refit_every": 6, **extra}


@pytest.mark.slow
def test_prediction_threshold_on_arima_over_real_prices_opens_and_closes(
        app, db, fresh_cache):
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1, total_capital=20_000.0)
    strategy = {"threshold": 0.01, "stop_loss": 12.0, "take_profit": 25.0}
    for symbol in ("AAPL", "MSFT"):
        gen_asset(portfolio, symbol, pipeline_plugin="arima", pipeline_config=arima_config(),
                  strategy_config=strategy, broker_config=FREE_PAPER,
                  allocated_capital=10_000.0)
    start = datetime(2003, 6, 15, tzinfo=UTC)
    reports = run(app, [start + timedelta(days=13 * k) for k in range(200)])

    assert [r.errors for r in reports if r.errors] == []
    assert sum(len(r.outcomes) for r in reports) == 400
    db.session.rollback()
    positions = db.session.scalars(select(Position)).all()
    opened = len(positions)
    closed = sum(1 for p in positions if p.status == "closed")
    assert opened >= 4 and closed >= 3, (opened, closed)
    # 200 ticks over about 85 new monthly bars per symbol: a fit every 6th bar at most,
    # the same bar asked again is a cache hit
    stats = CACHE.stats
    assert stats.fits <= 2 * (85 // 6 + 2), stats
    assert stats.hits >= 200, stats
    assert stats.fits + stats.updates + stats.hits == 400, stats
    reasons = db.session.scalars(select(AssetDecision.reason)).all()
    assert all("ARIMA(1,1,1) forecast" in reason for reason in reasons), reasons


def test_a_failing_fit_is_audited_once_per_episode(app, db, fresh_cache, app_overrides):
    flat = pd.date_range("2024-01-01", periods=120, freq="1D")
    frame = pd.DataFrame({"timestamp": flat.strftime("%Y-%m-%d"), "open": 50.0,
                          "high": 50.0, "low": 50.0, "close": 50.0, "volume": 0})
    frame.to_csv(Path(str(app_overrides["data_dir"])) / "FLAT.csv", index=False)
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
    asset = gen_asset(portfolio, "FLAT", pipeline_plugin="arima",
                      pipeline_config={"source": "csv", "window": 60, "refit_every": 1},
                      broker_config=FREE_PAPER, allocated_capital=10_000.0)
    start = datetime(2024, 3, 20, tzinfo=UTC)
    reports = run(app, [start + timedelta(days=k) for k in range(5)])

    assert all(r.errors == () for r in reports)
    db.session.rollback()
    rows = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "trading.forecast_fallback")).all()
    assert len(rows) == 1
    assert rows[0].resource == f"asset:{asset.id}"
    assert rows[0].details["model"] == "ARIMA(1,1,1)"
    assert "converge" in rows[0].details["error"]
    reason = db.session.scalars(select(AssetDecision.reason)).one()
    assert "(fallback: ARIMA(1,1,1) fit did not converge" in reason


@pytest.mark.slow
def test_prediction_threshold_on_http_predictions_trades_and_a_failing_asset_does_not_stop_it(
        app, db, service):
    portfolio = gen_portfolio(gen_user(), portfolio_latency=1)
    pipeline = {"source": "synthetic", "url": service.url, "api_key": "k3y", "horizon": 1,
                "poll_seconds": 0.0}
    service.api_key = "k3y"
    service.pending_polls = 1
    service.behaviour["BAD"] = "failed"
    good = gen_asset(portfolio, "GOOD", pipeline_plugin="http_predictions",
                     pipeline_config=pipeline, strategy_config={"threshold": 0.005},
                     broker_config=FREE_PAPER, allocated_capital=5_000.0)
    bad = gen_asset(portfolio, "BAD", pipeline_plugin="http_predictions",
                    pipeline_config=pipeline, broker_config=FREE_PAPER,
                    allocated_capital=5_000.0)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    engine = Engine(app)
    reports = []
    prices = SyntheticPipeline()  # the bars the source gives: the service forecasts from them
    try:
        for k in range(200):
            moment = start + timedelta(minutes=k)
            # the service's view flips every 20 minutes: 2% up, then 2% down
            level = prices.snapshot(sample_asset("GOOD"), moment).last_price
            service.level["GOOD"] = level
            service.step["GOOD"] = level * (0.02 if (k // 20) % 2 == 0 else -0.02)
            reports.append(engine.tick(moment))
    finally:
        engine.close()

    failures = [o for r in reports for o in r.outcomes if not o.ok]
    assert {o.asset_id for o in failures} == {bad.id} and len(failures) == 200
    assert "job" in failures[0].error and "failed: model diverged" in failures[0].error
    db.session.rollback()
    positions = db.session.scalars(select(Position).where(Position.asset_id == good.id)).all()
    sides = [p.side for p in positions]
    assert len(positions) >= 5 and "long" in sides and "short" in sides
    assert sum(1 for p in positions if p.status == "closed") >= 4
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "trading.asset_failed")) == 200
    assert np.isfinite([p.realized_pnl or 0.0 for p in positions]).all()
