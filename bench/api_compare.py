"""The API's cost per request, this tree against a base tree, alternated in fresh processes.

wrk figures (``bench/api_bench.py``) swing with a neighbour's load on a shared machine;
this compares what each tree's Flask stack costs per request through the test client
(``api_bench.inprocess_costs``: the fixed stack on ``/auth/me``, the 50-row orders page,
the portfolios list), running base and this tree alternately, each round in a fresh
interpreter on its own freshly seeded database. It prints the medians and the median
of the per-round ratios (this tree / base; > 1 is slower).

Run: ``git archive BASE | tar -x -C /tmp/base`` then
``.venv/bin/python bench/api_compare.py /tmp/base [--rounds 4] [--requests 150]``.

Instructions per request (load-independent), one tree and one path at a time::

    valgrind --tool=callgrind --instr-atstart=no .venv/bin/python bench/api_compare.py \
        /tmp/base --callgrind /api/v1/auth/me --requests 200 [--tree /tmp/base] \
        [--if-none-match]

counts only the ``--requests`` requests (after seeding, 20 warm-up requests and a
``gc.freeze()``, as in a worker);
divide callgrind's "Collected" by ``--requests``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(tree: Path, requests: int) -> None:
    """Seed a database and print this tree's per-request costs as JSON (run with ``tree``)."""
    spec = importlib.util.spec_from_file_location("api_bench", ROOT / "bench" / "api_bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # api_bench puts this tree first on the path; the LTS measured is ``tree``'s.
    sys.path[:] = [str(tree)] + [p for p in sys.path if p not in (str(ROOT), str(tree))]
    import lts

    assert Path(lts.__file__).resolve().is_relative_to(tree.resolve()), lts.__file__
    with tempfile.TemporaryDirectory(prefix="lts-api-compare-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["BENCH_DATABASE_URL"] = database_url
        token = bench.seed(database_url, Path(tmp) / "instance")
        costs = bench.inprocess_costs(database_url, Path(tmp) / "instance", token, requests)
    print(json.dumps(dict(costs)))


def count_instructions(tree: Path, path: str, requests: int, conditional: bool = False
                       ) -> None:
    """Seed, warm up, then run ``requests`` GETs of ``path`` with callgrind counting.

    ``conditional``: each GET sends the answer's own ETag back (``If-None-Match``), and
    is answered 304: what a poller of an unchanged object costs.
    """
    spec = importlib.util.spec_from_file_location("api_bench", ROOT / "bench" / "api_bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sys.path[:] = [str(tree)] + [p for p in sys.path if p not in (str(ROOT), str(tree))]
    from lts import create_app

    with tempfile.TemporaryDirectory(prefix="lts-api-callgrind-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["BENCH_DATABASE_URL"] = database_url
        token = bench.seed(database_url, Path(tmp) / "instance")
        app = create_app({"database_url": database_url, "secret_key": bench.SECRET,
                          "loop_enabled": False, "log_level": "WARNING"},
                         instance_path=Path(tmp) / "instance")
        client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
        expected = 200
        if conditional:
            headers["If-None-Match"] = client.get(path, headers=headers).headers["ETag"]
            expected = 304
        for _ in range(20):
            assert client.get(path, headers=headers).status_code == expected, path
        # As a gunicorn worker does after start-up (lts.server.freeze_startup_objects):
        # else a full collection landing inside the window adds ~1 % per request.
        gc.collect()
        gc.freeze()
        switch = ["callgrind_control", "-i", "on", str(os.getpid())]
        subprocess.run(switch, check=True, capture_output=True)
        for _ in range(requests):
            client.get(path, headers=headers)
        subprocess.run([*switch[:2], "off", switch[3]], check=True, capture_output=True)
    print(f"{tree}: {requests} x GET {path}{' (304)' if conditional else ''} counted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the base revision's source tree")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", metavar="PATH",
                        help="count one path's instructions (run under callgrind, see above)")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="with --callgrind: the tree to count (default this one)")
    parser.add_argument("--if-none-match", action="store_true",
                        help="with --callgrind: send the answer's ETag back (count the 304)")
    args = parser.parse_args()
    if args.callgrind:
        count_instructions(args.tree, args.callgrind, args.requests, args.if_none_match)
        return
    if args.child:
        child(args.child, args.requests)
        return
    results: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for index in range(args.rounds):
        order = [("base", args.base), ("this", ROOT)]
        for label, tree in order if index % 2 == 0 else reversed(order):
            out = subprocess.run([sys.executable, __file__, str(args.base), "--child", str(tree),
                                  "--requests", str(args.requests)],
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(tree)}).stdout
            results[label].append(json.loads(out.strip().splitlines()[-1]))
    print(f"per-request median ms, {args.rounds} alternated rounds x {args.requests} requests "
          f"(base {args.base})")
    print(f"{'request':36} {'base':>8} {'this':>8} {'ratio':>6}")
    for name in results["base"][0]:
        if not name.startswith("LTS"):
            continue
        base = [r[name] for r in results["base"]]
        mine = [r[name] for r in results["this"]]
        ratio = statistics.median(m / b for m, b in zip(mine, base, strict=True))
        print(f"{name:36} {statistics.median(base):8.2f} {statistics.median(mine):8.2f} "
              f"{ratio:6.2f}")


if __name__ == "__main__":
    main()
