"""The free-margin check of SPEC 2a, on plain values (the SQL side is in the engine tests)."""

from __future__ import annotations

import pytest

from lts.trading.errors import RiskRejected
from lts.trading.risk import OrderCheck, RiskLimits, RiskSubject, check_order


def subject(equity: float | None, other_margin: float = 0.0, committed: float = 0.0,
            allocated: float = 1e9) -> RiskSubject:
    return RiskSubject(portfolio_id=1, risk_state="active", asset_id=2,
                       allocated_capital=allocated, committed=committed, equity=equity,
                       other_margin=other_margin)


def test_an_order_that_fits_the_free_margin_passes():
    check_order(subject(10_000.0, other_margin=4_000.0, committed=1_000.0),
                OrderCheck(notional=5_000.0, closing=False), RiskLimits())


def test_an_order_beyond_the_free_margin_is_refused_naming_the_figures():
    with pytest.raises(RiskRejected) as caught:
        check_order(subject(10_000.0, other_margin=4_000.0, committed=1_000.0),
                    OrderCheck(notional=5_001.0, closing=False), RiskLimits())
    assert caught.value.check == "margin"
    assert caught.value.message == ("insufficient margin: needs 5001.00 but only 5000.00 of "
                                    "equity 10000.00 is free")


def test_leverage_divides_the_margin_an_order_needs():
    check_order(subject(1_000.0), OrderCheck(notional=10_000.0, closing=False, leverage=10),
                RiskLimits())
    with pytest.raises(RiskRejected):
        check_order(subject(1_000.0), OrderCheck(notional=10_100.0, closing=False,
                                                 leverage=10), RiskLimits())


def test_no_equity_left_refuses_every_opening_order_but_not_a_close():
    with pytest.raises(RiskRejected) as caught:
        check_order(subject(-50.0), OrderCheck(notional=1.0, closing=False), RiskLimits())
    assert "only 0.00 of equity -50.00" in caught.value.message
    check_order(subject(-50.0), OrderCheck(notional=1_000.0, closing=True), RiskLimits())


def test_margin_is_checked_before_the_asset_allocation():
    with pytest.raises(RiskRejected) as caught:
        check_order(subject(100.0, allocated=50.0), OrderCheck(notional=200.0, closing=False),
                    RiskLimits())
    assert caught.value.check == "margin"


def test_a_deactivated_asset_is_reduce_only_for_every_caller():
    inactive = RiskSubject(portfolio_id=1, risk_state="active", asset_id=2,
                           allocated_capital=1e9, equity=1e9, asset_active=False)
    with pytest.raises(RiskRejected) as caught:
        check_order(inactive, OrderCheck(notional=1.0, closing=False), RiskLimits())
    assert caught.value.check == "reduce_only"
    check_order(inactive, OrderCheck(notional=1.0, closing=True), RiskLimits())


def test_leverage_from_stored_text_matches_the_decoded_rule():
    """The margin read decodes broker configs from their text; same answers as the dict rule."""
    import json

    from lts.trading.risk import _text_leverage
    from lts.trading.units import config_leverage

    for config in ({}, {"leverage": 5}, {"leverage": "2.5"}, {"leverage": 0}, {"leverage": -3},
                   {"leverage": "x"}, {"leverage": float("inf")}, {"other": 1}, None):
        assert _text_leverage(json.dumps(config)) == config_leverage(config), config
    assert _text_leverage(None) == 1.0
    assert _text_leverage("not json") == 1.0
    assert _text_leverage("[1, 2]") == 1.0
