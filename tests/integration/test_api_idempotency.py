"""``Idempotency-Key`` on order-creating POSTs: a retry never places a second order."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from lts.extensions import db as database
from lts.models import AuditLog, IdempotencyKey, Order, Position
from lts.models.types import utcnow
from lts.runtime_config import set_runtime_setting
from lts.services import idempotency
from lts.trading.runner import LoopRunner
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user

KEY = "order-2026-12-03-0001"


@pytest.fixture
def asset(alice):
    return gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)


def post_order(client, headers, asset_id, body, key=KEY):
    headers = {**headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(f"/api/v1/assets/{asset_id}/orders", headers=headers, json=body)


def order_count() -> int:
    database.session.commit()  # a fresh read: other requests committed meanwhile
    return database.session.scalar(select(func.count(Order.id)))


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_same_key_and_body_replays_the_first_answer_byte_for_byte(client, as_alice, asset):
    first = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 10})
    assert first.status_code == 201, first.get_json()
    # The same body re-serialised (other key order, spaces) is the same request.
    again = client.post(f"/api/v1/assets/{asset.id}/orders",
                        headers={**as_alice, "Idempotency-Key": KEY,
                                 "Content-Type": "application/json"},
                        data='{ "quantity": 10,  "side": "buy" }')
    assert (again.status_code, again.get_data()) == (first.status_code, first.get_data())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert order_count() == 1
    manual_audits = database.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "order.manual"))
    assert manual_audits == 1
    replayed = database.session.scalars(select(AuditLog).where(
        AuditLog.action == "idempotency.replayed")).one()
    assert replayed.details["status_code"] == 201 and replayed.outcome == "ok"


def test_without_a_key_each_post_is_a_new_order(client, as_alice, asset):
    for _ in range(2):
        assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1},
                          key=None).status_code == 201
    assert order_count() == 2


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_same_key_with_another_body_or_path_is_422_and_places_nothing(client, alice, as_alice,
                                                                      asset):
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 10}
                      ).status_code == 201
    other_asset = gen_asset(asset.portfolio, "GBP_USD", allocated_capital=1_000.0)
    for asset_id, body in ((asset.id, {"side": "buy", "quantity": 11}),
                           (other_asset.id, {"side": "buy", "quantity": 10})):
        reused = post_order(client, as_alice, asset_id, body)
        assert reused.status_code == 422
        error = reused.get_json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert "Idempotency-Key" in error["fields"]
    assert order_count() == 1
    denials = database.session.scalars(select(AuditLog.outcome).where(
        AuditLog.action == "idempotency.key_reused")).all()
    assert denials == ["denied", "denied"]


@pytest.mark.parametrize("key", ["", "x" * 256, "clé-1", "tab\there", "new\x7fline"])
def test_a_malformed_key_is_422_naming_the_header(client, as_alice, asset, key):
    response = client.post(f"/api/v1/assets/{asset.id}/orders",
                           headers=[*as_alice.items(), ("Idempotency-Key", key)],
                           json={"side": "buy", "quantity": 1})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["Idempotency-Key"]
    assert order_count() == 0


def test_the_longest_valid_key_is_accepted(client, as_alice, asset):
    key = "~" + "K" * 253 + " "
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1},
                      key=key).status_code == 201


def test_keys_belong_to_their_user(client, as_alice, asset, auth_headers):
    bob = gen_user("bob")
    bobs_asset = gen_asset(gen_portfolio(bob), "EUR_USD", allocated_capital=10_000.0)
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1}
                      ).status_code == 201
    # Bob's first use of the same key is his own request, not a replay of Alice's.
    bobs = post_order(client, auth_headers(bob), bobs_asset.id, {"side": "buy", "quantity": 1})
    assert bobs.status_code == 201 and "Idempotent-Replayed" not in bobs.headers
    assert order_count() == 2


def test_invalid_input_releases_the_key_for_the_corrected_request(client, as_alice, asset):
    bad = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": -1})
    assert bad.status_code == 422 and "quantity" in bad.get_json()["error"]["fields"]
    fixed = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert fixed.status_code == 201
    assert order_count() == 1


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_risk_refusal_is_replayed_not_refused_again(client, as_alice, asset):
    set_runtime_setting("kill_switch", True)
    first = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert first.status_code == 422 and first.get_json()["error"]["code"] == "risk_rejected"
    set_runtime_setting("kill_switch", False)
    # The refusal is the outcome of this key: a retry gets it, and places nothing.
    again = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert (again.status_code, again.get_data()) == (422, first.get_data())
    assert order_count() == 1  # the one ``rejected`` row of the refusal


def test_a_rate_limited_request_releases_its_key(client, as_alice, asset):
    set_runtime_setting("max_orders_per_minute", 1)
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1},
                      key="first").status_code == 201
    throttled = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert throttled.status_code == 429
    assert database.session.scalar(select(func.count(IdempotencyKey.id)).where(
        IdempotencyKey.key == KEY)) == 0  # "try later" is not an outcome to replay
    set_runtime_setting("max_orders_per_minute", 60)
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1}
                      ).status_code == 201


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_closing_twice_with_one_key_closes_once(client, as_alice, asset):
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 5},
                      key=None).status_code == 201
    position_id = database.session.scalar(select(Position.id))
    url = f"/api/v1/positions/{position_id}/close"
    headers = {**as_alice, "Idempotency-Key": "close-1"}
    first = client.post(url, headers=headers)
    again = client.post(url, headers=headers)
    assert first.status_code == 201, first.get_json()
    assert (again.status_code, again.get_data()) == (201, first.get_data())
    assert order_count() == 2  # the opening order and one closing order


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_duplicates_make_one_order_and_identical_answers(app, client, as_alice,
                                                                    asset):
    barrier = threading.Barrier(4)
    answers: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    asset_id = asset.id
    database.session.commit()

    def send() -> None:
        try:
            own = app.test_client()
            barrier.wait()
            response = post_order(own, as_alice, asset_id, {"side": "buy", "quantity": 3})
            answers.append((response.status_code, response.get_data()))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    assert {status for status, _ in answers} == {201}
    assert len({body for _, body in answers}) == 1
    assert order_count() == 1


def test_a_duplicate_waits_for_the_first_answer(app, db, alice):
    request = idempotency.fingerprint("POST", "/api/v1/assets/1/orders", b'{"side":"buy"}')
    first = idempotency.claim(alice, KEY, request)
    assert first.answer is None
    polls: list[float] = []

    def first_request_finishes_meanwhile(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            idempotency.finish(first.row_id, 201, '{"order": 1}', keep=True)

    replay = idempotency.claim(alice, KEY, request, sleep=first_request_finishes_meanwhile)
    assert replay == idempotency.Claim(first.row_id, idempotency.Answer(201, '{"order": 1}'))
    assert polls == [0.01, 0.02]  # it waited (backing off), then read the answer


def test_a_first_request_that_never_answers_makes_duplicates_409(client, alice, as_alice,
                                                                 asset, app):
    app.config["IDEMPOTENCY_WAIT_SECONDS"] = 0
    body = b'{"side":"buy","quantity":1}'
    idempotency.claim(alice, KEY, idempotency.fingerprint(
        "POST", f"/api/v1/assets/{asset.id}/orders", body))  # claimed, never finished
    response = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert response.headers["Retry-After"] == "1"
    assert order_count() == 0


def test_a_key_older_than_a_day_starts_afresh(client, as_alice, asset):
    assert post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1}
                      ).status_code == 201
    database.session.execute(update(IdempotencyKey).values(
        created_at=utcnow() - timedelta(hours=24, seconds=1)))
    database.session.commit()
    again = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 2})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert order_count() == 2


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_housekeeping_purges_expired_keys_only(app, db, alice):
    now = utcnow()
    for key, age in (("old", timedelta(hours=25)), ("young", timedelta(hours=23))):
        database.session.add(IdempotencyKey(user_id=alice.id, key=key, method="POST",
                                            path="/x", body_sha256="0" * 64,
                                            created_at=now - age))
    database.session.commit()
    runner = LoopRunner(app, holder="keeper")
    try:
        runner._housekeeping(now)
    finally:
        runner.shutdown()
    database.session.rollback()
    assert list(database.session.scalars(select(IdempotencyKey.key))) == ["young"]
    purged = database.session.scalars(select(AuditLog).where(
        AuditLog.action == "idempotency.purged")).one()
    assert purged.details == {"rows": 1}


def test_the_openapi_document_shows_the_header_and_the_refusals(app):
    from lts.blueprints.api import openapi_document

    with app.app_context():
        document = openapi_document()
    for path in ("/api/v1/assets/{asset_id}/orders", "/api/v1/positions/{position_id}/close"):
        operation = document["paths"][path]["post"]
        header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header and header[0]["in"] == "header" and not header[0]["required"]
        assert header[0]["schema"]["maxLength"] == 255
        assert {"201", "409", "422"} <= set(operation["responses"])
    orders = document["paths"]["/api/v1/assets/{asset_id}/orders"]["post"]["responses"]
    assert "Retry-After" in orders["429"]["headers"]
    refusal = document["components"]["schemas"]["RefusalBody"]["properties"]
    assert {"check", "reason", "order_id", "client_order_id", "retry_after"} <= set(refusal)
    listing = {p["name"] for p in document["paths"]["/api/v1/orders"]["get"]["parameters"]}
    assert {"client_order_id", "source", "updated_since"} <= listing


def test_a_server_error_after_the_order_went_out_is_replayed_never_rerun(
        client, as_alice, asset, monkeypatch):
    from lts.services.orders import ManualOrderResult

    def answer_lost(self):  # the order is placed and booked; building its answer fails
        raise RuntimeError("connection to the client's answer lost")

    monkeypatch.setattr(ManualOrderResult, "accepted", answer_lost)
    first = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert first.status_code == 500
    monkeypatch.undo()
    # Whether the order went out is unknown to the client: the retry must not place
    # another; it gets the same answer and finds the order with GET /orders.
    again = post_order(client, as_alice, asset.id, {"side": "buy", "quantity": 1})
    assert (again.status_code, again.get_data()) == (500, first.get_data())
    assert order_count() == 1
    found = client.get("/api/v1/orders?source=manual", headers=as_alice).get_json()
    assert [item["status"] for item in found["items"]] == ["filled"]
