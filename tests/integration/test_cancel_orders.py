"""Cancelling resting orders (issue 10 item 5): API, page, CLI, through the broker's cancel().

Real app, real database, the real paper broker's book; brokers that cannot cancel or
do not answer are paper brokers with one method replaced, registered for the test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from lts.cli import lts
from lts.extensions import db as database
from lts.models import AuditLog, Order, Position
from lts.models.paper import PaperOrder
from lts.plugins.base import BrokerPlugin
from lts.plugins.broker.paper import PaperBroker
from lts.plugins.registry import get_registry
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from

LIMIT = 0.5  # far below the synthetic EUR_USD price: the order rests


class NoCancelPaper(PaperBroker):
    """A paper broker without cancel(): the contract's default answers ``rejected``."""

    name = "no_cancel_paper"
    interface_version = "1.0"
    cancel = BrokerPlugin.cancel


class DownPaper(PaperBroker):
    """A paper broker whose cancel and lookup fail, as a broker that is down."""

    name = "down_paper"
    interface_version = "1.0"

    def cancel(self, asset, client_order_id):
        raise ConnectionError("connection reset by broker")

    def lookup(self, asset, client_order_id):
        raise ConnectionError("connection reset by broker")


def _resting(client, headers, asset_id: int) -> dict:
    """Place a limit buy that rests at the paper broker; its order as the API shows it."""
    response = client.post(f"/api/v1/assets/{asset_id}/orders", headers=headers,
                           json={"side": "buy", "quantity": 10, "order_type": "limit",
                                 "price": LIMIT})
    order = response.get_json()["order"]
    assert order["status"] == "submitted", response.get_json()
    return order


def _order(order_id: int) -> Order:
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    return database.session.get(Order, order_id)


def _audits(order_id: int) -> list[AuditLog]:
    database.session.commit()
    return list(database.session.scalars(select(AuditLog).where(
        AuditLog.resource == f"order:{order_id}").order_by(AuditLog.id)))


def _paper_status(client_order_id: str) -> str:
    return database.session.scalar(select(PaperOrder.status).where(
        PaperOrder.client_order_id == client_order_id))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_cancel_a_resting_order_through_the_broker_exactly_once(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    response = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"
    assert _order(order["id"]).status == "cancelled"
    assert _paper_status(order["client_order_id"]) == "cancelled"
    rows = _audits(order["id"])
    actions = [(r.action, r.outcome) for r in rows]
    assert actions[-3:] == [("order.cancel_requested", "ok"), ("order.status", "ok"),
                            ("order.cancel", "ok")]
    requested, status, done = rows[-3:]
    assert requested.user_id == done.user_id == alice.id
    assert requested.details["status"] == "submitted" and done.details["via"] == "api"
    assert status.details["from"] == "submitted" and status.details["to"] == "cancelled"
    again = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "order_not_cancellable"
    assert "status" in again.get_json()["error"]["fields"]
    assert _audits(order["id"])[-1].outcome == "denied"


def test_post_cancel_is_the_same_as_delete(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    response = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=as_alice)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"


def test_a_filled_order_cannot_be_cancelled(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    placed = client.post(f"/api/v1/assets/{asset.id}/orders", headers=as_alice,
                         json={"side": "buy", "quantity": 10}).get_json()["order"]
    response = client.delete(f"/api/v1/orders/{placed['id']}", headers=as_alice)
    assert response.status_code == 409
    body = response.get_json()["error"]
    assert body["code"] == "order_not_cancellable" and "filled" in body["message"]
    assert _order(placed["id"]).status == "filled"


def test_a_pending_order_is_in_flight_and_not_cancelled(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice))
    order = Order(asset_id=asset.id, side="buy", quantity=1, status="pending",
                  client_order_id=f"lts-{asset.id}-1-1")
    database.session.add(order)
    database.session.commit()
    response = client.delete(f"/api/v1/orders/{order.id}", headers=as_alice)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "order_in_flight"
    assert _order(order.id).status == "pending"


def test_an_unknown_order_the_broker_holds_is_cancelled(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    database.session.execute(update(Order).where(Order.id == order["id"])
                             .values(status="unknown"))
    database.session.commit()
    response = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"


def test_a_fill_that_beat_the_cancel_is_booked_and_answered_409(client, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    # The exchange fills the resting order before the cancel arrives.
    database.session.execute(update(PaperOrder).where(
        PaperOrder.client_order_id == order["client_order_id"]).values(
        status="filled", fill_price=LIMIT, commission=0.0,
        filled_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)))
    database.session.commit()
    response = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "order_not_cancellable"
    assert "filled before the cancel reached the broker" in response.get_json()["error"][
        "message"]
    assert _order(order["id"]).status == "filled"
    position = database.session.scalar(select(Position).where(Position.order_id == order["id"]))
    assert position.status == "open" and position.entry_price == LIMIT
    assert _audits(order["id"])[-1].outcome == "denied"


def test_a_broker_that_cannot_cancel_keeps_the_order_live(app, client, alice, as_alice):
    get_registry(app).register("broker", NoCancelPaper, origin="test")
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0,
                      broker_plugin="no_cancel_paper")
    order = _resting(client, as_alice, asset.id)
    response = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert response.status_code == 409
    body = response.get_json()["error"]
    assert body["code"] == "cancel_refused" and "cannot cancel orders" in body["message"]
    assert _order(order["id"]).status == "submitted"
    assert _paper_status(order["client_order_id"]) == "submitted"


def test_a_broker_that_does_not_answer_is_502_and_the_order_untouched(app, client, alice,
                                                                       as_alice):
    get_registry(app).register("broker", DownPaper, origin="test")
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0,
                      broker_plugin="down_paper")
    order = _resting(client, as_alice, asset.id)
    response = client.delete(f"/api/v1/orders/{order['id']}", headers=as_alice)
    assert response.status_code == 502
    body = response.get_json()["error"]
    assert body["code"] == "broker_unavailable" and "retry" in body["message"]
    assert _order(order["id"]).status == "submitted"
    last = _audits(order["id"])[-1]
    assert last.action == "order.cancel" and last.outcome == "error"
    assert "connection reset" in last.details["message"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_cancels_pass_halted_portfolios_and_the_global_kill_switch(client, alice, as_alice,
                                                                   auth_headers):
    portfolio = gen_portfolio(alice)
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=10_000.0)
    first, second = _resting(client, as_alice, asset.id), _resting(client, as_alice, asset.id)
    client.put(f"/api/v1/portfolios/{portfolio.id}/risk-state", headers=as_alice,
               json={"state": "halted"})
    assert client.delete(f"/api/v1/orders/{first['id']}",
                         headers=as_alice).get_json()["status"] == "cancelled"
    root = auth_headers(gen_user("root", role="admin"))
    client.post("/api/v1/loop/kill-switch", headers=root, json={"on": True})
    assert client.delete(f"/api/v1/orders/{second['id']}",
                         headers=as_alice).get_json()["status"] == "cancelled"


