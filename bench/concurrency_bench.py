"""Benchmark the concurrent write mix of issue 10 on SQLite and on PostgreSQL.

A real ``flask lts run`` (gunicorn, 2 workers x 4 threads, the trading loop ticking
every 3 s) on a fresh database with four users, each with a paper portfolio of two
assets; 16 concurrent clients send the mix of ``tests/system/concurrency_mix.py``
(manual orders, position closes, portfolio edits, logins, denied admin reads, order
lists) for ``--seconds`` (default 30). Prints requests/s, p50/p99 latency (ms), the
5xx count (target: 0) and how many orders broke "answered 2xx exactly once, audited".

PostgreSQL: ``LTS_TEST_DATABASE_URL`` (or ``--postgres URL``), in a schema of its own
dropped afterwards; skipped with a message when it is unset or does not answer.
Run: ``make bench-concurrency`` or ``.venv/bin/python bench/concurrency_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.system.concurrency_mix import (  # noqa: E402  (after the path is set)
    exactly_once_problems,
    latency_summary,
    run_mix,
    seed,
    start_server,
    status_table,
)


def run_backend(name: str, database_url: str, workdir: Path, seconds: float,
                migrate: bool) -> None:
    """Seed, serve, drive the mix for ``seconds`` and print the figures of one database."""
    seeded = seed(database_url, workdir / "seed", migrate=migrate)
    server = start_server(database_url, workdir, global_latency="0.05")
    try:
        started = time.monotonic()
        answers = run_mix(server.base_url, seeded.accounts, clients=16, seconds=seconds)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    figures = latency_summary(answers, elapsed)
    problems = exactly_once_problems(database_url, answers)
    print(f"{name:<10} {len(answers):>6} requests in {elapsed:5.1f} s: "
          f"{figures['rps']:7.1f} req/s, p50 {figures['p50']:7.1f} ms, "
          f"p99 {figures['p99']:7.1f} ms, 5xx {int(figures['errors_5xx'])}, "
          f"exactly-once problems {len(problems)}")
    print(f"{'':<10} by kind and status: {status_table(answers)}")
    for problem in problems[:5]:
        print(f"{'':<10} {problem}")


def postgres_schema_url(base: str) -> tuple[str, str] | None:
    """A URL on a fresh schema of ``base`` and the schema name; None if it does not answer."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    schema = f"lts_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        print(f"postgres   skipped: {str(exc).splitlines()[0]}")
        return None
    finally:
        admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(base: str, schema: str) -> None:
    """Drop the bench's PostgreSQL schema."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def main() -> None:
    """Parse the options and run SQLite, then PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", default=os.environ.get("LTS_TEST_DATABASE_URL", ""))
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lts-concurrency-") as tmp:
        workdir = Path(tmp)
        if args.only != "postgres":
            (workdir / "sqlite").mkdir()
            run_backend("sqlite", f"sqlite:///{workdir / 'sqlite' / 'lts.db'}",
                        workdir / "sqlite", args.seconds, migrate=True)
        if args.only == "sqlite":
            return
        if not args.postgres:
            print("postgres   skipped: set LTS_TEST_DATABASE_URL (or --postgres URL)")
            return
        target = postgres_schema_url(args.postgres)
        if target is None:
            return
        url, schema = target
        (workdir / "postgres").mkdir()
        try:
            run_backend("postgres", url, workdir / "postgres", args.seconds, migrate=True)
        finally:
            drop_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
