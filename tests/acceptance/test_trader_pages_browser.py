"""Performance, closed trades with CSV export, and flatten now, in a real browser (issue 17).

Each story seeds closed trades or a live position through real rows and services, then
reads the page as a trader would; the expected figures are computed here from the
trades themselves, not by the service under test. Every story ends with no console
error or CSP violation.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user
from tests.trade_factories import gen_trade

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
# (hours after T0 opened, hours held, entry, exit, quantity, side, fees, exit reason)
TRADES = [
    (0, 2, 100.0, 103.0, 5, "long", 0.5, "target"),
    (26, 5, 100.0, 97.5, 4, "long", 0.4, "stop"),
    (50, 1, 80.0, 78.0, 10, "short", 1.0, "signal"),
    (75, 30, 80.0, 80.5, 10, "short", 1.0, "manual"),
    (170, 4, 90.0, 92.0, 2, "long", 0.2, "signal"),
]


def seed_trades(app: Any, username: str) -> int:
    """A user whose one-asset portfolio closed TRADES; returns the portfolio id."""
    with app.test_request_context():
        user = gen_user(username)
        portfolio = gen_portfolio(user, f"{username} desk")
        asset = gen_asset(portfolio, "XAU_USD", allocated_capital=10_000.0)
        for start, hours, entry, exit_, qty, side, fees, reason in TRADES:
            opened = T0 + timedelta(hours=start)
            gen_trade(asset, opened=opened, closed=opened + timedelta(hours=hours),
                      entry=entry, exit=exit_, quantity=qty, side=side, fees=fees,
                      reason=reason)
        return portfolio.id


def expected_figures() -> dict[str, str]:
    """The page's figures, computed from TRADES by hand (P&L net of fees)."""
    pnls = [(x - e) * q * (1 if s == "long" else -1) - f for _, _, e, x, q, s, f, _ in TRADES]
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    hours = sum(t[1] for t in TRADES) / len(TRADES)
    return {
        "trades": str(len(pnls)),
        "total_pnl": f"{sum(pnls):+,.2f}",
        "win_rate": f"{len(wins) / len(pnls) * 100:.1f} %",
        "profit_factor": f"{sum(wins) / sum(losses):,.2f}",
        "expectancy": f"{sum(pnls) / len(pnls):+,.2f}",
        "best": f"{max(pnls):+,.2f}",
        "worst": f"{min(pnls):+,.2f}",
        "fees": f"{sum(t[6] for t in TRADES):,.2f}",
        "average_duration": f"{int(hours)} h {round((hours % 1) * 60):02d} m",
    }


def test_performance_figures_equal_a_computation_from_the_trades(live_app, open_browser):
    portfolio_id = seed_trades(live_app, "perry")
    browser = open_browser()
    browser.login("perry", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/performance?portfolio_id={portfolio_id}")
    for key, text in expected_figures().items():
        expect(page.locator(f'[data-figure="{key}"]')).to_have_text(text)
    # the weekly table: the first four trades closed in the week of 5 October, the last
    # in the next one
    page.get_by_role("link", name="weekly").click()
    rows = page.locator("#performance-periods tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("week of 05 Oct 2026")
    # the cumulative chart draws one point per trade on the canvas
    points = page.evaluate(
        "JSON.parse(document.querySelector('[data-chart-of=cumulative-profit]')"
        ".dataset.series).length")
    assert points == len(TRADES)
    browser.shot("performance")
    browser.assert_clean()


def test_the_trades_csv_export_equals_the_table(live_app, open_browser):
    seed_trades(live_app, "cassie")
    browser = open_browser()
    browser.login("cassie", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto("/trades")
    page.select_option("#trades-side", "short")
    expect(page.locator("#trades tbody tr")).to_have_count(2)
    table = page.eval_on_selector_all(
        "#trades tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
    href = page.get_attribute("#export-trades", "href")
    assert href is not None and "side=short" in href
    answer = page.request.get(browser.server.url(href))
    assert answer.ok and answer.headers["content-type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(answer.text())))
    assert len(exported) == len(table)
    for shown, row in zip(table, exported, strict=True):
        assert shown[1] == row["symbol"] and shown[2] == row["side"]
        assert shown[9] == f"{float(row['pnl']):+,.2f}"
        assert shown[11] == f"{float(row['fees']):,.2f}"
        assert shown[12] == row["exit_reason"]
        assert shown[6].startswith(row["exit_time"][:16].replace("T", " "))
    browser.assert_clean()


def test_flatten_now_closes_every_position_after_confirming(live_app, open_browser):
    from lts.services.orders import place_manual_order

    with live_app.test_request_context():
        user = gen_user("flo")
        portfolio = gen_portfolio(user, "Flo's book")
        for symbol in ("EUR_USD", "GBP_USD"):
            asset = gen_asset(portfolio, symbol, allocated_capital=5_000.0)
            placed = place_manual_order(user, asset.id, side="buy", quantity=10,
                                        order_type="market")
            assert placed.rejected_by is None, placed
        portfolio_id = portfolio.id
    browser = open_browser()
    browser.login("flo", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    header = page.locator("#portfolio-header")
    page.once("dialog", lambda dialog: dialog.dismiss())
    header.get_by_role("button", name="Flatten now").click()
    browser.goto(f"/positions?portfolio_id={portfolio_id}&status=open")
    expect(page.locator("#positions-table tbody tr")).to_have_count(2)  # dismissed
    browser.goto(f"/portfolios/{portfolio_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#portfolio-header").get_by_role("button", name="Flatten now").click()
    expect(page.locator("#lts-toasts")).to_contain_text("Flatten: 2 closing order(s) sent")
    browser.goto(f"/trades?portfolio_id={portfolio_id}")
    expect(page.locator("#trades tbody tr[data-trade-id]")).to_have_count(2)
    expect(page.locator("#trades tbody")).to_contain_text("manual")
    browser.assert_clean()


def test_trader_pages_fit_a_phone_without_sideways_scrolling(live_app, open_browser):
    seed_trades(live_app, "phoebe")
    browser = open_browser()
    browser.login("phoebe", DEFAULT_PASSWORD)
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/performance", "/trades"):
        browser.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
    expect(page.locator("#trades thead th:visible")).to_have_count(6)
    browser.assert_clean()
