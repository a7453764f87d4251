"""The order state machine of SPEC 2a."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lts.models import Order
from lts.models.enums import ORDER_STATUSES, TERMINAL_ORDER_STATUSES
from lts.trading.books import MemoryBooks
from lts.trading.errors import InvalidTransition
from lts.trading.order_state import TRANSITIONS, advance, can_transition, is_terminal, transition

NOW = datetime(2026, 1, 5, tzinfo=UTC)


class FakeSession(MemoryBooks):
    """Memory books; ``added`` shows the audit rows the state machine added as objects."""

    @property
    def added(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(**row) for row in self.audit]


def make_order(status: str = "pending") -> Order:
    return Order(id=7, client_order_id="lts-1-1-1", status=status, side="buy", quantity=1.0)


ALLOWED = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
FORBIDDEN = [(a, b) for a in ORDER_STATUSES for b in ORDER_STATUSES
             if b not in TRANSITIONS[a]]


def test_table_covers_every_status_and_terminals_have_no_exit():
    assert set(TRANSITIONS) == set(ORDER_STATUSES)
    for status in TERMINAL_ORDER_STATUSES:
        assert TRANSITIONS[status] == frozenset() and is_terminal(status)


def test_spec_edges_are_exactly_the_documented_ones():
    assert TRANSITIONS["pending"] == {"submitted", "unknown", "rejected", "error"}
    assert TRANSITIONS["submitted"] == {"partially_filled", "filled", "cancelled", "rejected",
                                        "unknown"}
    assert TRANSITIONS["unknown"] == {"submitted", "partially_filled", "filled", "cancelled",
                                      "rejected", "error"}
    assert TRANSITIONS["partially_filled"] == {"filled", "cancelled"}


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition_updates_status_time_and_audits(current, target):
    session = FakeSession()
    order = make_order(current)
    transition(session, order, target, NOW, "because")  # type: ignore[arg-type]
    assert order.status == target and order.updated_at == NOW
    (row,) = session.added
    assert row.action == "order.status"
    assert row.details == {"client_order_id": "lts-1-1-1", "from": current, "to": target,
                           "reason": "because"}


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition_raises_and_changes_nothing(current, target):
    session = FakeSession()
    order = make_order(current)
    with pytest.raises(InvalidTransition):
        transition(session, order, target, NOW)  # type: ignore[arg-type]
    assert order.status == current and session.added == []


def test_advance_goes_through_submitted_when_a_broker_answers_filled_to_pending():
    session = FakeSession()
    order = make_order("pending")
    advance(session, order, "filled", NOW)  # type: ignore[arg-type]
    assert order.status == "filled"
    assert [r.details["to"] for r in session.added] == ["submitted", "filled"]


@given(st.lists(st.sampled_from(ORDER_STATUSES), max_size=12))
def test_no_sequence_of_attempts_leaves_a_terminal_state(targets):
    session = FakeSession()
    order = make_order("pending")
    reached_terminal = None
    for target in targets:
        if can_transition(order.status, target):
            transition(session, order, target, NOW)  # type: ignore[arg-type]
        else:
            with pytest.raises(InvalidTransition):
                transition(session, order, target, NOW)  # type: ignore[arg-type]
        if is_terminal(order.status):
            reached_terminal = reached_terminal or order.status
            assert order.status == reached_terminal  # never a second terminal state


def test_a_status_change_never_overwrites_the_orders_reason():
    """The decision's reason stays; the broker's words for the change go to the audit row."""
    session = FakeSession()
    order = make_order("submitted")
    order.reason = "open long: naive forecast +0.400%"
    transition(session, order, "rejected", NOW, "insufficient funds at the broker")
    assert order.reason == "open long: naive forecast +0.400%"
    (audit,) = session.added
    assert audit.details["reason"] == "insufficient funds at the broker"


def test_an_order_without_a_reason_takes_the_first_status_reason():
    order = make_order("submitted")
    transition(FakeSession(), order, "filled", NOW, "stop_loss")
    assert order.reason == "stop_loss"
