"""The Backtests pages: start from the form, poll the run, read the report, compare."""

from __future__ import annotations

from lts.services import backtests
from tests.factories import gen_user
from tests.helpers import csrf_from
from tests.integration.test_backtests_service import FROM, TO, backtestable


def _start(client, portfolio_id, date_from=FROM, date_to=TO):  # type: ignore[no-untyped-def]
    page = client.get("/backtests")
    return client.post("/backtests", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                           "portfolio_id": portfolio_id,
                                           "date_from": date_from, "date_to": date_to})


def test_a_backtest_started_from_the_page_shows_its_report_when_done(client, db, login_as):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    login_as(alice)
    page = client.get("/backtests")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/backtests"' in html and ">Backtests<" in html  # the sidebar entry
    assert f'<option value="{portfolio.id}">{portfolio.name}</option>' in html
    started = _start(client, portfolio.id)
    assert started.status_code == 303
    location = started.headers["Location"]
    run_id = int(location.rsplit("/", 1)[1])
    backtests.wait(run_id, timeout=300)
    db.session.rollback()  # requests share the test's app context: end its old snapshot
    report = client.get(location).get_data(as_text=True)
    assert 'data-status="done"' in report and "hx-get" not in report  # no more polling
    assert 'data-metric="total_return"' in report and "<th class=\"num\">EUR_USD</th>" in report
    assert 'data-lts-backtest-chart="money"' in report
    assert 'data-lts-backtest-chart="percent"' in report
    assert 'data-lts-chart="candles"' in report and "js/backtests.js" in report
    assert "<script>" not in report and "style=" not in report  # CSP: no inline code
    listed = client.get("/backtests").get_data(as_text=True)
    assert f'data-run-id="{run_id}" data-status="done"' in listed


def test_a_running_run_polls_its_partial_alone(client, htmx_client, db, login_as):
    alice = gen_user("alice")
    run = backtests.start(alice, backtestable(alice).id, FROM, TO)
    backtests.wait(run.id, timeout=300)
    db.session.rollback()
    login_as(alice, client=htmx_client)
    partial = htmx_client.get(f"/backtests/{run.id}", headers={"HX-Target": "backtest-run"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert body.lstrip().startswith('<div id="backtest-run"') and "<html" not in body


def test_form_errors_are_shown_under_their_fields(client, db, login_as):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    login_as(alice)
    refused = _start(client, portfolio.id, TO, FROM)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="date_to-errors"' in html and "is not after from" in html
    missing = _start(client, portfolio.id, "", TO)
    assert missing.status_code == 422 and 'id="date_from-errors"' in missing.get_data(
        as_text=True)
    assert backtests.list_runs(alice).total == 0


def test_another_users_run_page_is_404(client, db, login_as):
    alice, bob = gen_user("alice"), gen_user("bob")
    run = backtests.start(alice, backtestable(alice).id, FROM, TO)
    backtests.wait(run.id, timeout=300)
    db.session.rollback()
    login_as(bob)
    assert client.get(f"/backtests/{run.id}").status_code == 404
    assert f'data-run-id="{run.id}"' not in client.get("/backtests").get_data(as_text=True)


def test_two_runs_compare_side_by_side_on_one_page(client, db, login_as):
    alice = gen_user("alice")
    portfolio = backtestable(alice)
    ids = []
    for date_from in (FROM, "2026-01-05"):
        run = backtests.start(alice, portfolio.id, date_from, TO)
        backtests.wait(run.id, timeout=300)
        ids.append(run.id)
    db.session.rollback()
    login_as(alice)
    index = client.get("/backtests").get_data(as_text=True)
    assert 'name="first"' in index and 'name="second"' in index
    page = client.get(f"/backtests/compare?first={ids[0]}&second={ids[1]}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"#{ids[0]}" in html and f"#{ids[1]}" in html
    assert html.count('data-metric="') == 18 and 'data-lts-backtest-chart="percent"' in html
