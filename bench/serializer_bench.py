"""The API's page dump: this tree's plain-function FastItems against a base revision's.

Issue 12 removed the ``exec``-generated row function of ``lts/schemas/common.py`` for
plain converters. This bench dumps the same 50-row orders page (row mappings, as the
API's lists read them, and ORM objects) with both, in the same process and run,
alternating, and prints medians and the ratio (this tree / base; > 1 is slower).
marshmallow's own ``OrderSchema(many=True).dump`` is printed for scale.

Run: ``.venv/bin/python bench/serializer_bench.py [--base e5a11c3] [--rounds 15]``.
The base's module is read with ``git show BASE:lts/schemas/common.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS = 50
NOW = datetime(2026, 3, 2, 12, 0, 5, 123456, tzinfo=UTC)


def base_module(revision: str) -> Any:
    """The base revision's ``lts/schemas/common.py``, imported under another name."""
    source = subprocess.run(["git", "show", f"{revision}:lts/schemas/common.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="serializer-bench-"))
    path = folder / "base_schemas_common.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("base_schemas_common", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def order_rows() -> list[dict[str, Any]]:
    """50 orders as the API's list reads them (column mappings)."""
    rows = []
    for i in range(ROWS):
        rows.append({
            "id": i + 1, "asset_id": 1 + i % 5, "client_order_id": f"lts-1-{i}-0",
            "source": "loop" if i % 3 else "manual", "order_type": "market",
            "side": "buy" if i % 2 else "sell", "quantity": 1.5 + i, "filled_quantity": 1.5 + i,
            "price": None if i % 4 else 1.2345, "stop_loss": 1.2 if i % 2 else None,
            "take_profit": 1.3, "status": "filled", "fill_price": 1.2346, "commission": 0.01,
            "reason": "predicted move 0.4%", "broker_order_id": f"paper-{i}",
            "broker_response": {"fill": 1.2346, "id": i}, "created_at": NOW - timedelta(i),
            "updated_at": NOW - timedelta(i), "filled_at": NOW - timedelta(i),
            "plugin_versions": {"strategy": "sma_cross 1.0"}})
    return rows


def median_us(dump: Any, items: list[Any], number: int, repeat: int) -> float:
    """Median microseconds of one page dump."""
    return statistics.median(timeit.repeat(lambda: dump(items), number=number,
                                           repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="e5a11c3")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()

    from lts.models import Order
    from lts.schemas import common
    from lts.schemas.orders import OrderSchema

    base = base_module(args.base)
    rows = order_rows()
    if True:
        objects = [Order(**{k: v for k, v in row.items() if hasattr(Order, k)}) for row in rows]
        mine = common.FastItems(OrderSchema)
        theirs = base.FastItems(OrderSchema)
        marshmallow = OrderSchema(many=True)
        for items in (rows, objects):
            expected = marshmallow.dump(items)
            assert mine._serialize(items, "items", None) == expected
            assert theirs._serialize(items, "items", None) == expected
        print(f"{ROWS}-row orders page, median of {args.rounds} rounds x {args.number} dumps "
              f"(base {args.base})")
        print(f"{'items':10} {'base us':>9} {'this us':>9} {'ratio':>6} {'marshmallow us':>15}")
        for label, items in (("mappings", rows), ("objects", objects)):
            base_times, my_times = [], []
            for _ in range(args.rounds):  # alternated: load drifts hit both alike
                base_times.append(median_us(lambda v: theirs._serialize(v, "items", None),
                                            items, args.number, 1))
                my_times.append(median_us(lambda v: mine._serialize(v, "items", None),
                                          items, args.number, 1))
            ratios = [m / b for m, b in zip(my_times, base_times, strict=True)]
            plain = median_us(marshmallow.dump, items, max(args.number // 10, 1), 3)
            print(f"{label:10} {statistics.median(base_times):9.1f} "
                  f"{statistics.median(my_times):9.1f} {statistics.median(ratios):6.2f} "
                  f"{plain:15.1f}")


if __name__ == "__main__":
    main()
