"""The demo data `make run` seeds: an admin called ``demo`` and one paper portfolio."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from lts.extensions import db
from lts.models import Asset, Portfolio, User
from lts.plugins.aaa.passwords import hash_password
from lts.plugins.aaa.users import create_user, find_user

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PORTFOLIO = "Demo portfolio"
DEMO_ASSETS = (("EUR_USD", "Euro / US dollar"), ("BTC_USD", "Bitcoin / US dollar"))


@dataclass(frozen=True)
class DemoSeed:
    """What :func:`seed_demo` left in the database and the password it set."""

    user: User
    password: str
    portfolio: Portfolio
    created: bool


def seed_demo() -> DemoSeed:
    """Create the demo admin and portfolio, or find them; always set a new random password.

    Running it twice leaves one user, one portfolio and two assets. The password is
    new each time because only its hash is stored: printing the old one is impossible.
    """
    password = secrets.token_urlsafe(12)
    user = find_user(DEMO_USERNAME)
    created = user is None
    if user is None:
        user = create_user(DEMO_USERNAME, DEMO_EMAIL, "admin", password)
    else:
        user.password_hash = hash_password(password)
        user.is_active = True
        user.failed_logins = 0
        user.locked_until = None

    portfolio = db.session.scalar(
        select(Portfolio).where(Portfolio.user_id == user.id, Portfolio.name == DEMO_PORTFOLIO)
    )
    if portfolio is None:
        portfolio = Portfolio(
            user_id=user.id, name=DEMO_PORTFOLIO,
            description="Paper trading on synthetic prices: safe to experiment with.",
            portfolio_plugin="equal_weight", portfolio_config={},
            total_capital=10_000.0, portfolio_latency=1,
        )
        db.session.add(portfolio)
        db.session.flush()
    existing = {a.symbol for a in portfolio.assets}
    for symbol, name in DEMO_ASSETS:
        if symbol not in existing:
            db.session.add(Asset(
                portfolio_id=portfolio.id, symbol=symbol, name=name,
                pipeline_plugin="synthetic", pipeline_config={},
                strategy_plugin="prediction_threshold", strategy_config={},
                broker_plugin="paper", broker_config={},
            ))
    db.session.commit()
    return DemoSeed(user=user, password=password, portfolio=portfolio, created=created)
