"""The seed user stories, in a real browser (Chromium) against a real HTTP server.

One test per story; each sets up what it needs through the factories, so none depends
on another. Every test ends by asserting that the browser saw no console error,
uncaught exception or CSP violation.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def seed(app: Any, build: Any) -> Any:
    """Run ``build()`` in an app context (factories write through the real services)."""
    with app.app_context():
        return build()


def make_user(app: Any, username: str, role: str = "user") -> str:
    """Create a user; returns the username."""
    return seed(app, lambda: gen_user(username, role=role).username)


def make_portfolio(app: Any, username: str, name: str, **asset_fields: Any) -> tuple[int, int]:
    """A user with a portfolio and one asset (synthetic, threshold 0: it trades at once)."""

    def build() -> tuple[int, int]:
        user = gen_user(username, role="admin" if username.startswith("admin") else "user")
        portfolio = gen_portfolio(user, name)
        asset = gen_asset(portfolio, "EUR_USD",
                          strategy_config={"threshold": 0.0, "allow_short": True},
                          **asset_fields)
        return portfolio.id, asset.id

    return seed(app, build)


def test_a_user_logs_in_and_sees_the_dashboard(live_app, open_browser):
    make_user(live_app, "lena")
    browser = open_browser()
    browser.goto("/")
    expect(browser.page).to_have_url(re.compile(r"/login"))
    browser.shot("login")
    browser.login("lena", DEFAULT_PASSWORD)
    expect(browser.page.locator("h3", has_text="Overview")).to_be_visible()
    expect(browser.page.locator("#overview-empty")).to_contain_text("No portfolio yet")
    browser.shot("overview-empty")
    browser.assert_clean()


def test_a_user_creates_a_portfolio_in_the_modal(live_app, open_browser):
    make_user(live_app, "paula")
    browser = open_browser()
    browser.login("paula", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto("/portfolios")
    browser.shot("portfolios-empty")
    page.click("#new-portfolio-button")
    modal = page.locator("#portfolio-modal")
    expect(modal.locator("#portfolio-form")).to_be_visible()
    # An invalid form comes back with the error under its field, the modal still open.
    page.fill("#name", "")
    page.fill("#total_capital", "-1")
    modal.locator("button[type=submit]").click()
    expect(modal.locator("#total_capital-errors")).to_be_visible()
    browser.shot("portfolio-form-errors")
    page.fill("#name", "FX majors")
    page.fill("#total_capital", "25000")
    page.select_option("#portfolio-plugin", "inverse_volatility")
    expect(modal.locator("#portfolio-config-window")).to_be_visible()  # fields swapped
    page.fill("#portfolio-config-window", "30")
    modal.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/portfolios/\d+$"))
    expect(page.locator("h3", has_text="FX majors")).to_be_visible()
    expect(page.locator("#assets-empty")).to_be_visible()
    browser.shot("portfolio-detail-empty")
    # Edit from the portfolio's own page: the same modal, filled in.
    page.locator("#portfolio-header").get_by_role("button", name="Edit FX majors").click()
    expect(page.locator("#portfolio-form #name")).to_have_value("FX majors")
    expect(page.locator("#portfolio-config-window")).to_have_value("30")
    page.fill("#name", "FX majors and minors")
    page.locator("#portfolio-form button[type=submit]").click()
    expect(page.locator("h3", has_text="FX majors and minors")).to_be_visible()
    browser.assert_clean()


def test_a_user_adds_an_asset_choosing_plugins_and_filling_their_config(live_app,
                                                                        open_browser):
    def build() -> int:
        return gen_portfolio(gen_user("alex"), "Crypto").id

    portfolio_id = seed(live_app, build)
    browser = open_browser()
    browser.login("alex", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    page.click("#add-asset-button")
    form = page.locator("#asset-form")
    expect(form).to_be_visible()
    page.fill("#symbol", "BTC_USD")
    page.select_option("#strategy-plugin", "sma_cross")
    expect(form.locator("select#strategy-config-sl-tp-unit")).to_be_visible()
    page.select_option("#strategy-config-sl-tp-unit", "pips")
    page.fill("#pipeline-config-seed", "7")
    page.fill("#broker-config-spread-bps", "-3")  # invalid: shown under the field
    form.locator("button[type=submit]").click()
    expect(page.locator("#broker-config-spread-bps-errors")).to_be_visible()
    browser.shot("asset-form-errors")
    page.fill("#broker-config-spread-bps", "3")
    page.locator("#asset-form button[type=submit]").click()
    expect(page.locator("#portfolio-assets tbody tr")).to_have_count(1)
    expect(page.locator("#portfolio-assets")).to_contain_text("sma_cross")
    browser.shot("portfolio-detail-with-asset")
    browser.assert_clean()


def test_a_tick_shows_the_order_and_position_without_reloading(live_app, open_browser):
    portfolio_id, _ = make_portfolio(live_app, "tina", "Trend")
    browser = open_browser()
    browser.login("tina", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    page.evaluate("window.__ltsNoReload = true")
    expect(page.locator("#portfolio-orders")).to_contain_text("No orders yet")
    page.locator("#portfolio-header").get_by_role("button", name="Run now").click()
    expect(page.locator("#lts-toasts")).to_contain_text("Tick done")
    # The orders and positions sections poll every 5 s: the rows arrive by themselves.
    expect(page.locator("#portfolio-orders tbody tr[id^=order-]")).to_have_count(
        1, timeout=15_000)
    expect(page.locator("#portfolio-positions tbody tr[id^=position-]")).to_have_count(
        1, timeout=15_000)
    assert page.evaluate("window.__ltsNoReload") is True  # same document: no reload
    browser.shot("portfolio-after-tick")
    browser.goto("/")
    expect(page.locator("#overview-positions tbody tr[id^=position-]")).to_have_count(1)
    browser.shot("overview")
    page.click("[data-lts-theme-toggle]")
    theme = page.evaluate("document.documentElement.getAttribute('data-bs-theme')")
    assert theme in ("dark", "light")
    browser.shot(f"overview-{theme}")
    page.set_viewport_size({"width": 390, "height": 844})
    browser.shot("overview-phone")
    browser.assert_clean()


def test_a_user_closes_a_position_after_confirming(live_app, open_browser):
    _portfolio_id, asset_id = make_portfolio(live_app, "admin_carl", "Closer")
    browser = open_browser()
    browser.login("admin_carl", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto("/admin/loop")
    page.click("#tick-now")
    expect(page.locator("#tick-report")).to_be_visible(timeout=15_000)
    browser.shot("admin-loop")
    browser.goto(f"/assets/{asset_id}")
    expect(page.locator("[data-lts-chart=candles] canvas").first).to_be_visible()
    browser.shot("asset-detail")
    browser.goto("/positions?status=open")
    row = page.locator("#positions-table tbody tr[id^=position-]").first
    expect(row).to_contain_text("open")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Close").click()
    expect(row).to_contain_text("open")  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Close").click()
    # in words: closing a long sells it, closing a short buys it back (the strategy chose)
    expect(page.locator("#lts-toasts")).to_contain_text(
        re.compile(r"Closing: (Sold|Bought) [\d.,]+ EUR_USD at \d"))
    expect(page.locator("#positions-table tbody tr[id^=position-]").first).to_contain_text(
        "closed")
    browser.shot("positions")
    browser.assert_clean()


def test_admin_creates_a_user_who_cannot_see_the_admins_portfolio(live_app, open_browser):
    portfolio_id, _ = make_portfolio(live_app, "admin_ada", "Ada's secret book")
    admin = open_browser()
    admin.login("admin_ada", DEFAULT_PASSWORD)
    page = admin.page
    admin.goto("/admin/users")
    page.fill("#username", "bob")
    page.fill("#email", "bob@example.com")
    page.select_option("#role", "user")
    page.fill("#password", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#lts-toasts")).to_contain_text("User bob created")
    admin.shot("admin-users")
    for path, name in (("/admin/config", "admin-config"), ("/admin/plugins", "admin-plugins"),
                       ("/admin/audit", "admin-audit"), ("/statistics", "statistics"),
                       ("/orders", "orders")):
        admin.goto(path)
        admin.shot(name)
    admin.assert_clean()

    bob = open_browser()
    bob.login("bob", DEFAULT_PASSWORD)
    bob.goto("/portfolios")
    expect(bob.page.locator("#portfolio-list")).not_to_contain_text("Ada's secret book")
    expect(bob.page.locator("#navigation")).not_to_contain_text("Users")
    bob.problems.allowed.append(r"status of 404")
    response = bob.goto(f"/portfolios/{portfolio_id}")
    assert response.status == 404
    bob.shot("not-found")
    bob.assert_clean()
