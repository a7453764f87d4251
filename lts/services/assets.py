"""Assets of a portfolio: list, read, create, update, delete (or deactivate).

Plugin names and configs are validated through the registry; secret fields of every
plugin config (``broker_config`` and the others) are encrypted before they are stored
and masked on the way out (:func:`public_plugin_config`). An asset with orders cannot
be deleted: it is deactivated instead, so trading history is never lost. Deactivating
an asset that holds a position leaves it reduce-only until flat;
:func:`close_and_deactivate` closes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from lts.errors import Conflict, Forbidden, ValidationFailed
from lts.extensions import db
from lts.models import Asset, Order, Position, User
from lts.services import positions
from lts.services.access import (
    check_version,
    commit_recorded,
    edited_values,
    is_admin,
    load_owned,
    record,
    refuse_invalid_or_taken,
    refuse_unknown_fields,
    scoped,
)
from lts.services.orders import ManualOrderResult
from lts.services.pagination import Page, paginate
from lts.services.plugin_validation import (
    check_plugin,
    config_to_validate,
    registry,
    same_config,
    stored_config,
)
from lts.services.portfolios import get_portfolio
from lts.trading.plugin_source import public_config, secret_names

PLUGIN_KINDS = ("pipeline", "strategy", "broker")
EDITABLE = ("symbol", "name", "is_active", "strategy_plugin", "strategy_config",
            "broker_plugin", "broker_config", "pipeline_plugin", "pipeline_config",
            "max_data_age_minutes")


def list_assets(actor: User, *, portfolio_id: int | None = None, is_active: bool | None = None,
                page: int | None = 1, per_page: int | None = None) -> Page[Asset]:
    """Assets the actor may see (of ``portfolio_id`` when given), ordered by id."""
    statement = scoped(select(Asset), actor, "asset")
    if portfolio_id is not None:
        get_portfolio(actor, portfolio_id)
        statement = statement.where(Asset.portfolio_id == portfolio_id)
    if is_active is not None:
        statement = statement.where(Asset.is_active.is_(is_active))
    return paginate(statement.order_by(Asset.id).options(selectinload(Asset.decision)),
                    page, per_page)


def get_asset(actor: User, asset_id: int, action: str = "read", *, ip: str | None = None
              ) -> Asset:
    """One asset the actor may ``action``; NotFound otherwise."""
    return load_owned(Asset, asset_id, actor, action, ip=ip)


def config_secret_names(kind: str, plugin: str, config: Mapping[str, Any] | None = None
                        ) -> set[str]:
    """Secret field names of ``plugin``'s config (flagged or credential-like)."""
    return secret_names(kind, plugin, config)


def broker_secret_names(broker_plugin: str, config: Mapping[str, Any] | None = None
                        ) -> set[str]:
    """Secret field names of ``broker_plugin``'s config (flagged or credential-like)."""
    return secret_names("broker", broker_plugin, config)


def public_plugin_config(asset: Asset, kind: str) -> dict[str, Any]:
    """The asset's ``kind`` plugin config as it may be shown: secrets masked."""
    return public_config(kind, getattr(asset, f"{kind}_plugin"),
                         getattr(asset, f"{kind}_config"))


def public_broker_config(asset: Asset) -> dict[str, Any]:
    """The asset's broker config as it may be shown: secrets masked."""
    return public_plugin_config(asset, "broker")


