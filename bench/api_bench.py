"""Benchmark the JSON API under gunicorn against a bare Flask + SQLAlchemy baseline.

A migrated SQLite demo database in a temp folder: one user with 50 portfolios (one
asset each) and 10,000 orders. Two gunicorn servers (2 workers x 4 threads each, the
loop off): LTS (``wsgi:app``) and a baseline app defined here reading the same rows
with plain SQLAlchemy Core and ``jsonify`` (no auth, no schemas), answering the very
same items (checked before anything is timed). wrk drives both:

* throughput: ``wrk -t2 -c16 -d<duration>s --latency`` -> requests/s, p50, p99, in
  ``--rounds`` back-to-back LTS/baseline pairs (alternating which goes first); the
  ratio is the median of the pairs' ratios, so a neighbour's load on a shared machine
  weighs on both sides alike;
* paced: a fixed-rate schedule (``bench/paced.lua``: 8 connections, one per wrk
  thread, each sending every 40 ms -> ``--rate`` 200 requests/s) -> p50/p99 measured
  from each request's *scheduled* time, so a slow answer cannot hide the queueing
  of the requests behind it (wrk2 is not in Debian; this is its idea in wrk's Lua).

Endpoints: ``GET /api/v1/orders?per_page=50``, ``GET /api/v1/portfolios`` and one order
by id, ``GET /api/v1/orders/<id>`` (its ETag read first), then the same with
``If-None-Match: <that ETag>`` (304, no body: what a poller costs), with a bearer
token; the baseline's ``/orders?per_page=50``, ``/portfolios`` and ``/orders/<id>``
(the same owner check, the same ETag rule and 304).
Targets (issue 5): LTS >= 70% of the baseline's requests/s; p99 <= 50 ms at 200 req/s.
Run: ``make bench-api`` or ``.venv/bin/python bench/api_bench.py [--rounds 5] [--only
portfolios]``.
Needs ``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTFOLIOS = 50
ORDERS = 10_000
SECRET = "bench-secret-key-not-for-production"
PACED_LUA = Path(__file__).resolve().with_name("paced.lua")


# ----------------------------------------------------------------------- baseline


# The fields LTS's OrderSchema and PortfolioSchema show (the bench checks the baseline
# answers the very same items, so both servers do the same reading and typing work).
ORDER_FIELDS = ("id", "asset_id", "client_order_id", "source", "order_type", "side",
                "quantity", "filled_quantity", "price", "stop_loss", "take_profit", "status",
                "fill_price", "commission", "reason", "broker_order_id", "broker_response",
                "created_at", "updated_at", "filled_at", "plugin_versions")
# A list leaves broker_response out unless ?include=broker_response (issue 18).
ORDER_LIST_FIELDS = tuple(name for name in ORDER_FIELDS if name != "broker_response")
PORTFOLIO_FIELDS = ("id", "user_id", "name", "description", "is_active", "portfolio_plugin",
                    "portfolio_config", "total_capital", "portfolio_latency", "risk_state",
                    "max_drawdown_pct", "last_execution", "created_at", "updated_at", "currency")


def baseline_app() -> Any:
    """The baseline: Flask and plain SQLAlchemy Core on the same rows, no auth, no schemas.

    It reads what LTS reads for the bench user (``BENCH_USER_ID``): the same joins that
    scope orders to their owner, the same count, the same ordering and page size, and
    answers ``jsonify`` of the same items LTS answers. The tables are reflected, so
    SQLAlchemy types the values (JSON text parsed, timestamps as datetimes), and
    timestamps are written as ISO-8601 UTC: the API's contract, which raw SQLite text
    ("2026-01-01 12:00:00.000000", JSON as a string) would not meet.
    """
    import hashlib

    from flask import Flask, Response, abort, jsonify, request
    from sqlalchemy import MetaData, bindparam, create_engine, func, select

    engine = create_engine(os.environ["BENCH_DATABASE_URL"])
    user_id = int(os.environ.get("BENCH_USER_ID", "1"))
    tables = MetaData()
    tables.reflect(engine, only=["orders", "assets", "portfolios", "positions", "statistics"])
    positions_t, statistics_t = tables.tables["positions"], tables.tables["statistics"]
    orders_t, assets_t, portfolios_t = (tables.tables[name]
                                        for name in ("orders", "assets", "portfolios"))
    owned = (orders_t.join(assets_t, assets_t.c.id == orders_t.c.asset_id)
             .join(portfolios_t, portfolios_t.c.id == assets_t.c.portfolio_id))
    newest = (orders_t.c.created_at.desc(), orders_t.c.id.desc())
    order_count = (select(func.count()).select_from(owned)
                   .where(portfolios_t.c.user_id == bindparam("user")))
    order_ids = (select(orders_t.c.id).select_from(owned)
                 .where(portfolios_t.c.user_id == bindparam("user")).order_by(*newest)
                 .limit(bindparam("limit")).offset(bindparam("offset")))
    order_page = (select(*(orders_t.c[name] for name in ORDER_LIST_FIELDS))
                  .where(orders_t.c.id.in_(order_ids)).order_by(*newest))
    portfolio_count = (select(func.count()).select_from(portfolios_t)
                       .where(portfolios_t.c.user_id == bindparam("user")))
    portfolio_page = (select(*(portfolios_t.c[name] for name in PORTFOLIO_FIELDS))
                      .where(portfolios_t.c.user_id == bindparam("user"))
                      .order_by(portfolios_t.c.id)
                      .limit(bindparam("limit")).offset(bindparam("offset")))
    order_one = (select(*(orders_t.c[name] for name in ORDER_FIELDS)).select_from(owned)
                 .where(portfolios_t.c.user_id == bindparam("user"),
                        orders_t.c.id == bindparam("order_id")))
    app = Flask("baseline")

    def page_args() -> tuple[int, int]:
        per_page = min(int(request.args.get("per_page", 50)), 200)
        return max(int(request.args.get("page", 1)), 1), per_page

    def item(row: Any) -> dict[str, Any]:
        return {key: value.replace(tzinfo=UTC).isoformat() if isinstance(value, datetime)
                else value for key, value in row.items()}

    def envelope(rows: Any, total: int, page: int, per_page: int) -> Any:
        pages = max(1, -(-total // per_page))

        def link(number: int) -> str:
            return f"{request.path}?page={number}&per_page={per_page}"

        return jsonify({"items": [item(row) for row in rows], "page": page,
                        "per_page": per_page, "total": total, "pages": pages,
                        "links": {"self": link(page), "first": link(1), "last": link(pages),
                                  "prev": link(page - 1) if page > 1 else None,
                                  "next": link(page + 1) if page < pages else None}})

    from sqlalchemy import case

    def with_money(connection: Any, found: list[Any]) -> list[dict[str, Any]]:
        """Portfolios plus equity and P&L, as LTS shows them (the same three reads)."""
        rows = [dict(row) for row in found]
        ids = [row["id"] for row in rows]
        money = {pid: {"equity": None, "realized_pnl": 0.0, "unrealized_pnl": 0.0}
                 for pid in ids}
        for pid, realized, unrealized in connection.execute(
                select(assets_t.c.portfolio_id, func.sum(positions_t.c.realized_pnl),
                       func.sum(case((positions_t.c.status == "open",
                                      positions_t.c.unrealized_pnl), else_=0.0)))
                .join(positions_t, positions_t.c.asset_id == assets_t.c.id)
                .where(assets_t.c.portfolio_id.in_(ids)).group_by(assets_t.c.portfolio_id)):
            money[pid].update(realized_pnl=float(realized or 0.0),
                              unrealized_pnl=float(unrealized or 0.0))
        keys = {f"portfolio.{pid}.equity": pid for pid in ids}
        newest = (select(statistics_t.c.key, func.max(statistics_t.c.timestamp).label("at"))
                  .where(statistics_t.c.key.in_(keys)).group_by(statistics_t.c.key)
                  .subquery())
        for key, value in connection.execute(
                select(statistics_t.c.key, statistics_t.c.value).join(newest, (
                    statistics_t.c.key == newest.c.key) & (
                    statistics_t.c.timestamp == newest.c.at))):
            money[keys[key]]["equity"] = float(value)
        return [{**row, **money[row["id"]]} for row in rows]

    def listing(count: Any, rows: Any, money: bool = False) -> Any:
        page, per_page = page_args()
        params = {"user": user_id, "limit": per_page, "offset": (page - 1) * per_page}
        with engine.connect() as connection:
            total = connection.execute(count, params).scalar_one()
            found = connection.execute(rows, params).mappings().all()
            if money:
                found = with_money(connection, found)
        return envelope(found, total, page, per_page)

    def one_order(order_id: int) -> Any:
        """One order with LTS's ETag rule (type, id, updated_at); 304 when it matches."""
        with engine.connect() as connection:
            row = connection.execute(order_one, {"user": user_id, "order_id": order_id}
                                     ).mappings().first()
        if row is None:
            abort(404)
        stamp = row["updated_at"].replace(tzinfo=UTC).isoformat()
        etag = '"' + hashlib.sha256(f"Order:{order_id}:{stamp}".encode()).hexdigest()[:32] \
            + '"'
        if request.if_none_match.contains_weak(etag.strip('"')):
            return Response(status=304, headers={"ETag": etag})
        answer = jsonify(item(row))
        answer.headers["ETag"] = etag
        return answer

    app.add_url_rule("/orders", "orders", lambda: listing(order_count, order_page))
    app.add_url_rule("/orders/<int:order_id>", "order", one_order)
    app.add_url_rule("/portfolios", "portfolios",
                     lambda: listing(portfolio_count, portfolio_page, money=True))
    return app


