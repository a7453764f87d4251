"""The shared list helpers (lts/services/listing.py): one rule per check, field named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lts.errors import ValidationFailed
from lts.models import AuditLog, Order
from lts.models.sorting import ORDER_SORTS
from lts.services import audit, listing, orders, positions, statistics


def test_a_bad_filter_names_its_field():
    with pytest.raises(ValidationFailed) as caught:
        listing.check_choice("side", "sideways", ("buy", "sell"))
    assert caught.value.fields == {"side": ["must be one of buy, sell"]}


def test_a_naive_or_empty_range_is_refused():
    with pytest.raises(ValidationFailed) as naive:
        listing.check_range(datetime(2026, 1, 1), None)
    assert "since" in naive.value.fields
    with pytest.raises(ValidationFailed) as empty:
        listing.check_range(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert "until" in empty.value.fields


def test_sorting_ends_on_the_unique_id_and_refuses_unknown_columns():
    sql = str(listing.ordered(select(Order), ORDER_SORTS, "status", "asc", Order.id))
    assert sql.endswith("ORDER BY orders.status ASC, orders.id ASC")
    with pytest.raises(ValidationFailed) as caught:
        listing.ordered(select(Order), ORDER_SORTS, "price", "up", Order.id)
    assert set(caught.value.fields) == {"sort", "direction"}
    sql = str(listing.ordered(select(AuditLog), audit.AUDIT_SORTS, "timestamp", "desc",
                              AuditLog.id))
    assert sql.endswith("ORDER BY audit_logs.timestamp DESC, audit_logs.id DESC")


def test_every_list_uses_the_one_module():
    """orders, positions, statistics and audit share the helpers; none keeps a copy."""
    assert orders.ListShape is listing.ListShape and positions.ListShape is listing.ListShape
    assert statistics.check_range is listing.check_range
    assert audit.ordered is listing.ordered
    for module in (orders, positions, statistics, audit):
        own = {name for name, value in vars(module).items()
               if callable(value) and getattr(value, "__module__", "") == module.__name__}
        assert not own & {"check_range", "check_choice", "check_sort", "ordered",
                          "scoped_list", "ListShape"}, module.__name__
