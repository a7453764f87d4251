"""Manual orders and position closes: the same path as the engine's orders.

The API and dashboard call these; they go through the same risk checks, the same
``pending``-before-broker transaction and the same state machine as strategy orders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import Connection, select

from lts.errors import NotFound, ValidationFailed
from lts.extensions import db
from lts.models import Asset, Position
from lts.plugins.precision import round_price
from lts.runtime_config import effective_settings
from lts.trading.clock import system_clock
from lts.trading.engine import TICK_SETTING_KEYS
from lts.trading.errors import PluginCallError
from lts.trading.orders import (
    OrderExecutor,
    OrderIntent,
    PlacedOrder,
    RateWindow,
    ensure_no_transaction,
    next_manual_client_order_id,
    rate_window,
)
from lts.trading.plugin_calls import PluginCaller
from lts.trading.plugin_source import PluginSource, RegistryPluginSource
from lts.trading.positions import position_info
from lts.trading.risk import RiskLimits
from lts.trading.sizing import (
    fit_quantity,
    quantity_step_error,
    round_to_step,
    size_quantity,
)
from lts.trading.units import AssetUnit, build_unit

SOURCE_KEY = "lts_plugin_source"


def _plugin_source(app: Flask) -> PluginSource:
    """The app's shared registry-backed plugin source."""
    source = app.extensions.get(SOURCE_KEY)
    if source is None:
        source = app.extensions[SOURCE_KEY] = RegistryPluginSource(app)
    return source  # type: ignore[no-any-return]


def _unit(asset_id: int, plugins: PluginSource) -> AssetUnit:
    """Build the asset's unit or raise NotFound / ValidationFailed."""
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} not found")
    try:
        return build_unit(plugins, asset)
    except PluginCallError as exc:
        raise ValidationFailed(str(exc), {f"{exc.kind}_plugin": [exc.summary]}) from exc


def submit_manual_order(asset_id: int, side: str, quantity: float | None = None, *,
                        order_type: str = "market", price: float | None = None,
                        stop_loss: float | None = None, take_profit: float | None = None,
                        user_id: int | None = None, now: datetime | None = None,
                        plugins: PluginSource | None = None) -> PlacedOrder:
    """Place a user's order on ``asset_id``; ``quantity`` None sizes it from the allocation.

    Returns the PlacedOrder (a risk rejection is a PlacedOrder with ``rejected_by``).
    """
    if side not in ("buy", "sell"):
        raise ValidationFailed("invalid order", {"side": ["must be buy or sell"]})
    if order_type not in ("market", "limit", "stop"):
        raise ValidationFailed("invalid order", {"order_type": ["must be market, limit or stop"]})
    if order_type != "market" and (price is None or price <= 0):
        raise ValidationFailed("invalid order", {"price": [f"a {order_type} order needs a price"]})
    if quantity is not None and quantity <= 0:
        raise ValidationFailed("invalid order", {"quantity": ["must be positive"]})
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    plugins = plugins or _plugin_source(app)
    now = now or system_clock()
    unit = _unit(asset_id, plugins)
    if quantity is not None:
        finer = quantity_step_error(quantity, unit.lot_step, unit.instrument)
        if finer is not None:
            raise ValidationFailed("invalid order", {"quantity": [finer]})
    caller = PluginCaller(app)
    executor: OrderExecutor | None = None
    try:
        executor, timeout = _executor(caller)
        snapshot = caller.call("pipeline", unit.pipeline.name, "snapshot", unit.pipeline.snapshot,
                               unit.info, now, timeout=timeout)
        reference = snapshot.last_price
        if price is not None and unit.instrument is not None:  # sized as it is sent
            price = round_price(price, unit.instrument.price_decimals)
        if quantity is None:
            quantity = size_quantity(unit.info.allocated_capital, price or reference,
                                     leverage=unit.leverage, lot_step=unit.lot_step)
        else:
            quantity = round_to_step(quantity, unit.lot_step)
        quantity, finer = fit_quantity(quantity, unit.instrument)
        if quantity <= 0:
            raise ValidationFailed("invalid order",
                                   {"quantity": [finer or "less than one lot at this price"]})
        intent = OrderIntent(asset_id=asset_id, side=side, quantity=quantity,
                             reference_price=reference, order_type=order_type,
                             price=price if order_type != "market" else None,
                             stop_loss=stop_loss, take_profit=take_profit,
                             reason="manual order", source="manual")
        return executor.place(intent, _manual_coid(asset_id, now), unit.info, unit.broker,
                              snapshot, now, leverage=unit.leverage, user_id=user_id)
    except PluginCallError as exc:
        raise ValidationFailed(str(exc), {f"{exc.kind}_plugin": [exc.summary]}) from exc
    finally:
        caller.close()
        if executor is not None:
            executor.close()


def close_position(position_id: int, *, user_id: int | None = None,
                   now: datetime | None = None, plugins: PluginSource | None = None
                   ) -> PlacedOrder:
    """Close an open position at market through the broker (a manual closing order)."""
    position = db.session.scalar(select(Position).where(Position.id == position_id))
    if position is None:
        raise NotFound(f"position {position_id} not found")
    if position.status != "open":
        raise ValidationFailed("position is closed", {"position": ["is not open"]})
    info = position_info(position)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    plugins = plugins or _plugin_source(app)
    now = now or system_clock()
    unit = _unit(info.asset_id, plugins)
    caller = PluginCaller(app)
    executor: OrderExecutor | None = None
    try:
        executor, timeout = _executor(caller)
        ensure_no_transaction(db.session())
        snapshot = caller.call("pipeline", unit.pipeline.name, "snapshot", unit.pipeline.snapshot,
                               unit.info, now, timeout=timeout)
        intent = OrderIntent(asset_id=info.asset_id,
                             side="sell" if info.side == "long" else "buy",
                             quantity=info.quantity, reference_price=snapshot.last_price,
                             reason="manual close", source="manual",
                             closes_position_id=info.id)
        return executor.place(intent, _manual_coid(info.asset_id, now), unit.info,
                              unit.broker, snapshot, now, leverage=unit.leverage, user_id=user_id)
    except PluginCallError as exc:
        raise ValidationFailed(str(exc), {f"{exc.kind}_plugin": [exc.summary]}) from exc
    finally:
        caller.close()
        if executor is not None:
            executor.close()


def order_rate_window(asset_id: int, now: datetime | None = None) -> RateWindow:
    """The ``max_orders_per_minute`` window of the asset's portfolio now (for RateLimit-*)."""
    limit = int(effective_settings(("max_orders_per_minute",), db.session())
                ["max_orders_per_minute"])
    return rate_window(db.session().connection(), asset_id, now or system_clock(), limit)


def _manual_coid(asset_id: int, now: datetime) -> Callable[[Connection], str]:
    """Build the manual client id inside the order's write transaction."""
    return lambda connection: next_manual_client_order_id(connection, asset_id, now)


def _executor(caller: PluginCaller) -> tuple[OrderExecutor, float]:
    """An executor with the runtime limits in force now."""
    settings = effective_settings(TICK_SETTING_KEYS, db.session())
    timeout = float(settings["plugin_timeout_seconds"])
    ensure_no_transaction(db.session())
    return OrderExecutor(db.session(), caller, RiskLimits.from_settings(settings), timeout), \
        timeout
