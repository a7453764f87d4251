"""Four gunicorn workers under load (issue 16): every due portfolio runs once per interval.

One real ``flask lts run`` with 4 workers x 2 threads, every worker running the loop
(the lease picks the leader), seconds-long intervals (``latency_unit_seconds``, a
test-only setting): ticks every 0.5 s, every portfolio due every 1 s. While it runs,
16 clients mix API calls (manual orders, closes, edits, logins, denied reads, lists)
and dashboard partials for ``LTS_TEST_LOAD_SECONDS`` (default 10) seconds; the loop is
watched over at least 20 portfolio intervals.

Checked afterwards, against the database and the test pipeline's record of every step:

- each tick (the ``loop.tick_seconds`` statistic the leader writes) ran exactly the
  portfolios that were due at its time by the engine's own rule, each once, each asset
  stepped once: never twice in an interval, never an interval lost;
- no 5xx and every manual order answered exactly once (tests.system.concurrency_mix);
- no "database is locked" (SQLite) and no "deadlock detected" (PostgreSQL) in the log;
- ``/readyz`` names a leader; after SIGTERM the leader released the lease.

Requests/s and p99 are printed (``-s`` shows them) for the closing note.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS
from tests.system.concurrency_mix import (
    PASSWORD,
    exactly_once_problems,
    latency_summary,
    run_mix,
    server_errors,
    status_table,
)
from tests.system.ops_support import login_browser, run_partials, seed_portfolios, start

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-ops")]

TICK_SECONDS = 0.5
INTERVAL_SECONDS = 1.0  # portfolio_latency 1 x latency_unit_seconds 1
INTERVALS = 20
PORTFOLIOS, ASSETS = 4, 2
LOAD_SECONDS = float(os.environ.get("LTS_TEST_LOAD_SECONDS", "10"))
API_CLIENTS, BROWSER_CLIENTS = 12, 4


def _tick_times(database_url: str) -> list[datetime]:
    """When every loop tick ran (its ``now``), from the statistic the leader records."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT timestamp FROM statistics WHERE key = 'loop.tick_seconds' "
                "ORDER BY timestamp")).scalars().all()
    finally:
        engine.dispose()
    return [_instant(value) for value in rows]


def _lease_rows(database_url: str) -> list:
    """The tick lease row, if any is left."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT holder FROM scheduler_leases WHERE name = 'tick'")).all())
    finally:
        engine.dispose()


def _instant(value: object) -> datetime:
    """A stored or logged time as a naive UTC datetime (backends differ)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=None) if moment.tzinfo is None else \
        (moment - moment.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]


def _steps(run_log: Path) -> list[tuple[int, int, datetime, int]]:
    """(portfolio, asset, tick time, pid) of every step the recording pipeline saw."""
    if not run_log.exists():
        return []
    steps = []
    for line in run_log.read_text().splitlines():
        portfolio, asset, moment, pid = line.split()
        steps.append((int(portfolio), int(asset), _instant(moment), int(pid)))
    return steps


def _same(a: datetime, b: datetime) -> bool:
    """The same instant, to the microsecond both backends store.

    A loop step's pipeline time is the tick's own time, written unchanged; a manual order
    or a chart asks the pipeline at its request's time, which once fell 140 µs before a
    tick and was counted as a third step under a one-millisecond tolerance.
    """
    return a == b


def schedule_problems(ticks: list[datetime], steps: list[tuple[int, int, datetime, int]],
                      portfolios: dict[int, int]) -> list[str]:
    """Replay the engine's due rule over the ticks; name every deviation of the steps.

    ``portfolios``: id -> number of assets. A portfolio is due at tick T when it never
    ran or T >= last run + interval - slack (half a tick), the engine's own rule.
    """
    slack = timedelta(seconds=TICK_SECONDS / 2)
    interval = timedelta(seconds=INTERVAL_SECONDS)
    by_run: Counter[tuple[int, datetime]] = Counter()
    runs: dict[int, list[datetime]] = defaultdict(list)
    for portfolio, _asset, moment, _pid in steps:
        # Manual orders ask the pipeline too, at their request's time: not a loop step.
        tick = next((t for t in ticks if _same(t, moment)), None)
        if tick is None:
            continue
        by_run[(portfolio, tick)] += 1
        if by_run[(portfolio, tick)] == 1:
            runs[portfolio].append(tick)
    problems = [f"portfolio {p} stepped {n} asset(s) at {t}, not {portfolios[p]}"
                for (p, t), n in by_run.items() if n != portfolios[p]]
    for portfolio in portfolios:
        ran = set(runs[portfolio])
        last: datetime | None = None
        for tick in ticks:
            due = last is None or tick >= last + interval - slack
            if (tick in ran) != due:
                problems.append(f"portfolio {portfolio} at {tick}: due={due}, "
                                f"ran={tick in ran} (last run {last})")
            if tick in ran:
                last = tick
    return problems


