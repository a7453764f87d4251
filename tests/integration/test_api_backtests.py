"""``/api/v1/backtests``: start (202 + Location), poll, list; ownership; field errors."""

from __future__ import annotations

from lts.blueprints.api import openapi_document
from lts.services import backtests
from tests.factories import gen_user
from tests.integration.test_backtests_service import FROM, TO, backtestable

URL = "/api/v1/backtests"


def test_post_queues_a_run_that_get_then_shows_done_with_its_report(app, client, db,
                                                                    auth_headers):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    headers = auth_headers(alice)
    answer = client.post(URL, json={"portfolio_id": portfolio.id, "from": FROM, "to": TO},
                         headers=headers)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert answer.headers["Location"] == f"{URL}/{body['id']}"
    assert body["status"] in ("queued", "running", "done")
    assert body["progress"]["total"] == 240
    assert body["from"].startswith("2026-01-01T00:00:00") and body["portfolio_id"] == portfolio.id
    backtests.wait(body["id"], timeout=300)
    db.session.rollback()  # the test's app context (shared by requests) read before the end
    shown = client.get(answer.headers["Location"], headers=headers)
    assert shown.status_code == 200
    run = shown.get_json()
    assert run["status"] == "done", run["error"]
    assert run["progress"] == {"done": 240, "total": 240, "percent": 100}
    assert run["metrics"]["portfolio"]["start_equity"] == 10_000.0
    assert len(run["equity"]) == 241 and set(run["equity"][0]) == {"t", "v", "dd"}
    assert len(run["trades"]) == run["metrics"]["trades_total"]
    listed = client.get(URL, headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [run["id"]]
    assert "equity" not in listed["items"][0]


def test_another_users_run_is_404_and_absent_from_their_list(app, client, db, auth_headers):
    alice, bob = gen_user("alice"), gen_user("bob")
    run = backtests.start(alice, backtestable(alice).id, FROM, TO)
    backtests.wait(run.id, timeout=300)
    db.session.rollback()  # end the test's read snapshot: the pool wrote meanwhile
    as_bob = auth_headers(bob)
    missing = client.get(f"{URL}/{run.id}", headers=as_bob)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert client.get(URL, headers=as_bob).get_json()["total"] == 0
    # nor can bob start one on alice's portfolio
    refused = client.post(URL, json={"portfolio_id": run.portfolio_id, "from": FROM, "to": TO},
                          headers=as_bob)
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["fields"]) == {"portfolio_id"}


def test_bad_bodies_are_422_naming_the_field(client, db, auth_headers):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    headers = auth_headers(alice)
    cases = [
        ({"portfolio_id": portfolio.id, "from": TO, "to": FROM}, "to"),
        ({"portfolio_id": portfolio.id, "from": FROM, "to": "2999-01-01"}, "to"),
        ({"portfolio_id": portfolio.id, "from": "soon", "to": TO}, "from"),
        ({"portfolio_id": "1", "from": FROM, "to": TO}, "portfolio_id"),
        ({"from": FROM, "to": TO}, "portfolio_id"),
        ({"portfolio_id": portfolio.id, "from": FROM, "to": TO, "capital": 5}, "capital"),
    ]
    for body, field in cases:
        answer = client.post(URL, json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.get_json())
        assert set(answer.get_json()["error"]["fields"]) == {field}, body
    assert client.get(f"{URL}?status=sleeping", headers=headers).status_code == 422
    assert client.get(URL, headers=headers).get_json()["total"] == 0


def test_backtest_operations_are_documented_with_ids_tags_and_errors(app):
    with app.app_context():
        paths = openapi_document()["paths"]
    post = paths[URL]["post"]
    assert post["operationId"] == "createBacktest" and post["tags"] == ["backtests"]
    assert {"202", "409", "422"} <= set(post["responses"])
    assert "Location" in post["responses"]["202"]["headers"]
    assert paths[URL]["get"]["operationId"] == "listBacktests"
    one = paths[URL + "/{run_id}"]["get"]
    assert one["operationId"] == "getBacktest" and "404" in one["responses"]
