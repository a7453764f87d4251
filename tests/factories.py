"""Test factories: real rows through the real services, with readable defaults."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from lts.extensions import db
from lts.models import Asset, Portfolio, User
from lts.plugins.aaa.passwords import hash_password
from lts.plugins.aaa.users import create_user, validate_new_user

DEFAULT_PASSWORD = "correct-horse-battery-42"
_counter = itertools.count(1)


@functools.cache
def _default_password_hash() -> str:
    """One argon2id hash of DEFAULT_PASSWORD per process: hashing costs ~30 ms each."""
    return hash_password(DEFAULT_PASSWORD)


def gen_user(username: str | None = None, *, role: str = "user",
             password: str = DEFAULT_PASSWORD, email: str | None = None) -> User:
    """Create a user through the users service (so the password policy applies).

    With the default password the service's rules are checked but the hash is reused,
    which keeps the suite fast; any other password goes through ``create_user``.
    """
    username = username or f"user{next(_counter)}"
    email = email or f"{username}@example.com"
    if password != DEFAULT_PASSWORD:
        return create_user(username, email, role, password)
    validate_new_user(username, email, role, password)
    user = User(username=username, email=email.lower(), role=role,
                password_hash=_default_password_hash())
    db.session.add(user)
    db.session.commit()
    return user


def gen_portfolio(user: User, name: str | None = None, **fields: Any) -> Portfolio:
    """Create a portfolio owned by ``user``."""
    values: dict[str, Any] = {
        "name": name or f"portfolio {next(_counter)}",
        "total_capital": 10_000.0,
        "portfolio_plugin": "equal_weight",
        "portfolio_config": {},
        "portfolio_latency": 60,
    }
    values.update(fields)
    portfolio = Portfolio(user_id=user.id, **values)
    db.session.add(portfolio)
    db.session.commit()
    return portfolio


def gen_asset(portfolio: Portfolio, symbol: str | None = None, **fields: Any) -> Asset:
    """Create an asset in ``portfolio`` on the synthetic pipeline and paper broker."""
    values: dict[str, Any] = {
        "symbol": symbol or f"SYM{next(_counter)}",
        "pipeline_plugin": "synthetic",
        "strategy_plugin": "prediction_threshold",
        "broker_plugin": "paper",
    }
    values.update(fields)
    asset = Asset(portfolio_id=portfolio.id, **values)
    db.session.add(asset)
    db.session.commit()
    return asset
