"""Benchmark one tick: 100 portfolios x 10 assets on the built-in plugins and SQLite.

Synthetic pipeline (500 bars), prediction_threshold strategy, paper broker, equal
weights, a migrated SQLite file in a temp folder. Prints, for a first tick (orders
opened) and a steady tick one minute later: wall time, time per asset, the share
spent inside plugins versus engine + database, and peak RSS.

Targets (issue 4): whole tick <= 2 s; engine + database <= 1 ms per asset.
Run: .venv/bin/python bench/loop_bench.py [--portfolios 100] [--assets 10]
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import func, insert, select

from lts import create_app
from lts.extensions import db
from lts.models import Asset, Order, Portfolio, User
from lts.trading.clock import ManualClock
from lts.trading.engine import Engine


def seed(portfolios: int, assets: int) -> None:
    """One user, ``portfolios`` portfolios of ``assets`` assets each, bulk-inserted."""
    now = datetime.now(UTC)
    db.session.execute(insert(User), [{"username": "bench", "email": "bench@example.com",
                                       "password_hash": "x", "role": "user",
                                       "created_at": now}])
    user_id = db.session.scalar(select(User.id))
    db.session.execute(insert(Portfolio), [
        {"user_id": user_id, "name": f"bench {p}", "total_capital": 100_000.0,
         "portfolio_plugin": "equal_weight", "portfolio_config": {}, "portfolio_latency": 1,
         "created_at": now, "updated_at": now, "description": "", "is_active": True,
         "risk_state": "active"} for p in range(portfolios)])
    ids = db.session.scalars(select(Portfolio.id).order_by(Portfolio.id)).all()
    db.session.execute(insert(Asset), [
        {"portfolio_id": pid, "symbol": f"SYM{p:03d}{a}", "name": "",
         "pipeline_plugin": "synthetic", "pipeline_config": {"lookback": 500},
         "strategy_plugin": "prediction_threshold", "strategy_config": {},
         "broker_plugin": "paper", "broker_config": {}, "allocated_capital": 0.0,
         "is_active": True, "created_at": now, "updated_at": now}
        for p, pid in enumerate(ids) for a in range(assets)])
    db.session.commit()


def run_tick(engine: Engine, now: datetime, assets: int) -> dict[str, float]:
    """One measured tick."""
    engine.caller.plugin_seconds = 0.0
    engine.caller.calls = 0
    started = time.perf_counter()
    report = engine.tick(now)
    wall = time.perf_counter() - started
    plugins = engine.caller.plugin_seconds
    orders = sum(len(o.order_ids) for o in report.outcomes)
    return {"wall": wall, "plugins": plugins, "engine": wall - plugins, "assets": assets,
            "orders": orders, "errors": len(report.errors), "calls": engine.caller.calls}


def show(label: str, m: dict[str, float]) -> None:
    """Print one tick's figures."""
    per_asset = m["wall"] / m["assets"] * 1000
    engine_per_asset = m["engine"] / m["assets"] * 1000
    print(f"{label}: tick {m['wall']:.3f} s for {m['assets']:.0f} assets "
          f"({per_asset:.3f} ms/asset), {m['orders']:.0f} orders, {m['errors']:.0f} errors")
    print(f"  inside plugins {m['plugins']:.3f} s ({m['plugins'] / m['wall']:.0%}, "
          f"{m['calls']:.0f} calls); engine + database {m['engine']:.3f} s "
          f"({m['engine'] / m['wall']:.0%}) = {engine_per_asset:.3f} ms/asset "
          f"[target <= 1 ms/asset; tick target <= 2 s]")


def main() -> None:
    """Build the database, run a first and a steady tick, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=100)
    parser.add_argument("--assets", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=3, help="steady ticks after the first")
    args = parser.parse_args()
    logging.getLogger("lts").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"database_url": f"sqlite:///{folder}/bench.db",
                          "secret_key": "bench", "loop_enabled": False,
                          "log_level": "ERROR"}, instance_path=Path(folder) / "instance")
        with app.app_context():
            upgrade()
            logging.getLogger("alembic").setLevel(logging.ERROR)
            seed(args.portfolios, args.assets)
            total = args.portfolios * args.assets
            clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
            engine = Engine(app, clock=clock)
            try:
                show("first tick (cold plugins)", run_tick(engine, clock(), total))
                for n in range(args.ticks):
                    clock.advance(minutes=1)
                    show(f"steady tick {n + 1}", run_tick(engine, clock(), total))
            finally:
                engine.close()
            count = db.session.scalar(select(func.count(Order.id)))
            print(f"orders in the database: {count}")
            db.engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
