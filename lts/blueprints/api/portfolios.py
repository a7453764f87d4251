"""``/api/v1/portfolios`` and their assets: CRUD, kill switch; ETag/If-Match on edits."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp, page_body
from lts.blueprints.api._common import (
    IF_MATCH_PARAM,
    Extended,
    created,
    if_match,
    with_etag,
)
from lts.schemas.admin import TickResultSchema
from lts.schemas.assets import (
    AssetCreateSchema,
    AssetPageSchema,
    AssetQuerySchema,
    AssetSchema,
    AssetUpdateSchema,
    CloseAndDeactivateSchema,
)
from lts.schemas.portfolios import (
    KillSwitchSchema,
    PortfolioCreateSchema,
    PortfolioMoneySchema,
    PortfolioPageSchema,
    PortfolioQuerySchema,
    PortfolioSchema,
    PortfolioUpdateSchema,
    RiskStateSchema,
)
from lts.security.authz import client_ip
from lts.services import assets, loop_control, portfolios, risk_controls
from lts.web.request import actor


@bp.get("/portfolios")
@bp.arguments(PortfolioQuerySchema, location="query", unknown=RAISE)
@bp.response(200, PortfolioPageSchema)
def list_portfolios(args: dict[str, Any]) -> Any:
    """Your portfolios (admins: everyone's, or one user's with ``user_id``), with P&L.

    Each carries its equity and P&L; ``sort``/``direction`` order them (id by default).
    """
    page = portfolios.list_portfolios(actor(), user_id=args["user_id"],
                                      is_active=args["is_active"], page=args["page"],
                                      per_page=args["per_page"], rows=True,
                                      sort=args["sort"], direction=args["direction"],
                                      money=True)
    return page_body(page, args)


@bp.post("/portfolios")
@bp.arguments(PortfolioCreateSchema)
@bp.response(201, PortfolioSchema)
def create_portfolio(data: dict[str, Any]) -> Any:
    """Create a portfolio; plugin and config are validated by the plugin's schema."""
    owner = data.pop("user_id", None)
    portfolio = portfolios.create_portfolio(actor(), data, owner_id=owner, ip=client_ip())
    return created(portfolio, "api.get_portfolio", portfolio_id=portfolio.id)


@bp.get("/portfolios/<int:portfolio_id>")
@bp.response(200, PortfolioMoneySchema)
def get_portfolio(portfolio_id: int) -> Any:
    """One portfolio with its equity and P&L, and its ETag (of the row: ``If-Match``)."""
    portfolio = portfolios.get_portfolio(actor(), portfolio_id, ip=client_ip())
    money = portfolios.portfolio_money([portfolio.id])[portfolio.id]
    return with_etag(portfolio, shown=Extended(portfolio, **money))


@bp.patch("/portfolios/<int:portfolio_id>")
@bp.arguments(PortfolioUpdateSchema)
@bp.response(200, PortfolioSchema)
@bp.doc(parameters=[IF_MATCH_PARAM])
def update_portfolio(data: dict[str, Any], portfolio_id: int) -> Any:
    """Change some fields; 409 when ``If-Match``/``expected_updated_at`` is stale."""
    expected = data.pop("expected_updated_at", None)
    portfolio = portfolios.update_portfolio(actor(), portfolio_id, data,
                                            expected_updated_at=expected, if_match=if_match(),
                                            ip=client_ip())
    return with_etag(portfolio)


@bp.delete("/portfolios/<int:portfolio_id>")
@bp.response(204)
@bp.doc(parameters=[IF_MATCH_PARAM])
def delete_portfolio(portfolio_id: int) -> Any:
    """Delete a portfolio without trading history (409 otherwise: deactivate it)."""
    portfolios.delete_portfolio(actor(), portfolio_id, if_match=if_match(), ip=client_ip())
    return None


@bp.post("/portfolios/<int:portfolio_id>/kill-switch")
@bp.arguments(KillSwitchSchema)
@bp.response(200, PortfolioSchema)
def portfolio_kill_switch(data: dict[str, Any], portfolio_id: int) -> Any:
    """Halt the portfolio (``on: true``) or let it trade again (owner or admin)."""
    return with_etag(portfolios.set_kill_switch(actor(), portfolio_id, data["on"],
                                                ip=client_ip()))


