"""Screenshots of every page at 1440 and 390 px for the README gallery: `make screenshots`.

Builds an app on a fresh migrated SQLite file in a temporary folder, seeds a trader's
day (a portfolio with closed trades over the last weeks, equity samples, an open
position, a resting order), serves it on a free loopback port and walks Debian's
Chromium (never a downloaded browser) over each page, writing
``docs/screenshots/<page>-<width>.png``. The seed is fixed (``random.Random(17)``), so
only the dates move with the day it runs.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
WIDTHS = {1440: 900, 390: 844}


def seed(app: object) -> dict[str, int]:
    """The trader's day; returns the ids the page list needs."""
    from lts.extensions import db
    from lts.models import Statistic
    from lts.services.orders import place_manual_order
    from tests.factories import gen_asset, gen_portfolio, gen_user
    from tests.trade_factories import gen_trade

    rng = random.Random(17)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with app.test_request_context():  # type: ignore[attr-defined]
        admin = gen_user("demo", role="admin")
        portfolio = gen_portfolio(admin, "FX and gold", total_capital=20_000.0)
        eur = gen_asset(portfolio, "EUR_USD", allocated_capital=10_000.0)
        gold = gen_asset(portfolio, "XAU_USD", allocated_capital=10_000.0)
        equity, start = 20_000.0, now - timedelta(days=70)
        for day in range(70):
            for asset, price in ((eur, 1.08), (gold, 2_350.0)):
                if rng.random() < 0.45:
                    continue
                opened = start + timedelta(days=day, hours=rng.randint(1, 12))
                move = rng.gauss(0.0006, 0.004) * price
                quantity = 2_000 if asset is eur else 1
                position = gen_trade(asset, opened=opened,
                                     closed=opened + timedelta(hours=rng.randint(1, 9)),
                                     entry=price, exit=round(price + move, 5),
                                     quantity=quantity, side=rng.choice(["long", "short"]),
                                     fees=round(abs(price * quantity) * 0.00005, 2),
                                     reason=rng.choice(["signal", "signal", "stop", "target",
                                                        "manual"]))
                equity += position.realized_pnl
            db.session.add(Statistic(key=f"portfolio.{portfolio.id}.equity", value=equity,
                                     timestamp=start + timedelta(days=day, hours=23),
                                     portfolio_id=portfolio.id))
        db.session.commit()
        place_manual_order(admin, eur.id, side="buy", quantity=1_000, order_type="market")
        place_manual_order(admin, gold.id, side="buy", quantity=1, order_type="limit",
                           price=1_000.0)
        return {"portfolio": portfolio.id, "asset": eur.id}


def pages(ids: dict[str, int]) -> dict[str, str]:
    """Every page of the dashboard, by the name its screenshot gets."""
    return {
        "overview": "/", "portfolios": "/portfolios",
        "portfolio": f"/portfolios/{ids['portfolio']}", "asset": f"/assets/{ids['asset']}",
        "orders": "/orders", "positions": "/positions", "statistics": "/statistics",
        "performance": f"/performance?portfolio_id={ids['portfolio']}",
        "trades": "/trades", "profile": "/profile", "users": "/admin/users",
        "audit": "/admin/audit", "config": "/admin/config", "plugins": "/admin/plugins",
        "loop": "/admin/loop", "logs": "/admin/logs", "api-docs": "/api/docs",
    }


def main() -> int:
    """Build, seed, serve and shoot; returns the exit status."""
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.acceptance.browser import CHROMIUM, LAUNCH_ARGS, start_live_server
    from tests.conftest import make_test_app, migrate_to_head
    from tests.factories import DEFAULT_PASSWORD

    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run `make browser` first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        log_file = Path(folder) / "lts.log"
        app = make_test_app(f"sqlite:///{folder}/lts.db", Path(folder),
                            login_rate_limit="1000 per minute", log_file=str(log_file))
        migrate_to_head(app)
        ids = seed(app)
        server = start_live_server(app)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                for width, height in WIDTHS.items():
                    context = browser.new_context(viewport={"width": width, "height": height})
                    page = context.new_page()
                    page.goto(server.url("/login"))
                    page.screenshot(path=str(OUT / f"login-{width}.png"))
                    page.fill("#username", "demo")
                    page.fill("#password", DEFAULT_PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_selector(".app-wrapper")
                    for name, path in pages(ids).items():
                        page.goto(server.url(path))
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=str(OUT / f"{name}-{width}.png"), full_page=True)
                        print(f"{name}-{width}.png")
                    context.close()
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
