"""Celery fan-out under ``kill -9`` and with a worker down (issue 16, item 2).

Real processes: one ``flask lts run`` server whose loop leads and fans its claimed
portfolio steps out, and ``flask lts worker`` processes on a real broker, PostgreSQL
shared by all. The kill test runs on RabbitMQ (a dead consumer's unacknowledged step is
handed back at once) and on Redis (after the visibility timeout); the worker-down test
on Redis. Each test uses its own queue, so parallel runs on one broker never take each
other's steps.

"Completed exactly once" is read from the database: a step's last transaction writes
its portfolio's equity statistic at the tick time, so two rows for one (portfolio, tick)
would be a step that ran twice; client order ids are unique and every order the paper
broker booked is one LTS order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.system.concurrency_mix import PROJECT_ROOT, SECRET, broker_lost_orders
from tests.system.ops_support import (
    install_test_plugins,
    rows,
    seed_portfolios,
    start,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-celery")]

AMQP_VARIABLE = "LTS_TEST_AMQP_URL"
REDIS_VARIABLE = "LTS_TEST_REDIS_URL"


def _broker_or_skip(variable: str, example: str) -> str:
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set (e.g. {example})")
    return url


# PostgreSQL only: the fixture skips without LTS_TEST_DATABASE_URL.
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _settings(broker: str, queue: str, visibility: str = "30") -> dict[str, str]:
    """The leader's and the workers' settings: ticks every 0.5 s, portfolios due every 30 s.

    The leader waits 3 s for its steps, so a hung or queued step is reported missing
    and the loop goes on; the interval is long enough for a redelivered step to still
    hold its claim.
    """
    return {"web_workers": "1", "lease_seconds": "2", "global_latency": str(0.5 / 60),
            "latency_unit_seconds": "30", "plugin_timeout_seconds": "120",
            "celery_broker_url": broker, "celery_queue": queue,
            "celery_step_deadline_seconds": "3", "celery_visibility_timeout": visibility}


class Worker:
    """One ``flask lts worker`` process (solo pool), in its own process group."""

    def __init__(self, database_url: str, workdir: Path, settings: dict[str, str],
                 env: dict[str, str], name: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        site = install_test_plugins(workdir / "site")
        base = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}
        base.update({"LTS_DATABASE_URL": database_url, "LTS_SECRET_KEY": SECRET,
                     "LTS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
                     "PYTHONPATH": os.pathsep.join([str(site), str(PROJECT_ROOT)])})
        base.update({f"LTS_{k.upper()}": v for k, v in settings.items()})
        base.update(env)
        self.log_path = workdir / f"{name}.log"
        flask = Path(sys.executable).with_name("flask")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(flask), "lts", "worker", "--hostname", f"{name}@%h"], cwd=PROJECT_ROOT,
                env=base, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), SIGKILL if it does not stop within 30 s."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _equity_runs(database_url: str) -> Counter:
    """(equity key, tick time) -> how many times that step finished."""
    return Counter((key, stamp) for key, stamp in rows(
        database_url, "SELECT key, timestamp FROM statistics WHERE key LIKE 'portfolio.%.equity'"))


def _orders_consistent(database_url: str) -> None:
    """No duplicate client id; every order the paper broker booked is one LTS order."""
    lts = [coid for (coid,) in rows(database_url, "SELECT client_order_id FROM orders "
                                                   "WHERE source = 'strategy'")]
    assert len(lts) == len(set(lts)), "an order was duplicated"
    broker = [coid for (coid,) in rows(database_url, "SELECT client_order_id FROM paper_orders")]
    assert len(broker) == len(set(broker)), "the broker got an order twice"
    assert set(broker) <= set(lts), "the broker has an order LTS lost"
    assert broker_lost_orders(database_url) == []


# RabbitMQ hands a dead consumer's step back at once; Redis after the visibility
# timeout (8 s here: above the leader's 3 s deadline, as the settings require).
BROKERS = [(AMQP_VARIABLE, "amqp://guest:guest@127.0.0.1:5672//", "30"),
           (REDIS_VARIABLE, "redis://127.0.0.1:6379/0", "8")]


@ON_POSTGRES
@pytest.mark.parametrize(("variable", "example", "visibility"), BROKERS,
                         ids=["rabbitmq", "redis"])
def test_kill_9_of_a_worker_mid_step_redelivers_its_step_which_completes_exactly_once(
        database_url: str, tmp_path: Path, variable: str, example: str,
        visibility: str) -> None:
    broker = _broker_or_skip(variable, example)
    seed_portfolios(database_url, tmp_path / "seed", portfolios=3, assets=2, broker="crash_paper")
    marker = tmp_path / "crashed"
    settings = _settings(broker, f"lts-test-{uuid.uuid4().hex[:12]}", visibility)
    env = {"LTS_TEST_CRASH_MARKER": str(marker)}
    workers = [Worker(database_url, tmp_path / f"w{n}", settings, env, f"w{n}") for n in range(3)]
    leader = None
    try:
        leader = start(database_url, tmp_path / "leader", env=env, **settings)
        # The crash hook: the first order of all processes is committed ``pending`` and
        # booked by the broker; its worker then hangs in the broker call.
        hook = wait_for(lambda: marker.exists() and marker.read_text().strip(), 60,
                     "no worker reached an order submission")
        client_order_id, pid = hook.split()
        hung = next(w for w in workers if w.process.pid == int(pid))
        assert rows(database_url, "SELECT status FROM orders WHERE client_order_id = "
                             f"'{client_order_id}'") in ([("pending",)], [("submitted",)])
        asset_id, tick_epoch = client_order_id.split("-")[1:3]
        ((portfolio_id,),) = rows(database_url,
                                   f"SELECT portfolio_id FROM assets WHERE id = {asset_id}")
        equity_key = f"portfolio.{portfolio_id}.equity"
        assert not rows(database_url, f"SELECT 1 FROM statistics WHERE key = '{equity_key}'"), \
            "the hung step finished"

        os.killpg(hung.process.pid, signal.SIGKILL)  # kill -9, mid-step
        hung.process.wait()
        # Redelivered to a surviving worker: the step finishes, under the same claim.
        wait_for(lambda: rows(database_url, "SELECT 1 FROM statistics WHERE key = "
                                    f"'{equity_key}' AND floor(extract(epoch FROM timestamp))"
                                    f"::bigint = {tick_epoch}"), 40,
              "the killed step was not redelivered")
        wait_for(lambda: rows(database_url, "SELECT status FROM orders WHERE client_order_id = "
                                    f"'{client_order_id}' AND status NOT IN "
                                    "('pending', 'submitted')"), 30,
              "the crashed order was not settled")
    finally:
        if leader is not None:
            leader.stop()
        for worker in workers:
            worker.stop()

    runs = _equity_runs(database_url)
    assert runs and max(runs.values()) == 1, f"a step finished twice: {runs}"
    _orders_consistent(database_url)
    (crashed,) = rows(database_url, "SELECT status FROM orders WHERE client_order_id = "
                               f"'{client_order_id}'")
    assert crashed == ("filled",)
    # The redelivered run met the crashed order by its client id: one row, sent once.
    assert rows(database_url, "SELECT count(*) FROM paper_orders WHERE client_order_id = "
                               f"'{client_order_id}'") == [(1,)]


@ON_POSTGRES
def test_a_worker_that_is_down_only_delays_its_steps(database_url: str, tmp_path: Path) -> None:
    broker = _broker_or_skip(REDIS_VARIABLE, "redis://127.0.0.1:6379/0")
    seed_portfolios(database_url, tmp_path / "seed", portfolios=2, assets=2)
    settings = _settings(broker, f"lts-test-{uuid.uuid4().hex[:12]}")
    leader = start(database_url, tmp_path / "leader", **settings)
    worker = None
    try:
        # No worker yet: the leader claims both portfolios and reports their steps missing.
        wait_for(lambda: "no step result" in leader.log(), 60,
                 "the leader reported no missing step")
        claimed = rows(database_url, "SELECT id, last_execution FROM portfolios "
                                "WHERE last_execution IS NOT NULL ORDER BY id")
        assert len(claimed) == 2
        assert _equity_runs(database_url) == Counter(), "a step ran with no worker up"
        worker = Worker(database_url, tmp_path / "w", settings, {}, "late")
        # The queued steps run once the worker is up, for the interval they were claimed in.
        wait_for(lambda: len({k for k, _ in _equity_runs(database_url)}) == 2, 45,
              "the delayed steps did not run")
    finally:
        leader.stop()
        if worker is not None:
            worker.stop()

    runs = _equity_runs(database_url)
    assert max(runs.values()) == 1, f"a step finished twice: {runs}"
    for pid, last_execution in claimed:
        assert runs[(f"portfolio.{pid}.equity", last_execution)] == 1, (pid, runs)
    _orders_consistent(database_url)
