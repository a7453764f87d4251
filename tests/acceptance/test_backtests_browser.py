"""Story: a user backtests a portfolio from the dashboard, in a real browser.

They open Backtests from the sidebar, pick a portfolio and a range, start it, watch
its progress (the run page polls over htmx), then read the report when it is done:
metrics, an equity chart whose x axis is proportional to time, trades on the candles.

The replay is the real one (the live engine on a throw-away database); only a gate is
put in its progress callback, halfway, so the browser sees the run "running" for
certain before it is let go (no sleeps, no race with a fast machine).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from lts.services import backtest_pool
from tests.acceptance.test_dashboard_browser import seed
from tests.factories import DEFAULT_PASSWORD, gen_asset, gen_portfolio, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


class GatedReplay:
    """The real replay, held at its first progress report past half of its bars until
    ``gate`` is set (quiet bars are skipped, so progress need not stop at exactly half);
    ``held_at`` is the ``(done, total)`` it is held at."""

    def __init__(self, inner: Any, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate
        self.held_at: tuple[int, int] | None = None
        self.reached = threading.Event()

    def __call__(self, spec: Any, data: Any, ticks: Any, progress: Any) -> Any:
        def held(done: int, total: int) -> None:
            progress(done, total)
            if self.held_at is None and total // 2 <= done < total:
                self.held_at = (done, total)
                self.reached.set()
                self.gate.wait(timeout=120)

        return self.inner(spec, data, ticks, held)


# How far along the x axis (0..1) a time a third of the way through the curve is drawn,
# and the scale's type: a category axis would put that time nowhere near a third.
X_AXIS_PROBE = """
(canvas) => {
  const chart = window.Chart.getChart(canvas);
  const points = chart.data.datasets[0].data;
  const first = points[0].x, last = points[points.length - 1].x;
  const x = chart.scales.x;
  const third = first + (last - first) / 3;
  const share = (x.getPixelForValue(third) - x.getPixelForValue(first)) /
                (x.getPixelForValue(last) - x.getPixelForValue(first));
  return {type: x.type, share: share, points: points.length};
}
"""


def test_a_user_backtests_a_portfolio_from_the_dashboard(live_app, open_browser, monkeypatch):
    gate = threading.Event()
    real = backtest_pool.make_replay
    gated: list[GatedReplay] = []

    def make_gated(app: Any) -> GatedReplay:
        gated.append(GatedReplay(real(app), gate))
        return gated[-1]

    monkeypatch.setattr(backtest_pool, "make_replay", make_gated)

    def build() -> int:
        user = gen_user("bruno")
        portfolio = gen_portfolio(user, "Trend EUR")
        gen_asset(portfolio, "EUR_USD", strategy_plugin="sma_cross",
                  strategy_config={"fast": 5, "slow": 20},
                  pipeline_config={"interval_minutes": 60, "lookback": 40, "seed": 7,
                                   "volatility": 0.01})
        return portfolio.id

    portfolio_id = seed(live_app, build)
    browser = open_browser()
    browser.login("bruno", DEFAULT_PASSWORD)
    page = browser.page
    try:
        page.click("#navigation >> text=Backtests")
        expect(page).to_have_url(re.compile(r"/backtests$"))
        page.select_option("#portfolio_id", str(portfolio_id))
        page.fill("#date_from", "2026-01-01")
        page.fill("#date_to", "2026-01-11")
        browser.shot("backtests-form")
        page.click("[data-lts-backtest-form] button[type=submit]")
        expect(page).to_have_url(re.compile(r"/backtests/\d+$"))
        run = page.locator("#backtest-run")
        expect(run).to_have_attribute("data-status", "running")
        assert gated and gated[0].reached.wait(timeout=120)
        done, total = gated[0].held_at
        assert total == 240 and 120 <= done < 240
        # progress is stored on crossing each 2-bar step (1 % of 240): the report the run
        # is held at, or the one bar before it
        expect(run.locator("[data-lts-run-progress]")).to_have_text(
            re.compile(rf"^({done - 1}|{done}) / 240 bars$"), timeout=120_000)
        browser.shot("backtest-running")
    finally:
        gate.set()
    # the poll brings the report in: no reload by the user
    expect(run).to_have_attribute("data-status", "done", timeout=120_000)
    expect(page.locator('[data-metric="total_return"] td').first).to_have_text("Total return")
    equity = page.locator('canvas[data-lts-backtest-chart="money"]')
    expect(equity).to_be_visible()
    expect(page.locator('[data-lts-chart="candles"] canvas').first).to_be_visible()
    axis = equity.evaluate(X_AXIS_PROBE)
    assert axis["type"] == "linear" and axis["points"] == 241
    assert axis["share"] == pytest.approx(1 / 3, abs=1e-6)
    browser.shot("backtest-report")
    # charts.js owns every chart's lifecycle: a theme switch redraws this one (a new
    # Chart.js instance on the same canvas), as it does the candles.
    before = equity.evaluate("(canvas) => window.Chart.getChart(canvas).id")
    page.evaluate("() => document.documentElement.setAttribute('data-bs-theme', 'dark')")
    deadline = time.monotonic() + 15  # polled with evaluate: the CSP refuses eval
    while equity.evaluate("(canvas) => window.Chart.getChart(canvas)?.id") in (before, None):
        assert time.monotonic() < deadline, "the backtest chart was not redrawn"
        page.wait_for_timeout(50)
    run_id = int(page.url.rsplit("/", 1)[1])
    browser.goto(f"/backtests/compare?first={run_id}&second={run_id}")
    returns = page.locator('canvas[data-lts-backtest-chart="percent"]')
    expect(returns).to_be_visible()
    assert returns.evaluate("(canvas) => window.Chart.getChart(canvas).data.datasets.length") == 2
    browser.assert_clean()
