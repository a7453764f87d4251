"""The concurrent request mix of issue 10, shared by the system tests and the bench.

A real ``flask lts run`` (gunicorn, 2 workers x 4 threads, the trading loop on) serves
several users, each with a paper portfolio; concurrent clients mix manual orders,
position closes, portfolio edits, logins and denied admin reads. Afterwards the
database is checked against every answer: no 5xx, every manual order answered (2xx, or
422 for a stored refusal)
exactly once, every order with its audit rows.

Kept out of the test module so ``bench/concurrency_bench.py`` drives the very same mix.
Cancels (``DELETE /api/v1/orders/<id>``) come from another branch: add a ``cancel``
entry to :data:`MIX` and a ``_cancel`` method to :class:`Client` when it lands.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "concurrency-test-secret-key"
PASSWORD = "Correct-Horse-Battery-9"
USERS = 4
ASSETS_PER_PORTFOLIO = 2
# (kind, weight): what one request of a client is, drawn with a seeded generator.
MIX: tuple[tuple[str, int], ...] = (
    ("order", 40), ("close", 15), ("edit", 15), ("login", 5), ("denied", 15), ("read", 10),
)
MANUAL_KINDS = ("order", "close")


@dataclass(frozen=True)
class Account:
    """One seeded user: credentials, bearer token and what they own."""

    username: str
    token: str
    portfolio_id: int
    asset_ids: tuple[int, ...]


@dataclass(frozen=True)
class Seed:
    """What :func:`seed` wrote."""

    accounts: tuple[Account, ...]


def seed(database_url: str, instance: Path, *, migrate: bool = False,
         portfolio_latency: int = 1) -> Seed:
    """Create the users, their paper portfolios (huge capital: risk never refuses) and tokens.

    The strategy trades on every tick (threshold 0), so the loop places orders while the
    clients do. ``migrate``: run the migrations first (the bench's fresh database).
    """
    from lts import create_app
    from lts.extensions import db
    from lts.models import Asset, Portfolio
    from lts.plugins.aaa.users import create_user

    app = create_app({"database_url": database_url, "secret_key": SECRET,
                      "loop_enabled": False, "log_level": "WARNING"}, instance_path=instance)
    accounts = []
    with app.app_context():
        if migrate:
            from flask_migrate import upgrade

            upgrade()
        create_user("admin0", "admin0@example.com", "admin", PASSWORD)
        for index in range(USERS):
            user = create_user(f"trader{index}", f"trader{index}@example.com", "user",
                               PASSWORD)
            portfolio = Portfolio(user_id=user.id, name=f"portfolio {index}",
                                  portfolio_plugin="equal_weight", portfolio_config={},
                                  total_capital=1e9, portfolio_latency=portfolio_latency)
            db.session.add(portfolio)
            db.session.flush()
            assets = [Asset(portfolio_id=portfolio.id, symbol=f"SYM{index}{n}", name="",
                            pipeline_plugin="synthetic", pipeline_config={},
                            strategy_plugin="prediction_threshold",
                            strategy_config={"threshold": 0.0, "allow_short": True},
                            broker_plugin="paper", broker_config={})
                      for n in range(ASSETS_PER_PORTFOLIO)]
            db.session.add_all(assets)
            db.session.commit()
            token = app.extensions["lts.aaa"].issue_token(user, "mix", 24).raw
            accounts.append(Account(user.username, str(token), portfolio.id,
                                    tuple(a.id for a in assets)))
        db.session.remove()
        db.engine.dispose()
    return Seed(tuple(accounts))


# ------------------------------------------------------------------------- servers


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``flask lts run`` and where it logs."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, no clean shutdown, no lease release."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group and wait (SIGKILL if it will not stop)."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start_server(database_url: str, workdir: Path, **settings: str) -> Server:
    """Start ``flask lts run`` (2 workers x 4 threads unless ``settings`` say) and wait for it."""
    return launch(database_url, workdir, **{"web_workers": "2", "web_threads": "4", **settings})


def launch(database_url: str, workdir: Path, *, env: dict[str, str] | None = None,
           command: tuple[str, ...] = ("lts", "run"), ready_path: str = "/healthz",
           wait_seconds: float = 60.0, **settings: str) -> Server:
    """Start ``flask lts run`` (or ``command``, e.g. gunicorn) and wait for ``ready_path``.

    The one server launcher of the system tests: ``settings`` become ``LTS_*`` variables,
    ``env`` is added last (``PYTHONPATH`` for test plugins, test hooks).
    """
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}
    base.update({"LTS_DATABASE_URL": database_url, "LTS_SECRET_KEY": SECRET,
                 "LTS_PORT": str(port), "LTS_SESSION_COOKIE_SECURE": "false",
                 "LTS_LOGIN_RATE_LIMIT": "100000 per minute",
                 "LTS_MAX_ORDERS_PER_MINUTE": "100000", "LTS_LOG_LEVEL": "WARNING",
                 "PYTHONUNBUFFERED": "1"})
    base.update({f"LTS_{k.upper()}": v for k, v in settings.items()})
    base.update(env or {})
    log_path = workdir / f"server-{port}.log"
    binary = Path(sys.executable).with_name("flask" if command[0] == "lts" else command[0])
    argv = [str(binary), *(command if command[0] == "lts" else command[1:])]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=base, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log()[-3000:]}")
        try:
            if requests.get(f"{server.base_url}{ready_path}", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)  # polling a starting server, bounded by the deadline
    server.stop()
    raise AssertionError(f"server did not answer within {wait_seconds:g} s:\n"
                         f"{server.log()[-3000:]}")


# ------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Answer:
    """One request and what came back (status 0: no answer at all)."""

    kind: str
    status: int
    seconds: float
    body: Any = None
    error: str = ""


@dataclass
class Client:
    """One API client: a user's token, a seeded generator, and every answer it got."""

    base_url: str
    account: Account
    rng: random.Random
    answers: list[Answer] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)

    def run(self, count: int, deadline: float | None = None) -> list[Answer]:
        """Send ``count`` requests of the mix (or until ``deadline``, monotonic seconds)."""
        kinds, weights = zip(*MIX, strict=True)
        sent = 0
        while sent < count and (deadline is None or time.monotonic() < deadline):
            kind = self.rng.choices(kinds, weights)[0]
            self.answers.append(self.request(kind))
            sent += 1
        self.session.close()
        return self.answers

    def request(self, kind: str) -> Answer:
        """Send one request of ``kind`` and time it."""
        started = time.perf_counter()
        try:
            response = getattr(self, f"_{kind}")()
        except requests.RequestException as exc:
            return Answer(kind, 0, time.perf_counter() - started, error=repr(exc)[:300])
        elapsed = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        return Answer(kind, response.status_code, elapsed, body)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call with the user's bearer token."""
        headers = {"Authorization": f"Bearer {self.account.token}"}
        return self.session.request(method, f"{self.base_url}/api/v1{path}", headers=headers,
                                    timeout=60, **kwargs)

    def _order(self) -> requests.Response:
        asset_id = self.rng.choice(self.account.asset_ids)
        return self._call("POST", f"/assets/{asset_id}/orders",
                          json={"side": self.rng.choice(("buy", "sell")), "quantity": 1})

    def _close(self) -> requests.Response:
        listing = self._call("GET", "/positions", params={"status": "open", "per_page": 20})
        items = listing.json().get("items", []) if listing.status_code == 200 else []
        if not items:
            return listing  # nothing open yet: the read itself is the request
        position = self.rng.choice(items)
        return self._call("POST", f"/positions/{position['id']}/close")

    def _edit(self) -> requests.Response:
        return self._call("PATCH", f"/portfolios/{self.account.portfolio_id}",
                          json={"description": f"edited {self.rng.random():.6f}"})

    def _login(self) -> requests.Response:
        return self.session.post(f"{self.base_url}/api/v1/auth/login", timeout=60,
                                 json={"username": self.account.username,
                                       "password": PASSWORD, "name": "mix-login"})

    def _denied(self) -> requests.Response:
        return self._call("GET", "/users")

    def _read(self) -> requests.Response:
        return self._call("GET", "/orders", params={"per_page": 20})


