"""Risk states set by people (issue 10 item 4): API, pages and CLI, per portfolio and global.

Real app, real database (SQLite, and PostgreSQL where the order path matters), real
paper broker; the orders go through the same service as every manual order.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.cli import lts
from lts.extensions import db as database
from lts.models import AuditLog, Portfolio, Position
from lts.runtime_config import effective_settings
from tests.conftest import BACKENDS
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


def _audits(action: str) -> list[AuditLog]:
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    return list(database.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                         .order_by(AuditLog.id)))


def _buy(client, headers, asset_id: int, quantity: float = 10):
    return client.post(f"/api/v1/assets/{asset_id}/orders", headers=headers,
                       json={"side": "buy", "quantity": quantity})


def _refusal(answer) -> dict:
    """The error body of a risk refusal: 422 ``risk_rejected`` with the stored row."""
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "risk_rejected" and error["order_id"] is not None
    return error


# ---------------------------------------------------------------- per portfolio


def test_owner_sets_reducing_with_a_reason_and_the_change_is_audited(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    response = client.put(f"/api/v1/portfolios/{portfolio.id}/risk-state", headers=as_alice,
                          json={"state": "reducing", "reason": "earnings tomorrow"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["risk_state"] == "reducing"
    assert response.headers["ETag"]
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Portfolio, portfolio.id).risk_state == "reducing"
    (row,) = _audits("portfolio.risk_state")
    assert row.user_id == alice.id and row.resource == f"portfolio:{portfolio.id}"
    assert row.details == {"from": "active", "to": "reducing", "reason": "earnings tomorrow",
                           "by": "alice"}


def test_reason_is_optional_and_blank_is_stored_as_none(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    url = f"/api/v1/portfolios/{portfolio.id}/risk-state"
    assert client.put(url, headers=as_alice, json={"state": "halted"}).status_code == 200
    assert client.put(url, headers=as_alice,
                      json={"state": "active", "reason": "  "}).status_code == 200
    assert [(r.details["to"], r.details["reason"]) for r in _audits("portfolio.risk_state")] \
        == [("halted", None), ("active", None)]


@pytest.mark.parametrize(("body", "field"), [
    ({"state": "paused"}, "state"),
    ({}, "state"),
    ({"state": 1}, "state"),
    ({"state": "reducing", "reason": "x" * 501}, "reason"),
    ({"state": "reducing", "why": "typo"}, "why"),
])
def test_invalid_risk_state_bodies_are_422_naming_the_field(client, alice, as_alice, body,
                                                            field):
    portfolio = gen_portfolio(alice)
    response = client.put(f"/api/v1/portfolios/{portfolio.id}/risk-state", headers=as_alice,
                          json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Portfolio, portfolio.id).risk_state == "active"


def test_users_change_only_their_own_portfolios_and_admins_any(client, alice, as_alice,
                                                                as_root, auth_headers):
    portfolio = gen_portfolio(alice)
    url = f"/api/v1/portfolios/{portfolio.id}/risk-state"
    bob = auth_headers(gen_user("bob"))
    assert client.put(url, headers=bob, json={"state": "halted"}).status_code == 404
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Portfolio, portfolio.id).risk_state == "active"
    done = client.put(url, headers=as_root, json={"state": "halted", "reason": "margin call"})
    assert done.status_code == 200 and done.get_json()["risk_state"] == "halted"
    assert _audits("portfolio.risk_state")[-1].details["by"] == "root"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_reducing_portfolio_refuses_new_positions_but_closes(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=10_000.0)
    assert _buy(client, as_alice, asset.id).get_json()["status"] == "filled"
    client.put(f"/api/v1/portfolios/{portfolio.id}/risk-state", headers=as_alice,
               json={"state": "reducing"})
    refused = _refusal(_buy(client, as_alice, asset.id))
    assert refused["check"] == "risk_state" and "reducing" in refused["message"]
    position = database.session.scalar(select(Position).where(Position.status == "open"))
    closed = client.post(f"/api/v1/positions/{position.id}/close", headers=as_alice)
    assert closed.get_json()["status"] == "filled"


# ----------------------------------------------------------------------- global


def test_admin_sets_the_global_state_and_the_loop_status_shows_it(client, as_root, as_alice):
    url = "/api/v1/loop/risk-state"
    assert client.put(url, headers=as_alice, json={"state": "reducing"}).status_code == 403
    reducing = client.put(url, headers=as_root, json={"state": "reducing",
                                                      "reason": "CPI release"})
    assert reducing.status_code == 200, reducing.get_json()
    assert reducing.get_json()["risk_state"] == "reducing"
    assert reducing.get_json()["kill_switch"] is False
    status = client.get("/api/v1/loop", headers=as_alice).get_json()
    assert status["risk_state"] == "reducing"
    halted = client.put(url, headers=as_root, json={"state": "halted"}).get_json()
    assert halted["risk_state"] == "halted" and halted["kill_switch"] is True
    rows = _audits("loop.risk_state")
    assert [(r.details["from"], r.details["to"], r.details["reason"]) for r in rows] == [
        ("active", "reducing", "CPI release"), ("reducing", "halted", None)]
    assert client.put(url, headers=as_root, json={"state": "off"}).status_code == 422


def test_the_kill_switch_endpoint_is_the_global_halted_state(client, as_root):
    on = client.post("/api/v1/loop/kill-switch", headers=as_root, json={"on": True}).get_json()
    assert on["kill_switch"] is True and on["risk_state"] == "halted"
    assert effective_settings(("kill_switch", "risk_state")) == {"kill_switch": True,
                                                                 "risk_state": "halted"}
    off = client.post("/api/v1/loop/kill-switch", headers=as_root, json={"on": False})
    assert off.get_json()["risk_state"] == "active"
    assert [r.details["on"] for r in _audits("loop.kill_switch")] == [True, False]


def test_a_kill_switch_set_in_the_config_table_alone_reads_as_halted(client, as_root):
    from lts.runtime_config import set_runtime_setting

    set_runtime_setting("kill_switch", True)
    assert client.get("/api/v1/loop", headers=as_root).get_json()["risk_state"] == "halted"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_global_reducing_refuses_new_positions_everywhere_but_lets_closes_through(
        client, alice, as_alice, as_root):
    asset = gen_asset(gen_portfolio(alice), "EUR_USD", allocated_capital=10_000.0)
    assert _buy(client, as_alice, asset.id).get_json()["status"] == "filled"
    client.put("/api/v1/loop/risk-state", headers=as_root, json={"state": "reducing"})
    refused = _refusal(_buy(client, as_alice, asset.id))
    assert refused["check"] == "risk_state"
    assert "global risk state is reducing" in refused["message"]
    position = database.session.scalar(select(Position).where(Position.status == "open"))
    closed = client.post(f"/api/v1/positions/{position.id}/close", headers=as_alice)
    assert closed.get_json()["status"] == "filled"
    client.put("/api/v1/loop/risk-state", headers=as_root, json={"state": "halted"})
    assert _refusal(_buy(client, as_alice, asset.id))["check"] == "kill_switch"
    client.put("/api/v1/loop/risk-state", headers=as_root, json={"state": "active"})
    assert _buy(client, as_alice, asset.id).get_json()["status"] == "filled"


# -------------------------------------------------------------------------- CLI


def test_cli_sets_and_shows_risk_states_audited_as_cli(app, runner, alice):
    portfolio = gen_portfolio(alice, "Carry")
    result = runner.invoke(lts, ["risk", "set", "reducing", "--reason", "FOMC"])
    assert result.exit_code == 0, result.output
    assert "Global risk state: reducing" in result.output
    result = runner.invoke(lts, ["risk", "set", "halted", "--portfolio",
                                 str(portfolio.id), "--reason", "broker outage"])
    assert result.exit_code == 0, result.output
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Portfolio, portfolio.id).risk_state == "halted"
    (global_row,) = _audits("loop.risk_state")
    (portfolio_row,) = _audits("portfolio.risk_state")
    for row in (global_row, portfolio_row):
        assert row.user_id is None and row.details["by"] == "cli"
    assert portfolio_row.details["reason"] == "broker outage"
    shown = runner.invoke(lts, ["risk", "show"])
    assert shown.exit_code == 0, shown.output
    assert "global: reducing - set by cli" in shown.output and ": FOMC" in shown.output
    assert f"portfolio {portfolio.id} 'Carry' of alice: halted - set by cli" in shown.output
    assert "broker outage" in shown.output


def test_cli_refuses_unknown_states_and_portfolios(runner, db):
    bad = runner.invoke(lts, ["risk", "set", "paused"])
    assert bad.exit_code == 2 and "paused" in bad.output
    missing = runner.invoke(lts, ["risk", "set", "halted", "--portfolio", "999"])
    assert missing.exit_code == 1 and "portfolio 999 not found" in missing.output
    assert _audits("portfolio.risk_state") == []


# ------------------------------------------------------------------------ pages


def test_owner_reduces_from_the_portfolio_page_with_a_prompted_reason(client, alice,
                                                                       login_as):
    portfolio = gen_portfolio(alice)
    login_as(alice)
    page = client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True)
    assert f'hx-post="/portfolios/{portfolio.id}/risk-state"' in page and "Reduce only" in page
    response = client.post(f"/portfolios/{portfolio.id}/risk-state", data={"state": "reducing"},
                           headers={"HX-Request": "true", "HX-Target": "portfolio-header",
                                    "HX-Prompt": "holiday liquidity",
                                    "X-CSRFToken": csrf_from(page)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="portfolio-header"' in html and "reducing: closing orders only" in html
    assert "set by alice: holiday liquidity" in html and "Resume trading" in html
    assert _audits("portfolio.risk_state")[0].details["reason"] == "holiday liquidity"


def test_a_bad_state_from_the_page_is_a_toast_and_changes_nothing(client, alice, login_as):
    portfolio = gen_portfolio(alice)
    login_as(alice)
    token = csrf_from(client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True))
    html = client.post(f"/portfolios/{portfolio.id}/risk-state", data={"state": "frozen"},
                       headers={"HX-Request": "true", "HX-Target": "portfolio-header",
                                "X-CSRFToken": token}).get_data(as_text=True)
    assert "invalid risk state change" in html
    database.session.commit()  # a fresh read: SQLite keeps a transaction's snapshot
    assert database.session.get(Portfolio, portfolio.id).risk_state == "active"


def test_admin_sets_global_reducing_from_the_loop_page(client, login_as):
    login_as(gen_user("root", role="admin"))
    token = csrf_from(client.get("/admin/loop").get_data(as_text=True))
    html = client.post("/admin/loop/risk-reducing", headers={
        "HX-Request": "true", "X-CSRFToken": token, "HX-Prompt": "data feed flaky"},
    ).get_data(as_text=True)
    assert 'id="loop-controls"' in html and "Resume trading (global)" in html
    assert "reducing: closing orders only" in html
    assert "set by root: data feed flaky" in html
    assert "set by root: data feed flaky" in client.get("/admin/loop").get_data(as_text=True)
    assert _audits("loop.risk_state")[0].details["reason"] == "data feed flaky"
    html = client.post("/admin/loop/risk-active", headers={
        "HX-Request": "true", "X-CSRFToken": token}).get_data(as_text=True)
    assert "Reduce only (global)" in html


def test_users_cannot_set_the_global_state_from_the_loop_page(client, alice, login_as):
    login_as(alice)
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    response = client.post("/admin/loop/risk-halted", headers={"X-CSRFToken": token})
    assert response.status_code in (302, 403)
    assert effective_settings(("risk_state",))["risk_state"] == "active"


def test_the_header_names_who_halted_the_portfolio_kill_switch_and_engine_alike(
        client, alice, login_as):
    from lts.models.types import utcnow

    portfolio = gen_portfolio(alice)
    login_as(alice)
    page = f"/portfolios/{portfolio.id}"
    token = csrf_from(client.get(page).get_data(as_text=True))
    headers = {"HX-Request": "true", "HX-Target": "portfolio-header", "X-CSRFToken": token}
    html = client.post(f"{page}/kill-switch", data={"on": "1"},
                       headers=headers).get_data(as_text=True)
    assert "Halted since" in html and "set by alice" in html
    client.post(f"{page}/kill-switch", data={"on": "0"}, headers=headers)
    # The engine's drawdown trip writes its own row: no user, the trigger named.
    database.session.add(AuditLog(
        action="portfolio.kill_switch", resource=f"portfolio:{portfolio.id}",
        timestamp=utcnow(), outcome="ok",
        details={"trigger": "max_drawdown_pct", "drawdown_pct": 31.0, "limit_pct": 30.0}))
    database.session.get(Portfolio, portfolio.id).risk_state = "halted"
    database.session.commit()
    html = client.get(page, headers={"HX-Request": "true", "HX-Target": "portfolio-header"}
                      ).get_data(as_text=True)
    assert "set by the engine: max_drawdown_pct tripped" in html


def test_the_overview_shows_the_global_reducing_state(client, alice, login_as):
    from lts.services.risk_controls import operator_set_global_risk_state

    operator_set_global_risk_state("reducing", "test")
    login_as(alice)
    html = client.get("/").get_data(as_text=True)
    assert "reducing: only closing orders and cancels" in html


@pytest.mark.parametrize(("state", "text"), [
    ("reducing", "Global risk state reducing: only closing orders and cancels are sent"),
    ("halted", "Global risk state halted: no order is sent for any portfolio"),
])
def test_the_portfolio_page_warns_of_a_global_state(client, alice, login_as, state, text):
    from lts.services.risk_controls import operator_set_global_risk_state

    portfolio = gen_portfolio(alice)
    login_as(alice)
    assert 'id="global-risk-notice"' not in client.get(
        f"/portfolios/{portfolio.id}").get_data(as_text=True)
    operator_set_global_risk_state(state)
    assert text in client.get(f"/portfolios/{portfolio.id}").get_data(as_text=True)


def test_the_portfolio_kill_switch_is_the_halted_state_audited_alike(client, alice, as_alice):
    portfolio = gen_portfolio(alice)
    url = f"/api/v1/portfolios/{portfolio.id}/kill-switch"
    assert client.post(url, headers=as_alice, json={"on": True}).get_json()[
        "risk_state"] == "halted"
    (row,) = _audits("portfolio.kill_switch")
    assert row.user_id == alice.id
    assert row.details == {"on": True, "from": "active", "to": "halted", "reason": None,
                           "by": "alice"}
