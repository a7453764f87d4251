"""Cursor paging of ``/api/v1`` lists (issue 18, item 3): no skip, no repeat, while rows arrive.

A script syncing orders walks ``next_cursor`` while new orders keep being written
(newer ones, and older-dated ones too); it must see every row that existed when it
started exactly once. Page-number links stay for the dashboard, and a page past the
end links back to the last page.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from lts.extensions import db as database
from lts.models import AuditLog, Order, Position
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _orders(asset, n, start=NOW, prefix="o", same_time=False):
    for i in range(n):
        database.session.add(Order(
            asset_id=asset.id, side="buy", quantity=1, status="filled",
            client_order_id=f"{prefix}-{i}",
            created_at=start if same_time else start + timedelta(minutes=i)))
    database.session.commit()


def _walk(client, headers, url):
    """Every item of a list by cursor, from its first page; and the number of requests."""
    body = client.get(url, headers=headers).get_json()
    seen, requests = list(body["items"]), 1
    while body["next_cursor"]:
        following = client.get(f"{url}&cursor={body['next_cursor']}", headers=headers)
        assert following.status_code == 200, following.get_json()
        body = following.get_json()
        assert body["page"] is None
        seen.extend(body["items"])
        requests += 1
    return seen, requests


@pytest.mark.parametrize("sort", ["created_at", "status", "quantity"])
def test_cursor_walk_sees_every_order_once_while_new_ones_arrive(client, alice, as_alice,
                                                                 sort):
    asset = gen_asset(gen_portfolio(alice))
    _orders(asset, 23)
    _orders(asset, 7, prefix="tied", same_time=True)  # ties broken by id
    before = {order.id for order in database.session.scalars(database.select(Order))}
    url = f"/api/v1/orders?per_page=4&sort={sort}"
    first = client.get(url, headers=as_alice).get_json()
    assert first["page"] == 1 and first["next_cursor"]
    seen = [item["id"] for item in first["items"]]
    body, index = first, 0
    while body["next_cursor"]:
        # Rows arrive between the requests: newer, older-dated and tied ones.
        _orders(asset, 1, start=NOW + timedelta(days=1), prefix=f"new-{index}")
        _orders(asset, 1, start=NOW - timedelta(days=1), prefix=f"old-{index}")
        index += 1
        # The first page's links.next is a page number (the dashboard's); from the
        # cursor pages on, links.next is the cursor link.
        following = body["links"]["next"] if body["page"] is None \
            else f"{url}&cursor={body['next_cursor']}"
        body = client.get(following, headers=as_alice).get_json()
        seen.extend(item["id"] for item in body["items"])
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert before <= set(seen), "a row that existed at the start was skipped"


def test_offset_paging_would_repeat_a_row_where_the_cursor_does_not(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    _orders(asset, 6)
    first = client.get("/api/v1/orders?per_page=3", headers=as_alice).get_json()
    _orders(asset, 1, start=NOW + timedelta(days=1), prefix="newest")
    assert first["links"]["next"].endswith("page=2&per_page=3")  # the dashboard's link
    by_page = client.get("/api/v1/orders?per_page=3&page=2", headers=as_alice).get_json()
    by_cursor = client.get(f"/api/v1/orders?per_page=3&cursor={first['next_cursor']}",
                           headers=as_alice).get_json()
    first_ids = {item["id"] for item in first["items"]}
    assert first_ids & {item["id"] for item in by_page["items"]}  # the offset repeats one
    assert not first_ids & {item["id"] for item in by_cursor["items"]}


def test_positions_and_audit_page_by_cursor_too(client, alice, as_alice, as_root):
    asset = gen_asset(gen_portfolio(alice))
    _orders(asset, 1)
    order = database.session.scalars(database.select(Order)).first()
    for i in range(9):
        database.session.add(Position(asset_id=asset.id, order_id=order.id, side="long",
                                      quantity=1.0, entry_price=1.0,
                                      opened_at=NOW + timedelta(minutes=i % 3)))
        database.session.add(AuditLog(action=f"test.{i}", outcome="ok",
                                      timestamp=NOW + timedelta(minutes=i % 2)))
    database.session.commit()
    positions, calls = _walk(client, as_alice, "/api/v1/positions?per_page=2")
    assert len({p["id"] for p in positions}) == len(positions) == 9 and calls == 5
    body = client.get("/api/v1/audit?per_page=4&action=test.", headers=as_root).get_json()
    rows = list(body["items"])
    while body["next_cursor"]:
        body = client.get(f"/api/v1/audit?per_page=4&action=test.&cursor="
                          f"{body['next_cursor']}", headers=as_root).get_json()
        rows.extend(body["items"])
    assert sorted(row["action"] for row in rows) == [f"test.{i}" for i in range(9)]


def test_updated_since_finds_what_changed_for_orders_and_positions(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    _orders(asset, 3)
    orders = list(database.session.scalars(database.select(Order).order_by(Order.id)))
    database.session.add(Position(asset_id=asset.id, order_id=orders[0].id, side="long",
                                  quantity=1.0, entry_price=1.0, opened_at=NOW,
                                  updated_at=NOW))
    orders[1].updated_at = NOW + timedelta(hours=1)
    orders[0].updated_at = orders[2].updated_at = NOW
    database.session.commit()
    since = (NOW + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    changed = client.get(f"/api/v1/orders?updated_since={since}", headers=as_alice).get_json()
    assert [item["id"] for item in changed["items"]] == [orders[1].id]
    none = client.get(f"/api/v1/positions?updated_since={since}", headers=as_alice).get_json()
    assert none["total"] == 0
    early = NOW.isoformat().replace("+00:00", "Z")
    assert client.get(f"/api/v1/positions?updated_since={early}",
                      headers=as_alice).get_json()["total"] == 1


@pytest.mark.parametrize(("query", "message"), [
    ("cursor=not-a-cursor", "is not a cursor this API gave"),
    ("cursor=" + base64.urlsafe_b64encode(b'["created_at","asc","raw",1,1]').decode()
     .rstrip("="), "keep the same sort"),
    ("sort=symbol&cursor=abc", "paging by cursor needs sort to be one of"),
])
def test_a_bad_cursor_is_a_422_naming_it(client, alice, as_alice, query, message):
    answer = client.get(f"/api/v1/orders?{query}", headers=as_alice)
    assert answer.status_code == 422
    assert message in answer.get_json()["error"]["fields"]["cursor"][0]


def test_a_page_past_the_end_links_back_to_the_last_page(client, alice, as_alice):
    _orders(gen_asset(gen_portfolio(alice)), 5)
    body = client.get("/api/v1/orders?per_page=2&page=9", headers=as_alice).get_json()
    assert body["items"] == [] and body["pages"] == 3
    assert body["links"]["prev"] == body["links"]["last"]
    assert body["links"]["last"].endswith("page=3&per_page=2")
    assert body["links"]["next"] is None and body["next_cursor"] is None
    last = client.get("/api/v1/orders?per_page=2&page=3", headers=as_alice).get_json()
    assert last["next_cursor"] is None and len(last["items"]) == 1
    other = gen_user("bob")
    assert other.id != alice.id


def test_statistics_raw_rows_page_by_cursor_without_skip_or_repeat(client, alice, as_alice):
    from lts.models import Statistic

    portfolio = gen_portfolio(alice)
    key = f"portfolio.{portfolio.id}.equity"

    def store(minutes: int, value: float) -> None:
        database.session.add(Statistic(key=key, value=value, portfolio_id=portfolio.id,
                                       timestamp=NOW + timedelta(minutes=minutes)))
        database.session.commit()

    for i in range(7):
        store(i // 2, float(i))  # pairs share a timestamp: the id orders them
    url = f"/api/v1/statistics?key={key}&raw=true&max_points=3"
    body = client.get(url, headers=as_alice).get_json()
    values = [point["value"] for point in body["points"]]
    assert body["bucket_seconds"] == 0 and body["raw_count"] == 7
    while body["next_cursor"]:
        store(100, 99.0)  # a newer row arrives while the client pages
        body = client.get(f"{url}&cursor={body['next_cursor']}", headers=as_alice).get_json()
        values.extend(point["value"] for point in body["points"])
    assert values[:7] == [float(i) for i in range(7)]
    assert len(values) == 7 + values.count(99.0) and values.count(99.0) >= 1
    mixed = client.get(f"{url}&bucket=5m", headers=as_alice)
    assert mixed.status_code == 422 and "bucket" in mixed.get_json()["error"]["fields"]
    stray = client.get(f"/api/v1/statistics?key={key}&cursor=abc", headers=as_alice)
    assert stray.status_code == 422 and "cursor" in stray.get_json()["error"]["fields"]