def run_mix(base_url: str, accounts: Iterable[Account], *, clients: int = 16,
            requests_each: int = 50, seconds: float | None = None, seed_value: int = 10
            ) -> list[Answer]:
    """Run ``clients`` concurrent clients; each sends ``requests_each`` (or for ``seconds``)."""
    accounts = list(accounts)
    deadline = time.monotonic() + seconds if seconds is not None else None
    count = requests_each if seconds is None else 10**9
    workers = [Client(base_url, accounts[i % len(accounts)], random.Random(seed_value + i))
               for i in range(clients)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda c: c.run(count, deadline), workers))
    return [answer for answers in results for answer in answers]


def run_in_background(target: Callable[[], Any]) -> tuple[threading.Thread, threading.Event]:
    """Run ``target`` repeatedly in a thread until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            target()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread, stop


# ------------------------------------------------------------------------- checks


def server_errors(answers: Iterable[Answer]) -> list[Answer]:
    """Answers that were 5xx or no answer at all."""
    return [a for a in answers if a.status >= 500 or a.status == 0]


def placed_ids(answers: Iterable[Answer]) -> Counter[str]:
    """client_order_id of every order an answer of a manual order or close named.

    A 2xx names the order it placed; a 422 ``risk_rejected`` names the rejected row the
    refusal stored (SPEC 2a: refusals are honest, and stored).
    """
    seen: Counter[str] = Counter()
    for answer in answers:
        if answer.kind not in MANUAL_KINDS or not isinstance(answer.body, dict):
            continue
        body = answer.body
        error = body.get("error")
        if answer.status == 422 and isinstance(error, dict) \
                and error.get("code") == "risk_rejected":
            seen[error["client_order_id"]] += 1
        elif 200 <= answer.status < 300 and "client_order_id" in body and (
                body.get("order") is not None or body.get("status") not in ("rejected", None)):
            seen[body["client_order_id"]] += 1
    return seen


def database_rows(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every order and every audit row about orders, read with a plain engine."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            orders = [dict(r._mapping) for r in connection.execute(text(
                "SELECT id, client_order_id, status, source FROM orders ORDER BY id"))]
            audits = [dict(r._mapping) for r in connection.execute(text(
                "SELECT action, resource, details FROM audit_logs "
                "WHERE action IN ('order.created', 'order.status', 'order.manual', "
                "'position.close', 'order.reconciled', 'order.risk_rejected') ORDER BY id"))]
    finally:
        engine.dispose()
    return orders, audits


def _details(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row's details as a dict (SQLite hands JSON back as text)."""
    import json

    value = row["details"]
    if isinstance(value, str):
        value = json.loads(value)
    return value or {}