# --------------------------------------------------------------------------- seed


def seed(database_url: str, instance: Path) -> str:
    """Migrate, insert the demo rows and return a bearer token of their owner."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from lts import create_app
    from lts.extensions import db
    from lts.models import Asset, Order, Portfolio, User

    app = create_app({"database_url": database_url, "secret_key": SECRET,
                      "loop_enabled": False, "log_level": "WARNING"},
                     instance_path=instance)
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        db.session.execute(insert(User), [{"username": "bench", "email": "bench@example.com",
                                           "password_hash": "x", "role": "user",
                                           "created_at": now}])
        user_id = db.session.scalar(select(User.id))
        db.session.execute(insert(Portfolio), [{
            "user_id": user_id, "name": f"portfolio {i}", "description": "",
            "portfolio_plugin": "equal_weight", "portfolio_config": {},
            "total_capital": 10_000.0, "portfolio_latency": 60, "created_at": now,
            "updated_at": now} for i in range(PORTFOLIOS)])
        portfolio_ids = list(db.session.scalars(select(Portfolio.id).order_by(Portfolio.id)))
        db.session.execute(insert(Asset), [{
            "portfolio_id": pid, "symbol": f"SYM{pid}", "name": "", "strategy_config": {},
            "broker_config": {}, "pipeline_config": {}, "created_at": now, "updated_at": now}
            for pid in portfolio_ids])
        asset_ids = list(db.session.scalars(select(Asset.id).order_by(Asset.id)))
        start = now - timedelta(days=30)
        db.session.execute(insert(Order), [{
            "asset_id": asset_ids[i % len(asset_ids)], "side": "buy" if i % 2 else "sell",
            "order_type": "market", "quantity": 10.0, "status": "filled", "fill_price": 1.1,
            "client_order_id": f"lts-{asset_ids[i % len(asset_ids)]}-{i}-0",
            "reason": "bench", "created_at": start + timedelta(minutes=4 * i),
            "updated_at": start + timedelta(minutes=4 * i)} for i in range(ORDERS)])
        db.session.commit()
        user = db.session.get(User, user_id)
        return str(app.extensions["lts.aaa"].issue_token(user, "bench", 24).raw)


ORDER_ID = ORDERS // 2  # one order of the bench user, mid-table
# (name, LTS path, baseline path, conditional: send the answer's own ETag back)
ENDPOINTS = (("orders?per_page=50", "/api/v1/orders?per_page=50", "/orders?per_page=50",
              False),
             ("portfolios", "/api/v1/portfolios", "/portfolios", False),
             ("order by id", f"/api/v1/orders/{ORDER_ID}", f"/orders/{ORDER_ID}", False),
             ("order 304", f"/api/v1/orders/{ORDER_ID}", f"/orders/{ORDER_ID}", True))


# ------------------------------------------------------------------------ servers


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(target: str, port: int, env: dict[str, str], threads: int,
                   tree: Path = ROOT) -> subprocess.Popen[bytes]:
    """Start gunicorn (2 workers x ``threads``) on ``target`` and wait until it answers."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    process = subprocess.Popen(
        [gunicorn, "-w", "2", *worker, "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", target],
        cwd=tree, env={**env, "PYTHONPATH": str(tree)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn {target} did not start")


# ---------------------------------------------------------------------------- wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    """``3.21ms`` / ``850.00us`` / ``1.02s`` -> milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, token: str | None, duration: int, connections: int,
            rate: float | None, workdir: Path, headers: dict[str, str] | None = None
            ) -> dict[str, float]:
    """One wrk run; returns requests/s, p50, p99 (ms) and non-2xx count.

    Without ``rate``: as fast as ``connections`` connections go (throughput). With
    ``rate``: ``bench/paced.lua`` sends on a fixed schedule, one connection per wrk
    thread, and p50/p99 are measured from each request's scheduled time (no
    coordinated omission), so they are the latencies at that offered rate.
    ``headers`` are added to every request (``-H``: ``If-None-Match`` for the 304 run).
    """
    if rate:
        interval = connections * 1000.0 / rate
        args = ["-t", str(connections), "-c", str(connections), "-s", str(PACED_LUA)]
        extra = ["--", f"{interval:.3f}", *([token] if token else [])]
    else:
        script = workdir / "bench.lua"
        script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token
                          else "\n")
        args = ["-t", "2", "-c", str(connections), "-s", str(script)]
        extra = []
    flags = [flag for name, value in (headers or {}).items()
             for flag in ("-H", f"{name}: {value}")]
    result = subprocess.run(
        ["wrk", *args, *flags, "-d", f"{duration}s", "--latency", url, *extra],
        capture_output=True, text=True, check=True)
    out = result.stdout
    if "Requests/sec" not in out or " 99%" not in out:
        raise SystemExit(f"wrk gave no figures for {url}:\n{out}\n{result.stderr}")
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    if "99" not in percentiles:
        raise SystemExit(f"wrk output not understood for {url}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
               "p50": _ms(percentiles["50"]), "p99": _ms(percentiles["99"]),
               "non_2xx": float(errors.group(1)) if errors else 0.0}
    if rate:
        scheduled = re.search(r"SCHEDULED n=\d+ p50=([\d.]+) p99=([\d.]+)", out)
        if not scheduled:
            raise SystemExit(f"paced.lua gave no figures for {url}:\n{out}\n{result.stderr}")
        figures["p50"], figures["p99"] = float(scheduled.group(1)), float(scheduled.group(2))
    return figures


