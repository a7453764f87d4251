"""The risk states in check_order (SPEC 2a): per portfolio and global, kill switch included."""

from __future__ import annotations

import pytest

from lts.trading.errors import RiskRejected
from lts.trading.risk import OrderCheck, RiskLimits, RiskSubject, check_order, global_risk_state

OPEN = OrderCheck(notional=100.0, closing=False)
CLOSE = OrderCheck(notional=100.0, closing=True)
FLATTEN = OrderCheck(notional=100.0, closing=True, flatten=True)


def subject(state: str = "active") -> RiskSubject:
    return RiskSubject(portfolio_id=1, risk_state=state, asset_id=2,
                       allocated_capital=1_000.0)


def limits(kill_switch: bool = False, risk_state: str = "active") -> RiskLimits:
    return RiskLimits.from_settings({"kill_switch": kill_switch, "risk_state": risk_state,
                                     "max_order_notional": None,
                                     "max_orders_per_minute": 60})


def rejected_by(order: OrderCheck, portfolio: str, global_limits: RiskLimits) -> str | None:
    try:
        check_order(subject(portfolio), order, global_limits)
    except RiskRejected as exc:
        return exc.check
    return None


@pytest.mark.parametrize(("kill_switch", "risk_state", "expected"), [
    (False, "active", "active"),
    (False, "reducing", "reducing"),
    (False, "halted", "halted"),
    (True, "active", "halted"),
    (True, "reducing", "halted"),
])
def test_either_setting_saying_halted_means_halted(kill_switch, risk_state, expected):
    assert global_risk_state({"kill_switch": kill_switch, "risk_state": risk_state}) == expected
    built = limits(kill_switch, risk_state)
    assert built.global_state == expected and built.kill_switch == (expected == "halted")


@pytest.mark.parametrize(("portfolio", "global_state", "opening", "closing", "flatten"), [
    ("active", "active", None, None, None),
    ("reducing", "active", "risk_state", None, None),
    ("active", "reducing", "risk_state", None, None),
    ("reducing", "reducing", "risk_state", None, None),
    ("halted", "active", "risk_state", "risk_state", None),
    ("active", "halted", "kill_switch", "kill_switch", None),
    ("halted", "reducing", "risk_state", "risk_state", None),
])
def test_what_each_combination_of_states_lets_through(portfolio, global_state, opening,
                                                      closing, flatten):
    global_limits = limits(risk_state=global_state)
    assert rejected_by(OPEN, portfolio, global_limits) == opening
    assert rejected_by(CLOSE, portfolio, global_limits) == closing
    assert rejected_by(FLATTEN, portfolio, global_limits) == flatten


def test_global_reducing_names_itself_in_the_refusal():
    with pytest.raises(RiskRejected, match="global risk state is reducing"):
        check_order(subject(), OPEN, limits(risk_state="reducing"))