def exactly_once_problems(database_url: str, answers: list[Answer]) -> list[str]:
    """What breaks "every order answered 2xx exactly once, every order audited"."""
    orders, audits = database_rows(database_url)
    answered = placed_ids(answers)
    problems = [f"{coid} answered {n} times" for coid, n in answered.items() if n != 1]
    manual = {o["client_order_id"]: o for o in orders if o["source"] == "manual"}
    problems += [f"manual order {coid} ({o['status']}) was never answered 2xx"
                 for coid, o in manual.items() if coid not in answered]
    problems += [f"answered order {coid} is not in the database"
                 for coid in answered if coid not in manual]
    created = {a["resource"] for a in audits if a["action"] == "order.created"}
    refused = {a["resource"] for a in audits if a["action"] == "order.risk_rejected"}
    last_status: dict[str, str] = {}
    for row in audits:
        if row["action"] == "order.status":
            last_status[row["resource"]] = _details(row).get("to", "")
    requested = {_details(a).get("client_order_id") for a in audits
                 if a["action"] in ("order.manual", "position.close")}
    for order in orders:
        resource = f"order:{order['id']}"
        if order["status"] == "rejected" and resource in refused:
            continue  # a stored refusal: written rejected with its own audit row
        if order["source"] in ("manual", "strategy") and resource not in created:
            problems.append(f"order {order['client_order_id']} has no order.created audit")
        if order["status"] != "pending" and last_status.get(resource) != order["status"]:
            problems.append(f"order {order['client_order_id']} is {order['status']} but its "
                            f"last status audit says {last_status.get(resource)}")
        if order["source"] == "manual" and order["client_order_id"] not in requested:
            problems.append(f"manual order {order['client_order_id']} has no request audit")
    return problems


def broker_lost_orders(database_url: str) -> list[str]:
    """Orders LTS ended ``error``/``unknown`` although the paper broker filled them."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT o.client_order_id, o.status, p.status AS broker_status "
                "FROM orders o JOIN paper_orders p ON p.client_order_id = o.client_order_id "
                "WHERE o.status IN ('error', 'unknown') AND p.status = 'filled'")).all()
    finally:
        engine.dispose()
    return [f"{r.client_order_id}: LTS says {r.status}, the broker filled it" for r in rows]


def latency_summary(answers: list[Answer], seconds: float) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) and the 5xx count of a run."""
    latencies = sorted(a.seconds * 1000 for a in answers if a.status)
    if not latencies:
        return {"rps": 0.0, "p50": 0.0, "p99": 0.0, "errors_5xx": float(len(answers))}

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {"rps": len(answers) / seconds, "p50": percentile(0.5), "p99": percentile(0.99),
            "errors_5xx": float(len(server_errors(answers)))}


def status_table(answers: Iterable[Answer]) -> dict[str, dict[int, int]]:
    """kind -> status -> count, for failure messages."""
    table: dict[str, Counter[int]] = defaultdict(Counter)
    for answer in answers:
        table[answer.kind][answer.status] += 1
    return {kind: dict(counts) for kind, counts in table.items()}