# ------------------------------------------------------------------- in-process


def inprocess_costs(database_url: str, instance: Path, token: str, rounds: int = 300
                    ) -> list[tuple[str, float]]:
    """Median wall time per request through Flask's test client (no server, no network).

    Less sensitive to a busy machine than wrk; splits LTS's cost into the fixed stack
    (``/auth/me``: token check, user load, headers) and each endpoint.
    """
    from lts import create_app

    lts = create_app({"database_url": database_url, "secret_key": SECRET,
                      "loop_enabled": False, "log_level": "WARNING"},
                     instance_path=instance).test_client()
    base = baseline_app().test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cases = [("LTS /api/v1/auth/me", lts, "/api/v1/auth/me", headers),
             ("LTS /api/v1/orders?per_page=50", lts, "/api/v1/orders?per_page=50", headers),
             ("LTS /api/v1/portfolios", lts, "/api/v1/portfolios", headers),
             ("LTS /api/v1/orders/<id>", lts, f"/api/v1/orders/{ORDER_ID}", headers),
             ("baseline /orders?per_page=50", base, "/orders?per_page=50", {}),
             ("baseline /portfolios", base, "/portfolios", {}),
             ("baseline /orders/<id>", base, f"/orders/{ORDER_ID}", {})]
    for lts_path, base_path in (("/api/v1/orders?per_page=50", "/orders?per_page=50"),
                                ("/api/v1/portfolios", "/portfolios")):
        same_answer(lts.get(lts_path, headers=headers).get_json(),
                    base.get(base_path).get_json(), lts_path)
    single = lts.get(f"/api/v1/orders/{ORDER_ID}", headers=headers)
    if single.get_json() != base.get(f"/orders/{ORDER_ID}").get_json():
        raise SystemExit("the baseline's order differs from LTS's")
    tag = single.headers["ETag"]
    cases += [("LTS /api/v1/orders/<id> 304", lts, f"/api/v1/orders/{ORDER_ID}",
               {**headers, "If-None-Match": tag}),
              ("baseline /orders/<id> 304", base, f"/orders/{ORDER_ID}",
               {"If-None-Match": base.get(f"/orders/{ORDER_ID}").headers["ETag"]})]
    result = []
    for name, client, path, extra in cases:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(path, headers=extra)
            times.append(time.perf_counter() - started)
            wanted = 304 if "If-None-Match" in extra else 200
            assert response.status_code == wanted, (path, response.status_code)
        result.append((name, statistics.median(times) * 1000))
    return result


