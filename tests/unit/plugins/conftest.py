"""Fixtures for plugin tests: a real asset row for the paper broker's book."""

from __future__ import annotations

import pytest

from lts.plugins.base import AssetInfo
from tests.factories import gen_asset, gen_portfolio, gen_user


@pytest.fixture
def asset_row(db):  # type: ignore[no-untyped-def]
    """An asset in the database (the paper book's foreign key needs one)."""
    user = gen_user()
    portfolio = gen_portfolio(user)
    return gen_asset(portfolio, "TEST", allocated_capital=10_000.0)


@pytest.fixture
def asset_info(asset_row) -> AssetInfo:  # type: ignore[no-untyped-def]
    """The plugin-side view of ``asset_row``."""
    return AssetInfo(id=asset_row.id, portfolio_id=asset_row.portfolio_id,
                     symbol=asset_row.symbol, name=asset_row.name or asset_row.symbol,
                     allocated_capital=10_000.0)
