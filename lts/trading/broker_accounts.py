"""Broker-reported equity and margin: the broker's figures are the truth when it has them.

A broker plugin holding a real account (``oanda``) answers
:meth:`lts.plugins.base.BrokerPlugin.account` with its NAV and margin; the paper broker
keeps the default (None) and LTS's own books stay in charge (SPEC 2a). A portfolio uses
the reported figures only when every asset it steps reports one: its equity is then the
sum of the distinct accounts' NAV (assets sharing an account count it once), for the
allocation, the kill switch (equity <= 0, drawdown) and the equity statistics.

The broker may lower what LTS allocates, never raise it: the allocatable equity is the
smallest of LTS's own figure (the portfolio's capital), the reported equity less the
margin held by assets not being allocated, and the broker's free margin plus the margin
the allocated assets' own positions already hold. Each asset's orders are then bounded
by its allocation (the pre-trade ``allocation`` check), so no order is sized on margin
the broker does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from lts.plugins.base import BrokerAccount, BrokerPlugin


def reports_account(broker: BrokerPlugin) -> bool:
    """Whether ``broker``'s class answers :meth:`BrokerPlugin.account` at all."""
    return type(broker).account is not BrokerPlugin.account


def distinct(accounts: Sequence[BrokerAccount]) -> tuple[BrokerAccount, ...]:
    """``accounts`` with each account once (the first answer of each key)."""
    seen: dict[str, BrokerAccount] = {}
    for account in accounts:
        seen.setdefault(account.key, account)
    return tuple(seen.values())


def reported_equity(accounts: Sequence[BrokerAccount]) -> float:
    """The portfolio's equity as its brokers report it: the distinct accounts' NAV."""
    return sum(a.equity for a in distinct(accounts))


def reported_allocatable(accounts: Sequence[BrokerAccount], own: float, held: float,
                         allocated_margin: float) -> float:
    """What may be allocated, the broker's figures counted (see the module's note).

    ``own`` is LTS's own allocatable equity, ``held`` the margin held by assets not
    being allocated, ``allocated_margin`` the margin the allocated assets' open
    positions hold (part of their allocation, and of the broker's margin used).
    """
    unique = distinct(accounts)
    equity = sum(a.equity for a in unique)
    free = sum(a.margin_available for a in unique)
    return max(0.0, min(own, equity - held, free + allocated_margin))