def same_answer(lts_body: dict[str, Any], base_body: dict[str, Any], path: str) -> None:
    """Refuse to compare servers that do not answer the same items and totals."""
    keys = ("items", "page", "per_page", "total", "pages")
    if not lts_body["items"] or any(lts_body[k] != base_body[k] for k in keys):
        raise SystemExit(f"the baseline's answer differs from LTS's for {path}")


def etag_of_url(url: str, token: str | None) -> str:
    """The ETag a server answers for ``url`` (what a poller then sends back)."""
    import urllib.request

    asked = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                   if token else {})
    with urllib.request.urlopen(asked, timeout=30) as answer:
        return str(answer.headers["ETag"])


# --------------------------------------------------------------------------- main


def main() -> int:
    """Seed, start both servers, run wrk on every endpoint, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5,
                        help="LTS/baseline throughput pairs per endpoint (median reported)")
    parser.add_argument("--paced-duration", type=int, default=10,
                        help="seconds of the fixed-rate run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--paced-connections", type=int, default=8,
                        help="connections (= wrk threads) of the fixed-rate runs")
    parser.add_argument("--rate", type=float, default=200.0, help="paced requests/s")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per gunicorn worker (1: sync workers)")
    parser.add_argument("--only", choices=[name for name, _, _, _ in ENDPOINTS],
                        help="bench one endpoint")
    parser.add_argument("--lts-tree", type=Path, default=ROOT,
                        help="serve LTS from this source tree (a base revision's "
                             "`git archive`, for before/after); seeding and the baseline "
                             "stay this tree's")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lts-api-bench-") as tmp:
        work = Path(tmp)
        database_url = f"sqlite:///{work / 'bench.db'}"
        token = seed(database_url, work / "instance")
        env = {**os.environ, "LTS_DATABASE_URL": database_url, "LTS_SECRET_KEY": SECRET,
               "LTS_LOOP_ENABLED": "false", "LTS_LOG_LEVEL": "WARNING",
               "BENCH_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
        os.environ["BENCH_DATABASE_URL"] = database_url
        costs = inprocess_costs(database_url, work / "instance", token)
        lts_port, base_port = free_port(), free_port()
        servers = [start_gunicorn("wsgi:app", lts_port, env, args.threads, args.lts_tree),
                   start_gunicorn("bench.api_bench:baseline_app()", base_port, env,
                                  args.threads)]
        try:
            rows = []
            for name, lts_path, base_path, conditional in ENDPOINTS:
                if args.only and name != args.only:
                    continue
                lts_url = f"http://127.0.0.1:{lts_port}{lts_path}"
                base_url = f"http://127.0.0.1:{base_port}{base_path}"
                lts_headers = {"If-None-Match": etag_of_url(lts_url, token)} \
                    if conditional else {}
                base_headers = {"If-None-Match": etag_of_url(base_url, None)} \
                    if conditional else {}
                run_wrk(lts_url, token, 2, args.connections, None, work,
                        lts_headers)  # warm-up
                run_wrk(base_url, None, 2, args.connections, None, work, base_headers)
                pairs = []
                for round_number in range(args.rounds):
                    # Each pair runs back to back, in alternating order, so a neighbour's
                    # load on this shared machine weighs on both sides of a ratio alike.
                    first_lts = round_number % 2 == 0
                    runs = [(lts_url, token, lts_headers), (base_url, None, base_headers)]
                    measured = [run_wrk(url, tok, args.duration, args.connections, None, work,
                                        extra)
                                for url, tok, extra in (runs if first_lts else runs[::-1])]
                    pairs.append(measured if first_lts else measured[::-1])
                paced = run_wrk(lts_url, token, args.paced_duration, args.paced_connections,
                                args.rate, work, lts_headers)
                rows.append((name, pairs, paced))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    print(f"gunicorn: 2 workers x {args.threads} thread(s); wrk: 2 threads, "
          f"{args.connections} connections, {args.rounds} x {args.duration} s per server "
          f"(paced: {args.paced_connections} connections on a fixed {args.rate:.0f}/s "
          f"schedule, {args.paced_duration} s); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'endpoint':<20} {'LTS rps':>9} {'p50 ms':>7} {'p99 ms':>7} {'base rps':>9} "
          f"{'ratio':>6} {'(each pair)':<16}| {'paced rps':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'non-2xx':>7}")
    ok = True
    for name, pairs, paced in rows:
        ratios = [lts["rps"] / base["rps"] for lts, base in pairs]
        ratio = statistics.median(ratios)
        lts = {key: statistics.median(p[0][key] for p in pairs) for key in pairs[0][0]}
        base_rps = statistics.median(p[1]["rps"] for p in pairs)
        errors = int(sum(p[0]["non_2xx"] for p in pairs) + paced["non_2xx"])
        ok &= ratio >= 0.7 and paced["p99"] <= 50 and errors == 0
        each = " ".join(f"{r:.0%}" for r in ratios)
        print(f"{name:<20} {lts['rps']:>9.0f} {lts['p50']:>7.2f} {lts['p99']:>7.2f} "
              f"{base_rps:>9.0f} {ratio:>6.0%} {each:<16}| {paced['rps']:>9.0f} "
              f"{paced['p50']:>7.2f} {paced['p99']:>7.2f} {errors:>7}")
    print("in-process median per request (Flask test client, one thread):")
    for name, ms in costs:
        print(f"  {name:<34} {ms:6.2f} ms")
    print("targets: LTS >= 70% of baseline rps (median of the pairs); p99 <= 50 ms at the "
          "paced rate:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
