"""``GET /orders?client_order_id=&source=&updated_since=``: find an order after a timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lts.extensions import db as database
from lts.models import Order
from lts.services import listing, orders
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def add_order(asset, coid, *, source="strategy", updated=NOW):
    order = Order(asset_id=asset.id, side="buy", quantity=1, status="filled",
                  client_order_id=coid, source=source, created_at=NOW, updated_at=updated)
    database.session.add(order)
    database.session.commit()
    return order


def ids(client, headers, query):
    response = client.get(f"/api/v1/orders?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return sorted(item["client_order_id"] for item in response.get_json()["items"])


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_filters_by_client_id_source_and_update_time(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    add_order(asset, "lts-1-100-m1", source="manual", updated=NOW + timedelta(minutes=5))
    add_order(asset, "lts-1-100-0")
    add_order(asset, "lts-1-100-m2", source="manual")
    add_order(gen_asset(gen_portfolio(gen_user("bob"))), "bobs", source="manual",
              updated=NOW + timedelta(minutes=5))
    assert ids(client, as_alice, "client_order_id=lts-1-100-m1") == ["lts-1-100-m1"]
    assert ids(client, as_alice, "client_order_id=lts-1-100-m") == []  # exact, not a prefix
    assert ids(client, as_alice, "client_order_id=bobs") == []  # not yours: not found
    assert ids(client, as_alice, "source=manual") == ["lts-1-100-m1", "lts-1-100-m2"]
    since = (NOW + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert ids(client, as_alice, f"updated_since={since}") == ["lts-1-100-m1"]
    assert ids(client, as_alice, f"source=strategy&updated_since={since}") == []
    links = client.get(f"/api/v1/orders?source=manual&per_page=1&updated_since={since}",
                       headers=as_alice).get_json()["links"]
    assert "source=manual" in links["self"] and "updated_since=" in links["self"]


@pytest.mark.parametrize("query", ["source=robot", "updated_since=yesterday",
                                   "client_order_id=", "client_order_id=" + "x" * 101])
def test_bad_new_filters_are_422_naming_the_filter(client, as_alice, query):
    response = client.get(f"/api/v1/orders?{query}", headers=as_alice)
    assert response.status_code == 422
    assert query.split("=")[0] in response.get_json()["error"]["fields"]


def test_filter_values_stay_bind_parameters_of_one_cached_statement(db, alice):
    asset = gen_asset(gen_portfolio(alice))
    add_order(asset, "a'; DROP TABLE orders; --", source="manual")
    add_order(asset, "plain")
    listing.list_query.cache_clear()
    found = [orders.list_orders(alice, client_order_id=coid).items
             for coid in ("a'; DROP TABLE orders; --", "plain")]
    assert [[o.client_order_id for o in page] for page in found] == [
        ["a'; DROP TABLE orders; --"], ["plain"]]
    # Two values, one shape: the statement was built once and reused.
    assert listing.list_query.cache_info().misses == 1


def test_the_service_refuses_an_unknown_source_and_a_naive_time(db, alice):
    from lts.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as unknown:
        orders.list_orders(alice, source="robot")
    assert "source" in unknown.value.fields
    with pytest.raises(ValidationFailed) as naive:
        orders.list_orders(alice, updated_since=datetime(2026, 1, 1))
    assert "updated_since" in naive.value.fields
