"""``kill -9`` of the leader mid-tick, after an Order row is committed (issue 16).

The leader's broker is ``crash_paper`` (tests/system/ops_plugins.py): its first
submission is booked at the paper "broker", then the call hangs: the Order row is
committed ``pending``, the broker has the order, LTS never booked the answer. The test
kills the leader's whole process group there, starts a second server, and checks that
after its takeover and reconciliation LTS agrees with the broker: the crashed order is
settled once (filled, as the broker has it), no order is duplicated, none is lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.system.concurrency_mix import broker_lost_orders
from tests.system.ops_support import rows, seed_portfolios, start, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-ops")]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_kill_9_of_the_leader_after_an_order_row_is_committed_loses_and_duplicates_nothing(
        database_url: str, tmp_path: Path) -> None:
    seed_portfolios(database_url, tmp_path / "seed", portfolios=1, assets=2,
                    broker="crash_paper")
    marker = tmp_path / "crashed"
    settings = {"web_workers": "1", "lease_seconds": "2", "global_latency": str(0.5 / 60),
                "latency_unit_seconds": "1", "plugin_timeout_seconds": "120"}
    env = {"LTS_TEST_CRASH_MARKER": str(marker)}
    leader = start(database_url, tmp_path / "a", env=env, **settings)
    successor = None
    try:
        hook = wait_for(lambda: marker.exists() and marker.read_text().strip(), 60,
                     "the leader reached no order submission")
        client_order_id = hook.split()[0]
        # At the hook: LTS's row is committed and still pending; the broker booked it.
        (status,) = wait_for(lambda: rows(database_url, (
            f"SELECT status FROM orders WHERE client_order_id = '{client_order_id}'")),
            10, "the order row is not committed")
        assert status[0] in ("pending", "submitted"), status
        assert rows(database_url, "SELECT status FROM paper_orders WHERE client_order_id "
                                   f"= '{client_order_id}'") == [("filled",)]
        leader.kill()  # kill -9 of the whole process group, mid-tick

        successor = start(database_url, tmp_path / "b", env=env, **settings)
        settled = wait_for(lambda: rows(database_url, (
            "SELECT status FROM orders WHERE client_order_id = "
            f"'{client_order_id}' AND status NOT IN ('pending', 'submitted')")), 60,
            "the successor did not settle the crashed order")
    finally:
        leader.kill()
        if successor is not None:
            successor.stop()

    assert settled == [("filled",)]
    assert broker_lost_orders(database_url) == []
    # Every order the broker booked is one LTS order with the broker's status, and back.
    lts = rows(database_url, "SELECT client_order_id, status FROM orders "
                              "WHERE source = 'strategy'")
    broker = rows(database_url, "SELECT client_order_id, status FROM paper_orders")
    ids = [coid for coid, _ in lts]
    assert len(ids) == len(set(ids)), "an order was duplicated"
    assert {coid for coid, _ in broker} <= set(ids), "the broker has an order LTS lost"
    filled = {coid for coid, status in lts if status == "filled"}
    assert filled <= {coid for coid, _ in broker}, "LTS says filled, the broker never had it"
    in_both = dict(broker)
    disagree = [(coid, status, in_both[coid]) for coid, status in lts
                if coid in in_both and status not in ("pending", "submitted")
                and status != in_both[coid]]
    assert disagree == []
    assert ids.count(client_order_id) == 1