def _observe(database_url: str, run_log: Path) -> tuple[list[datetime], list]:
    """Ticks so far, and the steps of those ticks (a tick in progress is left out)."""
    ticks = _tick_times(database_url)
    steps = [s for s in _steps(run_log) if ticks and s[2] <= ticks[-1] + timedelta(
        milliseconds=1)]
    return ticks, steps


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_four_workers_run_each_due_portfolio_once_per_interval_under_load(
        database_url: str, tmp_path: Path) -> None:
    accounts = seed_portfolios(database_url, tmp_path / "seed", portfolios=PORTFOLIOS,
                               assets=ASSETS)
    run_log = tmp_path / "runs.log"
    server = start(database_url, tmp_path, env={"LTS_TEST_RUN_LOG": str(run_log)},
                   web_workers="4", web_threads="2", global_latency=str(TICK_SECONDS / 60),
                   latency_unit_seconds=str(INTERVAL_SECONDS))
    try:
        deadline = time.monotonic() + 60
        while not _steps(run_log) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling for the loop's first step, bounded
        started = time.monotonic()
        load_deadline = started + LOAD_SECONDS
        browsers = [login_browser(server.base_url, accounts[0].username, PASSWORD)
                    for _ in range(BROWSER_CLIENTS)]
        with ThreadPoolExecutor(max_workers=BROWSER_CLIENTS + 1) as pool:
            partials = [pool.submit(run_partials, server.base_url, b, load_deadline, i)
                        for i, b in enumerate(browsers)]
            api = run_mix(server.base_url, accounts, clients=API_CLIENTS,
                          seconds=LOAD_SECONDS, seed_value=160)
            answers = api + [a for f in partials for a in f.result()]
        elapsed = time.monotonic() - started
        ready = requests.get(f"{server.base_url}/readyz", timeout=30)
        observe_until = time.monotonic() + 60
        ticks, steps = _observe(database_url, run_log)
        while _fewest_runs(ticks, steps, accounts) < INTERVALS and time.monotonic() < observe_until:
            time.sleep(0.2)  # the loop keeps ticking: watch 20 intervals, bounded
            ticks, steps = _observe(database_url, run_log)
    finally:
        server.stop()  # SIGTERM: graceful
    log = server.log()
    # The stopping leader finished its step and released the lease (no 30 s wait for a
    # successor).
    assert _lease_rows(database_url) == []

    summary = latency_summary(answers, elapsed)
    backend = database_url.split(":", 1)[0]
    print(f"\nload {backend}: {len(answers)} requests in {elapsed:.1f} s, "
          f"{summary['rps']:.1f} req/s, p50 {summary['p50']:.0f} ms, "
          f"p99 {summary['p99']:.0f} ms, 5xx {summary['errors_5xx']:.0f}, "
          f"{len(ticks)} ticks, {len({s[3] for s in steps})} stepping process(es)")
    assert server_errors(answers) == [], (status_table(answers), log[-3000:])
    assert {a.status for a in answers if a.kind == "partial"} == {200}, status_table(answers)
    assert "database is locked" not in log
    assert "deadlock detected" not in log
    assert "tick failed" not in log  # a failed tick records no time: its steps would hide
    assert exactly_once_problems(database_url, api) == []
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["scheduler"]["leader"]

    portfolios = {a.portfolio_id: len(a.asset_ids) for a in accounts}
    assert schedule_problems(ticks, steps, portfolios) == []
    assert _fewest_runs(ticks, steps, accounts) >= INTERVALS, len(ticks)


def _fewest_runs(ticks: list[datetime], steps: list, accounts: list) -> int:
    """The number of loop runs (distinct ticks) of the portfolio that ran least."""
    at_ticks = {(s[0], s[2]) for s in steps if any(_same(t, s[2]) for t in ticks)}
    runs = Counter(p for p, _t in at_ticks)
    return min(runs[a.portfolio_id] for a in accounts)
