"""Scale benchmark on PostgreSQL: the in-process loop against Celery workers (issue 16).

N assets in N/10 portfolios (default 10,000 in 1,000), for two plugin sets:

- ``cpu``: the built-ins (synthetic pipeline, prediction_threshold, paper broker):
  CPU-light, the database and the engine dominate;
- ``io``: the same with a pipeline that first asks a fake HTTP service on loopback,
  which answers after 50 ms (a remote prediction service): the wait dominates.

Each set is measured (a) in this process, as the loop runs a tick without Celery, and
(b) with Celery, 1 and then 3 ``flask lts worker`` processes (solo pool), this process
being the leader that claims and waits. Every run gets a fresh PostgreSQL schema, one
warm-up tick and ``--ticks`` measured ticks one minute apart. Prints seconds per tick,
assets/s, the speed-up of 3 workers over 1, and the RSS of the leader process (what a
web worker running the loop holds) and of each Celery worker.

Targets (issue 16): 10,000 CPU-light assets in <= 15 s in-process on a 2-core machine;
I/O-bound ticks >= 2.5x faster with 3 workers than with 1; < 200 MB per web worker.

Run:  .venv/bin/python bench/scale_bench.py [--assets 10000] [--io-assets 1000]
      [--sets cpu,io] [--database-url URL] [--broker amqp://guest:guest@127.0.0.1:5672//]
      [--count-statements]
The database URL defaults to LTS_TEST_DATABASE_URL; each run's schema is dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import logging
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SERVICE_SECONDS = 0.05
SERVICE_VARIABLE = "LTS_TEST_SLOW_SERVICE_URL"  # LTS_TEST_*: tooling, not a setting

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import seed  # noqa: E402

from lts.plugins.base import AssetInfo, MarketSnapshot  # noqa: E402
from lts.plugins.pipeline.synthetic import SyntheticPipeline  # noqa: E402
from lts.testing.postgres import fresh_schema  # noqa: E402


class SlowServicePipeline(SyntheticPipeline):
    """The synthetic pipeline, after a request to a service answering in 50 ms (I/O bound)."""

    name = "bench_slow_service"
    interface_version = "1.0"
    description = "Synthetic prices after a 50 ms HTTP call (scale benchmark)."

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Wait for the fake service's answer, then answer like the synthetic pipeline."""
        with urllib.request.urlopen(os.environ[SERVICE_VARIABLE], timeout=10) as answer:
            answer.read()
        return super().snapshot(asset, now)


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET after :data:`SERVICE_SECONDS`."""

    def do_GET(self) -> None:
        """Sleep like a remote model, then answer a tiny JSON body."""
        time.sleep(SERVICE_SECONDS)  # the service's latency is what is benchmarked
        body = b'{"prediction": [1.0]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would swamp the figures."""


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128


@contextlib.contextmanager
def slow_service() -> Iterator[str]:
    """A threaded loopback HTTP service answering in 50 ms; yields its URL."""
    server = _ThreadingServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    finally:
        server.shutdown()
        server.server_close()


def plugin_site(folder: Path) -> Path:
    """Make this module's pipeline an installed distribution (entry point) under ``folder``."""
    info = folder / "lts_scale_bench-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lts-scale-bench\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[lts.pipeline]\nbench_slow_service = scale_bench:SlowServicePipeline\n")
    return folder


