"""The rule that turns brokers' reported accounts into a portfolio's equity and allocation."""

from __future__ import annotations

import pytest

from lts.plugins.base import BrokerAccount
from lts.trading.broker_accounts import distinct, reported_allocatable, reported_equity

SHARED = BrokerAccount("oanda-a", equity=8_000.0, margin_used=500.0, margin_available=7_500.0)
OTHER = BrokerAccount("oanda-b", equity=2_000.0, margin_used=0.0, margin_available=2_000.0)


def test_assets_sharing_an_account_count_it_once():
    assert distinct([SHARED, SHARED, OTHER]) == (SHARED, OTHER)
    assert reported_equity([SHARED, SHARED, OTHER]) == pytest.approx(10_000.0)


def test_the_broker_lowers_the_allocatable_equity_never_raises_it():
    # LTS's own books allow 50k: the accounts hold 10k.
    assert reported_allocatable([SHARED, OTHER], 50_000.0, 0.0, 500.0) == pytest.approx(10_000.0)
    # The accounts hold more than the portfolio's capital: the capital bounds it.
    assert reported_allocatable([SHARED, OTHER], 3_000.0, 0.0, 500.0) == pytest.approx(3_000.0)
    # Margin held by assets not being allocated is not allocated again.
    assert reported_allocatable([SHARED, OTHER], 50_000.0, 4_000.0, 0.0) == pytest.approx(6_000.0)
    # Free margin bounds it, plus what the allocated assets' own positions hold.
    tight = BrokerAccount("x", equity=10_000.0, margin_used=9_000.0, margin_available=1_000.0)
    assert reported_allocatable([tight], 50_000.0, 0.0, 2_000.0) == pytest.approx(3_000.0)
    assert reported_allocatable([tight], 50_000.0, 20_000.0, 0.0) == 0.0
