"""Risk-state, cancel and close-and-deactivate controls in a real browser (issue 10).

Each story seeds what it needs through the real services (a resting limit order, a
filled position), then works the page as a user would: confirmation and prompt
dialogs included. Every test ends with no console error or CSP violation.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def seed_holdings(app: Any, username: str, *, order_type: str) -> tuple[int, int, int]:
    """A user, a portfolio with one asset and one manual buy: (portfolio, asset, order) ids.

    ``order_type="limit"`` far below the price rests at the paper broker; ``"market"``
    fills at once and opens a position.
    """
    from lts.services.orders import place_manual_order

    with app.test_request_context():
        user = gen_user(username)
        portfolio = gen_portfolio(user, f"{username}'s book")
        asset = gen_asset(portfolio, "EUR_USD", allocated_capital=10_000.0)
        price = 0.5 if order_type == "limit" else None
        result = place_manual_order(user, asset.id, side="buy", quantity=10,
                                    order_type=order_type, price=price)
        assert result.order is not None and result.rejected_by is None, result
        return portfolio.id, asset.id, result.order.id


def test_a_user_cancels_a_resting_order_after_confirming(live_app, open_browser):
    _portfolio_id, asset_id, order_id = seed_holdings(live_app, "rita", order_type="limit")
    browser = open_browser()
    browser.login("rita", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/assets/{asset_id}")
    row = page.locator(f"#order-{order_id}")
    expect(row).to_contain_text("submitted")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("submitted")  # dismissed: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator("#lts-toasts")).to_contain_text("cancelled")
    expect(page.locator(f"#order-{order_id}")).to_contain_text("cancelled")
    expect(page.locator(f"#order-{order_id}").get_by_role("button", name="Cancel")
           ).to_have_count(0)
    browser.shot("asset-order-cancelled")
    browser.assert_clean()


def test_a_user_reduces_a_portfolio_giving_a_reason(live_app, open_browser):
    portfolio_id, _asset_id, _order_id = seed_holdings(live_app, "rob", order_type="limit")
    browser = open_browser()
    browser.login("rob", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    header = page.locator("#portfolio-header")
    page.once("dialog", lambda dialog: dialog.accept("earnings tomorrow"))
    header.get_by_role("button", name="Reduce only").click()
    expect(header).to_contain_text("reducing: closing orders only")
    expect(header.locator("#risk-change")).to_contain_text("set by rob: earnings tomorrow")
    browser.shot("portfolio-reducing")
    page.once("dialog", lambda dialog: dialog.accept(""))
    header.get_by_role("button", name="Resume trading").click()
    expect(header.get_by_role("button", name="Reduce only")).to_be_visible()
    expect(header).not_to_contain_text("reducing: closing orders only")
    browser.assert_clean()


def test_a_user_closes_and_deactivates_an_asset_holding_a_position(live_app, open_browser):
    portfolio_id, asset_id, _order_id = seed_holdings(live_app, "sam", order_type="market")
    browser = open_browser()
    browser.login("sam", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    row = page.locator(f"#asset-row-{asset_id}")
    expect(row).to_contain_text("active")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Close and deactivate").click()
    expect(page.locator("#lts-toasts")).to_contain_text("closed and asset deactivated")
    row = page.locator(f"#asset-row-{asset_id}")
    expect(row).to_contain_text("inactive")
    expect(row.get_by_role("button", name="Close and deactivate")).to_have_count(0)
    expect(page.locator(f"#reduce-only-{asset_id}")).to_have_count(0)
    browser.shot("portfolio-closed-and-deactivated")
    browser.assert_clean()


def test_an_admin_puts_every_portfolio_in_reducing_and_back(live_app, open_browser):
    with live_app.app_context():
        gen_user("admin_gail", role="admin")
    browser = open_browser()
    browser.login("admin_gail", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto("/admin/loop")
    controls = page.locator("#loop-controls")
    page.once("dialog", lambda dialog: dialog.accept("CPI at 14:30"))
    controls.get_by_role("button", name="Reduce only (global)").click()
    expect(controls).to_contain_text("reducing: closing orders only")
    expect(page.locator("#global-risk-state")).to_contain_text("set by admin_gail: CPI at 14:30")
    browser.shot("admin-loop-reducing")
    page.once("dialog", lambda dialog: dialog.accept(""))
    controls.get_by_role("button", name="Resume trading (global)").click()
    expect(page.locator("#global-risk-state")).to_contain_text("active")
    expect(controls.get_by_role("button", name="Reduce only (global)")).to_be_visible()
    browser.assert_clean()