def test_cli_cancels_an_order_audited_as_cli(client, runner, alice, as_alice):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    result = runner.invoke(lts, ["cancel", str(order["id"])])
    assert result.exit_code == 0, result.output
    assert f"Order {order['id']} ({order['client_order_id']}): submitted -> cancelled" \
        in result.output
    done = _audits(order["id"])[-1]
    assert done.action == "order.cancel" and done.user_id is None
    assert done.details["via"] == "cli"
    again = runner.invoke(lts, ["cancel", str(order["id"])])
    assert again.exit_code == 1 and "is cancelled" in again.output
    missing = runner.invoke(lts, ["cancel", "999"])
    assert missing.exit_code == 1 and "order 999 not found" in missing.output


def test_the_orders_page_cancel_button_swaps_the_row(client, alice, as_alice, login_as):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    login_as(alice)
    page = client.get("/orders").get_data(as_text=True)
    assert f'hx-post="/orders/{order["id"]}/cancel"' in page
    response = client.post(f"/orders/{order['id']}/cancel", headers={
        "HX-Request": "true", "HX-Target": f"order-{order['id']}",
        "X-CSRFToken": csrf_from(page)})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "lts-orders-changed"
    html = response.get_data(as_text=True)
    assert f'<tr id="order-{order["id"]}">' in html and "<html" not in html
    assert ">cancelled<" in html and "/cancel" not in html
    assert _audits(order["id"])[-1].details["via"] == "dashboard"
    # The asset page offers no button for a terminal order any more.
    asset_page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert f'/orders/{order["id"]}/cancel' not in asset_page


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_cancels_of_one_order_cancel_it_once_and_never_5xx(app, client, alice,
                                                                      as_alice):
    import threading

    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def cancel() -> None:
        own = app.test_client()
        barrier.wait()
        answers.append(own.delete(f"/api/v1/orders/{order['id']}",
                                  headers=as_alice).status_code)

    threads = [threading.Thread(target=cancel) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whoever comes late finds it cancelled (409) or books the same answer again (200).
    assert sorted(set(answers)) <= [200, 409] and 200 in answers, answers
    assert _order(order["id"]).status == "cancelled"
    transitions = [r for r in _audits(order["id"]) if r.action == "order.status"
                   and r.details["to"] == "cancelled"]
    assert len(transitions) == 1
    assert _paper_status(order["client_order_id"]) == "cancelled"


def test_the_openapi_document_names_the_cancel_refusals(client, as_alice):
    spec = client.get("/api/v1/openapi.json", headers=as_alice).get_json()
    for path, method in (("/api/v1/orders/{order_id}", "delete"),
                         ("/api/v1/orders/{order_id}/cancel", "post")):
        responses = spec["paths"][path][method]["responses"]
        assert "order_not_cancellable" in responses["409"]["description"]
        assert "broker_unavailable" in responses["502"]["description"]


def test_a_cancel_retried_with_its_idempotency_key_replays_the_first_answer(client, alice,
                                                                            as_alice):
    """A retried cancel (same Idempotency-Key) is answered as the first, never sent again."""
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    order = _resting(client, as_alice, asset.id)
    headers = {**as_alice, "Idempotency-Key": "cancel-retry-1"}
    first = client.delete(f"/api/v1/orders/{order['id']}", headers=headers)
    again = client.delete(f"/api/v1/orders/{order['id']}", headers=headers)
    assert first.status_code == again.status_code == 200, again.get_json()
    assert again.get_data() == first.get_data()
    assert again.headers.get("Idempotent-Replayed") == "true"
    requested = [r for r in _audits(order["id"]) if r.action == "order.cancel_requested"]
    assert len(requested) == 1  # the broker heard one cancel
    other = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