def count_statements(engine: Any, counts: Counter[str], kinds: Counter[str]) -> None:
    """Count every statement sent on ``engine`` by thread: the tick's, or a plugin worker's.

    ``kinds`` counts them by thread and statement head (verb and table), to see which
    ones run per asset.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        name = threading.current_thread().name
        thread = "plugin worker" if name.startswith("lts-plugin") else "engine"
        counts[thread] += 1
        kinds[f"{thread}: {_head(statement)}"] += 1


def _head(statement: str) -> str:
    """A statement's verb and first table: ``SELECT paper_orders``, ``UPDATE positions``."""
    words = statement.split()
    if not words:
        return "?"
    upper = [w.upper() for w in words]
    verb = upper[0]
    marker = {"UPDATE": "UPDATE", "INSERT": "INTO"}.get(verb, "FROM")
    at = upper.index(marker) if marker in upper else len(words)
    return f"{verb} {words[at + 1].strip('(),')}" if at + 1 < len(words) else verb


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """Resident memory of a process in MB (from /proc); ``VmHWM``: its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_workers(count: int, database_url: str, broker: str, queue: str, site: Path,
                  service_url: str, logs: Path) -> list[subprocess.Popen[bytes]]:
    """``count`` ``flask lts worker`` processes (solo pool) on ``queue``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}
    env.update({"LTS_DATABASE_URL": database_url, "LTS_SECRET_KEY": "bench",
                "LTS_CELERY_BROKER_URL": broker, "LTS_CELERY_QUEUE": queue,
                "LTS_LOG_LEVEL": "WARNING", "LTS_PLUGIN_TIMEOUT_SECONDS": "60",
                SERVICE_VARIABLE: service_url,
                "PYTHONPATH": os.pathsep.join([str(site), str(BENCH), str(ROOT)])})
    flask = Path(sys.executable).with_name("flask")
    workers = []
    for n in range(count):
        with (logs / f"worker-{n}.log").open("wb") as log:
            workers.append(subprocess.Popen(
                [str(flask), "lts", "worker", "--hostname", f"bench{n}@%h",
                 "--loglevel", "WARNING"], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown of every worker; SIGKILL one that does not stop in 30 s."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def run(mode: str, plugin_set: str, args: argparse.Namespace, site: Path,
        service_url: str, logs: Path) -> dict[str, float]:
    """One configuration on a fresh schema: warm-up tick, then ``args.ticks`` measured."""
    from flask_migrate import upgrade

    from lts import create_app, models
    from lts.extensions import db
    from lts.trading.engine import Engine

    assets = args.assets if plugin_set == "cpu" else args.io_assets
    pipeline = "synthetic" if plugin_set == "cpu" else "bench_slow_service"
    workers_wanted = {"in-process": 0, "celery x1": 1, "celery x3": 3}[mode]
    queue = f"lts-bench-{uuid.uuid4().hex[:8]}"
    with (fresh_schema(args.database_url, "lts_bench") as url,
          tempfile.TemporaryDirectory() as folder):
        overrides: dict[str, Any] = {
            "database_url": url, "secret_key": "bench", "loop_enabled": False,
            "log_level": "ERROR", "plugin_timeout_seconds": 60.0,
            "celery_step_deadline_seconds": 3000.0, "celery_visibility_timeout": 3600.0}
        if workers_wanted:
            overrides.update(celery_broker_url=args.broker, celery_queue=queue)
        app = create_app(overrides, instance_path=Path(folder) / "instance")
        workers: list[subprocess.Popen[bytes]] = []
        with app.app_context():
            logging.getLogger("alembic").setLevel(logging.ERROR)
            upgrade()
            seed(db, models, assets, args.per_portfolio, pipeline)
            db.session.remove()
            if workers_wanted:
                workers = start_workers(workers_wanted, url, args.broker, queue, site,
                                        service_url, logs)
            engine = Engine(app)
            statements: Counter[str] = Counter()
            kinds: Counter[str] = Counter()
            if args.count_statements:
                count_statements(db.engine, statements, kinds)
            now = datetime.now(UTC).replace(microsecond=0)
            seconds = []
            cpu = 0.0  # this process's CPU seconds in the measured ticks (load-independent)
            try:
                for n in range(args.ticks + 1):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    report = engine.tick(now + timedelta(minutes=n))
                    seconds.append(time.perf_counter() - started)
                    if n:
                        cpu += time.process_time() - cpu_started
                    else:
                        statements.clear()  # count the measured ticks only
                        kinds.clear()
                    missing = [f for f in report.portfolio_failures if f.kind == "step_missing"]
                    if len(report.outcomes) != assets or missing:
                        raise SystemExit(f"{mode} {plugin_set}: {len(report.outcomes)} of "
                                         f"{assets} assets stepped, {len(missing)} missing")
                worker_rss = [rss_mb(w.pid) for w in workers]
            finally:
                engine.close()
                stop_workers(workers)
            db.session.remove()
            db.engine.dispose()
    measured = seconds[1:]
    tick = sum(measured) / len(measured)
    figures = {"assets": assets, "warmup_s": seconds[0], "tick_s": tick,
               "assets_per_s": assets / tick, "leader_rss_mb": rss_mb(),
               "leader_peak_mb": rss_mb(field="VmHWM"),
               "worker_rss_mb": max(worker_rss, default=0.0)}
    print(f"{plugin_set:>3} {mode:<10} {assets:>6} assets: warm-up {seconds[0]:7.2f} s, "
          f"tick {tick:7.2f} s, {figures['assets_per_s']:8.1f} assets/s, leader RSS "
          f"{figures['leader_rss_mb']:.0f} MB (peak {figures['leader_peak_mb']:.0f} MB), "
          f"CPU {cpu / len(measured):.2f} s/tick, load {os.getloadavg()[0]:.1f}"
          + (f", worker RSS {figures['worker_rss_mb']:.0f} MB" if workers else ""), flush=True)
    if statements:
        steps = assets * len(measured)
        print("    SQL statements per asset step: " + ", ".join(
            f"{thread} {count / steps:.2f}" for thread, count in statements.most_common()))
        for kind, count in kinds.most_common(10):
            print(f"      {count / steps:6.3f}  {kind}")
    return figures


def main() -> None:
    """Parse the options, run every configuration, print the table and the speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000, help="CPU-light set size")
    parser.add_argument("--io-assets", type=int, default=1_000,
                        help="I/O-bound set size (each step waits 50 ms per asset)")
    parser.add_argument("--per-portfolio", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=1, help="measured ticks per run")
    parser.add_argument("--sets", default="cpu,io")
    parser.add_argument("--modes", default="in-process,celery x1,celery x3")
    parser.add_argument("--database-url", default=os.environ.get("LTS_TEST_DATABASE_URL"))
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--count-statements", action="store_true",
                        help="print SQL statements per asset step (in-process runs: the "
                             "engine's thread and the plugin worker's)")
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        raise SystemExit("--database-url: a postgresql+psycopg:// URL is required "
                         "(or set LTS_TEST_DATABASE_URL)")
    logging.getLogger("lts").setLevel(logging.ERROR)
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs", flush=True)
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, slow_service() as service_url:
        os.environ[SERVICE_VARIABLE] = service_url  # the in-process leader's pipeline
        site = plugin_site(Path(folder) / "site")
        sys.path.insert(0, str(site))
        logs = Path(folder)
        for plugin_set in args.sets.split(","):
            for mode in args.modes.split(","):
                results[(plugin_set, mode)] = run(mode, plugin_set, args, site, service_url,
                                                  logs)
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")
    for plugin_set in args.sets.split(","):
        one, three = results.get((plugin_set, "celery x1")), results.get((plugin_set, "celery x3"))
        if one and three:
            print(f"{plugin_set}: 3 workers over 1: x{one['tick_s'] / three['tick_s']:.2f}")


if __name__ == "__main__":
    main()