def field_errors(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every broken rule of ``values``, by field (each plugin's config included).

    The one place the asset rules live: the service raises with them, and the page
    form asks for them even when some of its own fields failed to parse, so a user
    sees every problem (plugin configs too) in one round.
    """
    errors: dict[str, Any] = {}
    symbol = values.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        errors["symbol"] = ["must not be empty"]
    elif len(symbol.strip()) > 32:
        errors["symbol"] = ["at most 32 characters"]
    if not isinstance(values.get("name", ""), str):
        errors["name"] = ["must be text"]
    elif len(values.get("name") or "") > 100:
        errors["name"] = ["at most 100 characters"]
    if not isinstance(values.get("is_active", True), bool):
        errors["is_active"] = ["must be true or false"]
    max_age = values.get("max_data_age_minutes")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int | float)
                                or not 0 < max_age <= 527_040):
        errors["max_data_age_minutes"] = ["must be a number of minutes above 0 (at most a "
                                          "year), or null for 3 bar periods"]
    for kind in PLUGIN_KINDS:
        check_plugin(kind, values.get(f"{kind}_plugin"), values.get(f"{kind}_config"), errors)
    return errors


def check_asset(data: Mapping[str, Any], asset: Asset | None) -> dict[str, Any]:
    """The rule errors ``data`` would meet on create (``asset`` None) or update.

    Nothing is written. Masked secrets are restored from ``asset`` as an update would.
    Used by the page form to report every problem at once (its own parse errors, the
    fields' rules and each plugin's config) instead of one round after another.
    """
    reg = registry()
    values: dict[str, Any] = {"name": "", "is_active": True}
    stored: dict[str, Mapping[str, Any]] = {}
    for kind in PLUGIN_KINDS:
        values[f"{kind}_plugin"] = (getattr(asset, f"{kind}_plugin") if asset is not None
                                    else reg.default(kind))
        values[f"{kind}_config"] = {}
    values.update(data)
    if asset is not None:
        for kind in PLUGIN_KINDS:
            if values[f"{kind}_plugin"] == getattr(asset, f"{kind}_plugin"):
                stored[kind] = dict(getattr(asset, f"{kind}_config") or {})
    try:
        _prepare_configs(values, stored)
    except ValidationFailed as exc:
        return dict(exc.fields)
    return field_errors(values)


def _validate(values: dict[str, Any], portfolio_id: int, current_id: int | None) -> None:
    """Raise ValidationFailed/Conflict naming every offending field of ``values``."""
    symbol = str(values.get("symbol")).strip()
    refuse_invalid_or_taken(field_errors(values), "asset", Asset, current_id,
                            Conflict(f"the portfolio already trades {symbol!r}",
                                     {"symbol": ["already in this portfolio"]}),
                            portfolio_id=portfolio_id, symbol=symbol)


def _prepare_configs(values: dict[str, Any], stored: Mapping[str, Mapping[str, Any]]) -> None:
    """Keep masked secrets and decrypt them for validation; the caller encrypts after it.

    ``stored`` holds, per kind, the config saved for the plugin ``values`` names (empty
    for a new asset or a plugin that changes).
    """
    for kind in PLUGIN_KINDS:
        values[f"{kind}_config"] = config_to_validate(
            kind, values.get(f"{kind}_plugin"), values.get(f"{kind}_config"),
            stored.get(kind))


def _encrypt_configs(values: dict[str, Any]) -> None:
    """Encrypt the secrets of every validated plugin config for storage."""
    for kind in PLUGIN_KINDS:
        values[f"{kind}_config"] = stored_config(kind, values[f"{kind}_plugin"],
                                                 values.get(f"{kind}_config"))


def _live_consent(actor: User, values: Mapping[str, Any],
                  stored_broker: Mapping[str, Any] | None, resource: str,
                  ip: str | None) -> bool:
    """Switching a broker's ``allow_live`` on (real money, issue 13) needs an admin.

    Returns whether this change switches it on (the caller audits it with the change);
    a non-admin's attempt is audited as denied and refused with Forbidden.
    """
    if not (values.get("broker_config") or {}).get("allow_live") or \
            (stored_broker or {}).get("allow_live"):
        return False
    if not is_admin(actor):
        record(actor, "asset.allow_live", resource,
               {"broker_plugin": values.get("broker_plugin")}, "denied", ip=ip)
        raise Forbidden("only an administrator may set allow_live: it lets the broker "
                        "trade real money")
    return True


def _commit(actor: User, action: str, asset: Asset, details: Mapping[str, Any],
            ip: str | None) -> None:
    """Commit with its audit row; a race on the unique symbol is a Conflict."""
    commit_recorded(actor, action, "asset", asset, details, ip=ip,
                    clash=Conflict("the asset clashes with another one (same symbol?)",
                                   {"symbol": ["already in this portfolio"]}))


def create_asset(actor: User, portfolio_id: int, data: Mapping[str, Any], *,
                 ip: str | None = None) -> Asset:
    """Add an asset to one of the actor's portfolios; ``symbol`` is required."""
    portfolio = get_portfolio(actor, portfolio_id, "update", ip=ip)
    refuse_unknown_fields(data, EDITABLE)
    reg = registry()
    values: dict[str, Any] = {"name": "", "is_active": True}
    for kind in PLUGIN_KINDS:
        values[f"{kind}_plugin"] = reg.default(kind)
        values[f"{kind}_config"] = {}
    values.update(data)
    _prepare_configs(values, {})
    _validate(values, portfolio.id, None)
    live = _live_consent(actor, values, None, f"portfolio:{portfolio.id}", ip)
    values["symbol"] = values["symbol"].strip()
    _encrypt_configs(values)
    asset = Asset(portfolio_id=portfolio.id, **values)
    db.session.add(asset)
    details: dict[str, Any] = {"symbol": asset.symbol, "portfolio_id": portfolio.id}
    if live:
        details["allow_live"] = "switched on"
    _commit(actor, "asset.create", asset, details, ip)
    return asset


def update_asset(actor: User, asset_id: int, changes: Mapping[str, Any], *,
                 expected_updated_at: datetime | None = None, if_match: str | None = None,
                 ip: str | None = None) -> Asset:
    """Change some fields; a secret sent as the mask keeps its stored value."""
    asset = get_asset(actor, asset_id, "update", ip=ip)
    refuse_unknown_fields(changes, EDITABLE)
    check_version(asset, expected_updated_at=expected_updated_at, if_match=if_match)
    values = edited_values(asset, changes, EDITABLE, PLUGIN_KINDS)
    stored: dict[str, Mapping[str, Any]] = {}
    for kind in PLUGIN_KINDS:
        if values[f"{kind}_plugin"] == getattr(asset, f"{kind}_plugin"):
            stored[kind] = dict(getattr(asset, f"{kind}_config") or {})
        if f"{kind}_config" not in changes:  # kept as stored: secrets round-trip masked
            values[f"{kind}_config"] = public_config(kind, values[f"{kind}_plugin"],
                                                     stored.get(kind))
    _prepare_configs(values, stored)
    _validate(values, asset.portfolio_id, asset.id)
    live = _live_consent(actor, values, stored.get("broker"), f"asset:{asset.id}", ip)
    values["symbol"] = values["symbol"].strip()
    _encrypt_configs(values)
    changed = []
    for key in EDITABLE:
        new = values[key]
        if key.endswith("_config"):
            if same_config(new, getattr(asset, key)):
                continue
        elif new == getattr(asset, key):
            continue
        changed.append(key)
        setattr(asset, key, dict(new) if key.endswith("_config") else new)
    resumed = bool(asset.paused_reason) and any(
        f"{kind}_config" in changed or f"{kind}_plugin" in changed for kind in ("broker",
                                                                               "pipeline"))
    if resumed:  # new credentials: the engine tries them at the next tick
        asset.paused_reason = asset.paused_at = None
    _commit(actor, "asset.update", asset, {"changed": changed, **(
        {"allow_live": "switched on"} if live else {}), **(
        {"resumed": "credentials changed"} if resumed else {})}, ip)
    return asset


def resume_asset(actor: User, asset_id: int, *, ip: str | None = None) -> Asset:
    """Lift the pause the engine set when the broker refused the credentials.

    The next tick calls the broker again; if it still refuses, the asset pauses again.
    Resuming an asset that is not paused changes nothing and is not audited.
    """
    asset = get_asset(actor, asset_id, "update", ip=ip)
    if asset.paused_reason is None:
        return asset
    reason = asset.paused_reason
    asset.paused_reason = asset.paused_at = None
    _commit(actor, "asset.resume", asset, {"was_paused_for": reason}, ip)
    return asset


def delete_asset(actor: User, asset_id: int, *, expected_updated_at: datetime | None = None,
                 if_match: str | None = None, ip: str | None = None) -> None:
    """Delete an asset without orders; one with orders is a Conflict (deactivate it)."""
    asset = get_asset(actor, asset_id, "delete", ip=ip)
    check_version(asset, expected_updated_at=expected_updated_at, if_match=if_match)
    if db.session.scalar(select(exists().where(Order.asset_id == asset.id))):
        raise Conflict(f"asset {asset.id} ({asset.symbol}) has orders and cannot be deleted; "
                       "deactivate it instead")
    symbol = asset.symbol
    db.session.delete(asset)
    db.session.flush()
    record(actor, "asset.delete", f"asset:{asset_id}", {"symbol": symbol}, ip=ip)


def open_position_counts(asset_ids: Iterable[int]) -> dict[int, int]:
    """How many open positions each asset holds (assets without any are left out).

    An inactive asset that still holds one is reduce-only until it is flat (SPEC 2a):
    pages say so and offer "close and deactivate".
    """
    ids = list(asset_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(Position.asset_id, func.count(Position.id))
                              .where(Position.asset_id.in_(ids), Position.status == "open")
                              .group_by(Position.asset_id)).all()
    return {int(asset_id): int(count) for asset_id, count in rows}


@dataclass(frozen=True)
class CloseAndDeactivate:
    """An asset after "close and deactivate": the closing orders sent, and what is left."""

    asset: Asset
    closes: list[ManualOrderResult]
    still_open: int

    @property
    def flat(self) -> bool:
        """Whether no position of the asset is open any more (else it is reduce-only)."""
        return self.still_open == 0


def close_and_deactivate(actor: User, asset_id: int, *, now: datetime | None = None,
                         ip: str | None = None) -> CloseAndDeactivate:
    """Close the asset's open positions at market, then deactivate it (owner or admin).

    Each close takes the path of ``POST /positions/<id>/close`` (risk checks, the
    ``pending`` row first, audit). The asset is deactivated even when a close is refused
    or still pending: it is then reduce-only until flat, which is safer than trading on.
    """
    asset = get_asset(actor, asset_id, "update", ip=ip)
    position_ids = list(db.session.scalars(
        select(Position.id).where(Position.asset_id == asset.id, Position.status == "open")
        .order_by(Position.id)))
    closes = []
    for position_id in position_ids:
        try:
            closes.append(positions.close_position(actor, position_id, now=now, ip=ip))
        except (Conflict, ValidationFailed):
            continue  # closed meanwhile (a stop, another request): nothing left to do
    asset = update_asset(actor, asset_id, {"is_active": False}, ip=ip)
    still_open = open_position_counts([asset.id]).get(asset.id, 0)
    record(actor, "asset.close_and_deactivate", f"asset:{asset.id}",
           {"closing_orders": [c.client_order_id for c in closes],
            "statuses": [c.status for c in closes], "still_open": still_open}, ip=ip)
    return CloseAndDeactivate(asset=asset, closes=closes, still_open=still_open)
