"""The broker's view of an asset beside LTS's books, with every difference named.

For a broker that can report its account (``account_view(asset)``: the ``oanda`` broker)
the asset page shows the broker's open trades, balance, NAV, margin and last
transaction id next to LTS's open positions, and flags a position one side holds and the
other does not (a fill LTS has not booked yet, a trade opened by hand at the broker...).
A broker without such a report (``paper``: LTS's own book is the broker) gives None.

Display only: nothing here changes data or decides who sees what (the view loaded the
asset through a service that checked ownership). The broker is called through the same
timeout guard as in a tick; a failing call becomes ``error``, never an error page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select

from lts.extensions import db
from lts.models import Asset, Position
from lts.plugins.base import AssetInfo
from lts.runtime_config import effective_setting

_PRICE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class BrokerView:
    """The broker's account and trades for one asset, and how they differ from LTS's."""

    account: dict[str, Any] = field(default_factory=dict)
    broker_trades: list[dict[str, Any]] = field(default_factory=list)
    lts_positions: list[dict[str, Any]] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def agrees(self) -> bool:
        """Whether both sides hold the same open positions (and the broker answered)."""
        return self.error is None and not self.differences


def compare(lts_positions: list[dict[str, Any]],
            broker_trades: list[dict[str, Any]]) -> list[str]:
    """Name every open position held on one side only (signed units and entry price)."""
    unmatched = list(broker_trades)
    differences = []
    for position in lts_positions:
        units = position["quantity"] if position["side"] == "long" else -position["quantity"]
        match = next((t for t in unmatched
                      if abs(t["units"] - units) <= _PRICE_TOLERANCE * max(1.0, abs(units))
                      and abs(t["price"] - position["entry_price"])
                      <= _PRICE_TOLERANCE * max(1.0, t["price"])), None)
        if match is None:
            differences.append(
                f"LTS position {position['id']} ({position['side']} {position['quantity']:g} "
                f"@ {position['entry_price']:g}) has no matching trade at the broker")
        else:
            unmatched.remove(match)
    differences.extend(f"broker trade {t['id']} ({t['units']:+g} @ {t['price']:g}) is not "
                       f"an open position in LTS" for t in unmatched)
    return differences


def broker_view(asset: Asset) -> BrokerView | None:
    """The broker's side of ``asset`` and the differences; None when it cannot report."""
    from lts.trading.errors import PluginCallError
    from lts.trading.plugin_calls import PluginCaller
    from lts.trading.plugin_source import RegistryPluginSource

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    source = app.extensions.setdefault("lts_dashboard_plugin_source", RegistryPluginSource(app))
    try:
        broker = source.get("broker", asset.broker_plugin, dict(asset.broker_config or {}))
    except Exception as exc:  # a plugin that cannot be built: shown, never raised
        return BrokerView(error=f"broker {asset.broker_plugin!r}: {exc}")
    report = getattr(broker, "account_view", None)
    if report is None:
        return None
    if asset.paused_reason:  # the broker refused the credentials: not asked again
        return BrokerView(error=f"asset paused, the broker is not asked: "
                                f"{asset.paused_reason}")
    positions = [{"id": p.id, "side": p.side, "quantity": float(p.quantity),
                  "entry_price": float(p.entry_price)}
                 for p in db.session.scalars(select(Position).where(
                     Position.asset_id == asset.id, Position.status == "open")
                     .order_by(Position.id))]
    info = AssetInfo(id=asset.id, portfolio_id=asset.portfolio_id, symbol=asset.symbol,
                     name=asset.name, allocated_capital=asset.allocated_capital)
    timeout = float(effective_setting("plugin_timeout_seconds"))
    db.session.commit()  # no transaction stays open during a plugin call
    caller = PluginCaller(app)
    try:
        account = caller.call("broker", broker.name, "account_view", report, info,
                              timeout=timeout)
    except PluginCallError as exc:
        return BrokerView(lts_positions=positions, error=str(exc))
    finally:
        caller.close()
    trades = list(account.pop("open_trades", []))
    return BrokerView(account=account, broker_trades=trades, lts_positions=positions,
                      differences=compare(positions, trades))
