"""Issue #17's defects, seen in a real browser: charts that do not mislead, one-round
forms, a phone layout that fits. Every test ends with no console error, uncaught
exception or CSP violation.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import expect

from lts.extensions import db as database
from lts.models import Order, Position
from lts.models.statistic_keys import EQUITY, portfolio_key
from lts.trading.statistics import record
from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def seed(app: Any, build: Any) -> Any:
    """Run ``build()`` in an app context (factories write through the real services)."""
    with app.app_context():
        return build()


def test_equity_chart_x_axis_is_proportional_to_time_and_not_smoothed(live_app, open_browser):
    # Samples 1 h, 1 h, then 10 h apart: on an even (category) axis the last gap would
    # look like the others.
    start = datetime.now(UTC) - timedelta(hours=20)
    offsets = [0, 1, 2, 12]

    def build() -> int:
        user = gen_user("tina")
        portfolio = gen_portfolio(user, "Timed", total_capital=10_000.0)
        gen_asset(portfolio, "EUR_USD")
        for i, hours in enumerate(offsets):
            record(database.session, [(portfolio_key(portfolio.id, EQUITY), 10_000.0 + 10 * i)],
                   start + timedelta(hours=hours))
        database.session.commit()
        return portfolio.id

    portfolio_id = seed(live_app, build)
    browser = open_browser()
    browser.login("tina", DEFAULT_PASSWORD)
    browser.goto(f"/portfolios/{portfolio_id}")
    canvas = browser.page.locator("#portfolio-charts canvas[data-lts-chart=line]")
    expect(canvas).to_be_visible()
    reading = browser.page.evaluate(
        """(el) => {
            const chart = window.Chart.getChart(el);
            const data = chart.data.datasets[0].data;
            return {type: chart.scales.x.type, tension: chart.data.datasets[0].tension,
                    xs: data.map((p) => chart.scales.x.getPixelForValue(p.x))};
        }""", canvas.element_handle())
    assert reading["type"] == "time"
    assert reading["tension"] == 0
    xs = reading["xs"]
    gaps = [b - a for a, b in pairwise(xs)]
    # 1 h : 1 h : 10 h, within a pixel of rounding.
    assert abs(gaps[0] - gaps[1]) < 1.5
    assert abs(gaps[2] - 10 * gaps[0]) < 3
    browser.assert_clean()



def wait_for_candles(page: Any, seconds: float = 15.0) -> None:
    """Until the candle chart is drawn (its element holds the chart), bounded.

    Polled from the test through ``evaluate`` (run over the DevTools protocol, which the
    page's CSP allows): ``wait_for_function`` polls inside the page with ``eval``, which
    the CSP refuses whenever the chart is not drawn at the first look.
    """
    deadline = time.monotonic() + seconds
    while not page.evaluate(
            "() => Boolean(document.querySelector('[data-lts-chart=candles]')?.ltsChart)"):
        assert time.monotonic() < deadline, f"candle chart not drawn within {seconds} s"
        page.wait_for_timeout(50)  # the browser's own timer, between two looks

def test_sl_and_tp_far_outside_the_candles_stay_on_the_chart(live_app, open_browser):
    def build() -> int:
        user = gen_user("sam")
        asset = gen_asset(gen_portfolio(user, "Stops"), "EUR_USD")
        entry = Order(asset_id=asset.id, side="buy", quantity=1.0, fill_price=100.0,
                      status="filled", filled_quantity=1.0, client_order_id="lts-sam-entry")
        database.session.add(entry)
        database.session.flush()
        database.session.add(Position(asset_id=asset.id, order_id=entry.id, side="long",
                                      quantity=1.0, entry_price=100.0, stop_loss=2.0,
                                      take_profit=5000.0, status="open"))
        database.session.commit()
        return asset.id

    asset_id = seed(live_app, build)
    browser = open_browser()
    browser.login("sam", DEFAULT_PASSWORD)
    browser.goto(f"/assets/{asset_id}")
    chart = browser.page.locator("#asset-chart [data-lts-chart=candles]")
    expect(chart).to_be_visible()
    wait_for_candles(browser.page)
    rows = browser.page.evaluate(
        """(el) => ({height: el.ltsChart.chart.paneSize().height,
                    sl: el.ltsChart.series.priceToCoordinate(2.0),
                    tp: el.ltsChart.series.priceToCoordinate(5000.0)})""",
        chart.element_handle())
    assert rows["sl"] is not None and 0 <= rows["sl"] <= rows["height"]
    assert rows["tp"] is not None and 0 <= rows["tp"] <= rows["height"]

    # The timeframe selector redraws the chart from resampled bars, keeping the choice.
    browser.page.select_option("#chart-timeframe", "1h")
    expect(browser.page).to_have_url(re.compile(r"timeframe=1h"))
    expect(browser.page.locator("#chart-timeframe")).to_have_value("1h")
    wait_for_candles(browser.page)
    browser.assert_clean()


def test_manual_order_errors_in_one_round_and_no_csp_violation_on_the_swap(
        live_app, open_browser):
    def build() -> int:
        user = gen_user("olivia")
        return gen_asset(gen_portfolio(user, "Orders"), "EUR_USD").id

    asset_id = seed(live_app, build)
    browser = open_browser()
    browser.login("olivia", DEFAULT_PASSWORD)
    browser.goto(f"/assets/{asset_id}")
    page = browser.page
    # A style set through the CSSOM (as Bootstrap and Chart.js do) becomes a style
    # attribute; htmx's default settling would copy it onto the swapped-in form with
    # setAttribute, a style-src-attr violation.
    page.evaluate("document.getElementById('manual-order').style.opacity = '1'")
    page.select_option("#order_type", "limit")
    page.fill("#quantity", "0")
    page.fill("#stop_loss", "5")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#manual-order button[type=submit]")
    expect(page.locator("#quantity-errors")).to_contain_text("must be greater than 0")
    expect(page.locator("#price-errors")).to_contain_text("needs a price")
    page.wait_for_load_state("networkidle")
    browser.assert_clean()


def test_phone_layout_fits_the_width_and_shows_the_kpis_in_one_screen(live_app, open_browser):
    def build() -> None:
        user = gen_user("phil")
        asset = gen_asset(gen_portfolio(user, "Pocket", total_capital=125_000.0), "XAU_USD")
        entry = Order(asset_id=asset.id, side="buy", quantity=24.0, fill_price=2101.77,
                      status="filled", filled_quantity=24.0, client_order_id="lts-phil-1",
                      reason="a long reason " * 8)
        database.session.add(entry)
        database.session.flush()
        database.session.add(Position(asset_id=asset.id, order_id=entry.id, side="long",
                                      quantity=24.0, entry_price=2101.77,
                                      current_price=2110.0, unrealized_pnl=197.52,
                                      stop_loss=2050.0, take_profit=2200.0, status="open"))
        database.session.commit()

    seed(live_app, build)
    browser = open_browser()
    browser.login("phil", DEFAULT_PASSWORD)
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/positions", "/orders"):
        browser.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px"
        hint = page.locator(".lts-scroll-hint").first
        expect(hint).to_be_visible()
        browser.shot(f"phone{path.replace('/', '-') or '-overview'}")
    browser.goto("/")
    bottom = page.evaluate(
        "document.getElementById('overview-figures').getBoundingClientRect().bottom")
    assert bottom <= 844, f"the KPI boxes end at {bottom} px, below one 844 px screen"
    # P&L and Close stay on screen (priority columns), not pushed off to the right.
    browser.goto("/positions")
    close = page.locator("#positions-table tbody tr").first.get_by_role("button", name="Close")
    box = close.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    browser.assert_clean()


def test_portfolio_form_shows_every_error_in_one_round(live_app, open_browser):
    seed(live_app, lambda: gen_user("ronda"))
    browser = open_browser()
    browser.login("ronda", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto("/portfolios")
    page.click("#new-portfolio-button")
    modal = page.locator("#portfolio-modal")
    expect(modal.locator("#portfolio-form")).to_be_visible()
    page.fill("#name", "Zeroes")
    page.fill("#total_capital", "0")
    page.fill("#portfolio_latency", "0")
    page.select_option("#portfolio-plugin", "inverse_volatility")
    expect(modal.locator("#portfolio-config-window")).to_be_visible()
    page.fill("#portfolio-config-window", "1")  # below the plugin's minimum of 2
    modal.locator("button[type=submit]").click()
    expect(modal.locator("#total_capital-errors")).to_contain_text("must be greater than 0")
    expect(modal.locator("#portfolio_latency-errors")).to_contain_text("must be greater than 0")
    expect(modal.locator("#portfolio-config-window-errors")).to_be_visible()
    expect(modal).not_to_contain_text("This field is required")
    browser.assert_clean()


def test_asset_form_shows_field_and_plugin_config_errors_in_one_round(live_app, open_browser):
    portfolio_id = seed(live_app, lambda: gen_portfolio(gen_user("arturo"), "Rounds").id)
    browser = open_browser()
    browser.login("arturo", DEFAULT_PASSWORD)
    page = browser.page
    browser.goto(f"/portfolios/{portfolio_id}")
    page.click("#add-asset-button")
    form = page.locator("#asset-form")
    expect(form).to_be_visible()
    page.fill("#symbol", "")
    page.select_option("#strategy-plugin", "sma_cross")
    expect(form.locator("#strategy-config-fast")).to_be_visible()
    page.fill("#strategy-config-fast", "50")
    page.fill("#strategy-config-slow", "20")
    form.locator("button[type=submit]").click()
    expect(page.locator("#symbol-errors")).to_be_visible()
    expect(page.locator("#strategy-config-fast-errors")).to_contain_text("smaller than slow")
    browser.assert_clean()