@bp.put("/portfolios/<int:portfolio_id>/risk-state")
@bp.arguments(RiskStateSchema)
@bp.response(200, PortfolioSchema)
def portfolio_risk_state(data: dict[str, Any], portfolio_id: int) -> Any:
    """Set the portfolio's risk state (owner or admin); the reason is kept in the audit log.

    ``reducing`` lets only closing orders and cancels through; ``halted`` sends no order
    while marks, protective fills and cancels go on.
    """
    return with_etag(risk_controls.set_portfolio_risk_state(
        actor(), portfolio_id, data["state"], data["reason"], ip=client_ip()))


@bp.post("/portfolios/<int:portfolio_id>/run")
@bp.response(200, TickResultSchema)
def run_portfolio(portfolio_id: int) -> Any:
    """Make the portfolio due and run a tick now (owner or admin)."""
    return loop_control.run_portfolio_now(actor(), portfolio_id, ip=client_ip())


@bp.get("/portfolios/<int:portfolio_id>/assets")
@bp.arguments(AssetQuerySchema, location="query", unknown=RAISE)
@bp.response(200, AssetPageSchema)
def list_assets(args: dict[str, Any], portfolio_id: int) -> Any:
    """The assets of one portfolio."""
    page = assets.list_assets(actor(), portfolio_id=portfolio_id, is_active=args["is_active"],
                              page=args["page"], per_page=args["per_page"])
    return page_body(page, args)


@bp.post("/portfolios/<int:portfolio_id>/assets")
@bp.arguments(AssetCreateSchema)
@bp.response(201, AssetSchema)
def create_asset(data: dict[str, Any], portfolio_id: int) -> Any:
    """Add an asset; plugins and configs are validated; broker secrets are encrypted."""
    asset = assets.create_asset(actor(), portfolio_id, data, ip=client_ip())
    return created(asset, "api.get_asset", asset_id=asset.id)


@bp.get("/assets/<int:asset_id>")
@bp.response(200, AssetSchema)
def get_asset(asset_id: int) -> Any:
    """One asset (broker secrets masked), with its ETag."""
    return with_etag(assets.get_asset(actor(), asset_id, ip=client_ip()))


@bp.patch("/assets/<int:asset_id>")
@bp.arguments(AssetUpdateSchema)
@bp.response(200, AssetSchema)
@bp.doc(parameters=[IF_MATCH_PARAM])
def update_asset(data: dict[str, Any], asset_id: int) -> Any:
    """Change some fields; a secret sent back as ``********`` keeps its stored value."""
    expected = data.pop("expected_updated_at", None)
    asset = assets.update_asset(actor(), asset_id, data, expected_updated_at=expected,
                                if_match=if_match(), ip=client_ip())
    return with_etag(asset)


@bp.post("/assets/<int:asset_id>/resume")
@bp.response(200, AssetSchema)
def resume_asset(asset_id: int) -> Any:
    """Lift the pause set when the broker refused the asset's credentials (audited).

    The next tick calls the broker again; a broker that still refuses pauses it again.
    """
    return with_etag(assets.resume_asset(actor(), asset_id, ip=client_ip()))


@bp.post("/assets/<int:asset_id>/close-and-deactivate")
@bp.response(200, CloseAndDeactivateSchema)
def close_and_deactivate_asset(asset_id: int) -> Any:
    """Close the asset's open positions at market, then deactivate it.

    Each close is a manual closing order (as ``POST /positions/<id>/close``). When one
    is refused or not filled, the asset is still deactivated and stays reduce-only
    until flat (``still_open``).
    """
    return assets.close_and_deactivate(actor(), asset_id, ip=client_ip())


@bp.delete("/assets/<int:asset_id>")
@bp.response(204)
@bp.doc(parameters=[IF_MATCH_PARAM])
def delete_asset(asset_id: int) -> Any:
    """Delete an asset without orders (409 otherwise: deactivate it)."""
    assets.delete_asset(actor(), asset_id, if_match=if_match(), ip=client_ip())
    return None
