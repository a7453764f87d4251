"""Asset views: add/edit/remove inline on the portfolio page, the asset page, manual orders.

The asset form shows one plugin select per kind (pipeline, strategy, broker) with the
selected plugin's config inputs generated from its schema; changing a select swaps
the inputs (``portfolios.plugin_fields``). Broker secrets are shown masked and kept
when sent back masked (:func:`lts.services.assets.update_asset`).
"""

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for
from flask.typing import ResponseReturnValue

from lts.blueprints.portfolios import bp
from lts.blueprints.portfolios.forms import (
    AssetForm,
    ManualOrderForm,
    add_rule_errors,
    add_service_errors,
    expected_version,
)
from lts.blueprints.portfolios.routes import detail_context
from lts.errors import NotFound, ServiceError
from lts.models import Asset, Portfolio
from lts.security.authz import client_ip
from lts.services import assets, dashboard_queries, orders, portfolios, positions
from lts.services.broker_view import broker_view
from lts.services.plugin_forms import parse_plugin_choice, plugin_choice, raw_values
from lts.trading.chart import parse_timeframe
from lts.trading.clock import system_clock
from lts.web.htmx import hx_redirect, hx_target, render_page, render_partial
from lts.web.request import actor, is_htmx, with_trigger

ASSET_KINDS = ("pipeline", "strategy", "broker")


def _load_portfolio(portfolio_id: int, action: str = "read") -> Portfolio:
    """The viewer's portfolio (a miss raises NotFound: the 404 page)."""
    return portfolios.get_portfolio(actor(), portfolio_id, action)


def _load_asset(asset_id: int, action: str = "read") -> Asset:
    """The viewer's asset (a miss raises NotFound: the 404 page)."""
    return assets.get_asset(actor(), asset_id, action)


def _choices(asset: Asset | None, errors: dict[str, Any] | None = None,
             submitted: bool = False) -> list[Any]:
    """Plugin selects with generated inputs: stored values, or what was just submitted."""
    errors = errors or {}
    result = []
    for kind in ASSET_KINDS:
        if submitted:
            selected = request.form.get(f"{kind}_plugin")
            values, raw = None, raw_values(f"{kind}_config", request.form)
        else:
            selected = getattr(asset, f"{kind}_plugin") if asset else None
            raw = None
            values = assets.public_plugin_config(asset, kind) if asset else None
        config_errors = errors.get(f"{kind}_config") or {}
        if not isinstance(config_errors, dict):
            config_errors = {"_schema": config_errors}
        secrets = assets.config_secret_names(kind, selected or "", values or {})
        result.append(plugin_choice(kind, selected, values=values, errors=config_errors,
                                    raw=raw, secrets=secrets, plugin_errors=tuple(
                                        str(m) for m in errors.get(f"{kind}_plugin", ()))))
    return result


def _asset_form(portfolio: Portfolio, asset: Asset | None, form: AssetForm,
                status: int = 200, errors: dict[str, Any] | None = None,
                submitted: bool = False) -> ResponseReturnValue:
    """The asset form: inline on the portfolio page for htmx, alone as a page otherwise."""
    context = {"portfolio": portfolio, "asset": asset, "form": form,
               "choices": _choices(asset, errors, submitted)}
    if is_htmx():
        response = render_partial("partials/_asset_form.html", **context)
        headers = {"HX-Retarget": "#asset-form-slot", "HX-Reswap": "innerHTML"}
        return response, status, headers
    return render_page("portfolios/asset_form_page.html", {}, status=status, **context)


@bp.get("/portfolios/<int:portfolio_id>/assets/new")
def new_asset(portfolio_id: int) -> ResponseReturnValue:
    """The empty asset form with each kind's default plugin and its default config."""
    portfolio = _load_portfolio(portfolio_id, "update")
    return _asset_form(portfolio, None, AssetForm(formdata=None, is_active=True))


def _save_asset(portfolio: Portfolio, asset: Asset | None) -> ResponseReturnValue:
    """Validate and save the asset form; on success show the refreshed assets card."""
    form = AssetForm()
    data: dict[str, Any] = {}
    parse_errors: dict[str, Any] = {}
    for kind in ASSET_KINDS:
        name, config, errors = parse_plugin_choice(kind, request.form)
        data[f"{kind}_plugin"] = name
        data[f"{kind}_config"] = config
        if errors:
            parse_errors[f"{kind}_config"] = errors
    data.update(form.values())
    if not form.validate() or parse_errors:
        # One round: the fields' rules and every plugin's config rules come with the
        # form's own errors (a config value that did not parse keeps its own message).
        rest = add_rule_errors(form, assets.check_asset(data, asset))
        for key, errors in parse_errors.items():
            rule = rest.get(key)
            rest[key] = {**(rule if isinstance(rule, dict) else {}), **errors}
        return _asset_form(portfolio, asset, form, 422, rest, submitted=True)
    try:
        if asset is None:
            saved = assets.create_asset(actor(), portfolio.id, data, ip=client_ip())
        else:
            saved = assets.update_asset(actor(), asset.id, data, ip=client_ip(),
                                        expected_updated_at=expected_version(request.form))
    except NotFound:
        raise  # the 404 page: someone else's asset looks missing
    except ServiceError as exc:
        rest = add_service_errors(form, exc.fields)
        leftover = {k: v for k, v in rest.items()
                    if not k.endswith(("_config", "_plugin"))}
        if leftover or not exc.fields:
            form.form_errors.append(exc.message)
        return _asset_form(portfolio, asset, form, 422, rest, submitted=True)
    flash(f"Asset {saved.symbol} {'added' if asset is None else 'saved'}.", "success")
    return _assets_card(portfolio.id)


def _assets_card(portfolio_id: int) -> ResponseReturnValue:
    """The assets card of the portfolio page (htmx), or the page itself."""
    portfolio = _load_portfolio(portfolio_id)
    if is_htmx():
        return render_partial("partials/_portfolio_assets.html", **detail_context(portfolio))
    return hx_redirect(url_for("portfolios.detail", portfolio_id=portfolio_id))


@bp.post("/portfolios/<int:portfolio_id>/assets")
def create_asset(portfolio_id: int) -> ResponseReturnValue:
    """Add an asset to the portfolio."""
    return _save_asset(_load_portfolio(portfolio_id, "update"), None)


@bp.get("/assets/<int:asset_id>/edit")
def edit_asset(asset_id: int) -> ResponseReturnValue:
    """The asset form filled with the asset's values (broker secrets masked)."""
    asset = _load_asset(asset_id, "update")
    return _asset_form(asset.portfolio, asset, AssetForm(formdata=None, obj=asset))


@bp.post("/assets/<int:asset_id>/edit")
def update_asset(asset_id: int) -> ResponseReturnValue:
    """Save the asset form."""
    asset = _load_asset(asset_id, "update")
    return _save_asset(asset.portfolio, asset)


def _asset_action(asset_id: int, run: Any, done: str) -> ResponseReturnValue:
    """Run one action on an asset (toggle, delete); answer with the assets card."""
    asset = _load_asset(asset_id)
    portfolio_id = asset.portfolio_id
    run()
    flash(done.format(symbol=asset.symbol), "success")
    return _assets_card(portfolio_id)


@bp.post("/assets/<int:asset_id>/delete")
def delete_asset(asset_id: int) -> ResponseReturnValue:
    """Remove an asset without orders (one with orders can only be deactivated)."""
    return _asset_action(asset_id, lambda: assets.delete_asset(actor(), asset_id,
                                                                ip=client_ip()),
                         "Asset {symbol} removed.")


@bp.post("/assets/<int:asset_id>/toggle")
def toggle_asset(asset_id: int) -> ResponseReturnValue:
    """Activate or deactivate an asset (``active=1`` / ``active=0``)."""
    active = request.form.get("active") == "1"
    return _asset_action(asset_id, lambda: assets.update_asset(
        actor(), asset_id, {"is_active": active}, ip=client_ip()),
        "Asset {symbol} " + ("activated." if active else "deactivated."))


@bp.post("/assets/<int:asset_id>/close-and-deactivate")
def close_and_deactivate(asset_id: int) -> ResponseReturnValue:
    """Close the asset's open positions at market, then deactivate it (same service as the API).

    From the portfolio page (``HX-Target: portfolio-assets``) the answer is the assets
    card; from the asset page, a reload of that page.
    """
    asset = _load_asset(asset_id)
    portfolio_id = asset.portfolio_id
    result = assets.close_and_deactivate(actor(), asset_id, ip=client_ip())
    refused = [c for c in result.closes if c.rejected_by]
    if result.flat:
        flash(f"{asset.symbol}: position(s) closed and asset deactivated.", "success")
    else:
        why = "; ".join(c.message for c in refused if c.message)
        flash(f"{asset.symbol} deactivated but still holds {result.still_open} open "
              f"position(s): reduce-only until flat{': ' + why if why else '.'}", "warning")
    if hx_target() == "portfolio-assets":
        return _assets_card(portfolio_id)
    return hx_redirect(url_for("portfolios.asset_detail", asset_id=asset_id))


@bp.post("/assets/<int:asset_id>/resume")
def resume_asset(asset_id: int) -> ResponseReturnValue:
    """Lift the pause set when the broker refused the credentials (same service as the API)."""
    asset = _load_asset(asset_id)
    # A refusal (not found, not allowed) is answered by the app-wide ServiceError handler.
    assets.resume_asset(actor(), asset_id, ip=client_ip())
    flash(f"{asset.symbol} resumed: the next tick calls its broker again.", "success")
    return hx_redirect(url_for("portfolios.asset_detail", asset_id=asset_id))


# ------------------------------------------------------------------- asset page

ASSET_PARTIALS = {
    "asset-orders": "partials/_asset_orders.html",
    "asset-positions": "partials/_asset_positions.html",
    "asset-debug": "partials/_asset_debug.html",
    "asset-chart": "partials/_asset_chart.html",
    "manual-order": "partials/_manual_order.html",
    "asset-broker": "partials/_asset_broker.html",  # oanda (issue 13)
}


def _asset_context(asset: Asset, form: ManualOrderForm | None = None,
                   chart: bool = True, broker: bool = False) -> dict[str, Any]:
    """Everything the asset page and its partials show."""
    who = actor()
    now = system_clock()
    timeframe = parse_timeframe(request.args.get("timeframe"))
    return {
        "asset": asset,
        "portfolio": asset.portfolio,
        # A paused asset's data source is not asked either (it may share the token).
        "chart": dashboard_queries.asset_chart(asset, now, timeframe=timeframe)
        if chart and not asset.paused_reason else None,
        "timeframe": timeframe,
        # The chart's poll keeps the chosen timeframe.
        "chart_url": url_for("portfolios.asset_detail", asset_id=asset.id,
                             timeframe=timeframe or None),
        "debug": dashboard_queries.asset_debug(asset),
        "orders": orders.list_orders(who, asset_id=asset.id, per_page=20).items,
        "positions": positions.list_positions(who, asset_id=asset.id, per_page=20).items,
        "order_form": form or ManualOrderForm(formdata=None),
        "broker_config": assets.public_broker_config(asset),
        "open_positions": assets.open_position_counts([asset.id]).get(asset.id, 0),
        "now": now,
        "poll_url": url_for("portfolios.asset_detail", asset_id=asset.id),
        # The broker's account (oanda): asked only when its card is drawn or polled.
        "broker_view": broker_view(asset) if broker else None,
    }


@bp.get("/assets/<int:asset_id>")
def asset_detail(asset_id: int) -> ResponseReturnValue:
    """An asset: candles with trades and SL/TP, orders, positions, manual order, debug."""
    asset = _load_asset(asset_id)
    wants_chart = request.headers.get("HX-Target") in (None, "asset-chart")
    wants_broker = request.headers.get("HX-Target") in (None, "asset-broker")
    return render_page("portfolios/asset.html", ASSET_PARTIALS,
                       **_asset_context(asset, chart=wants_chart, broker=wants_broker))


@bp.post("/assets/<int:asset_id>/orders")
def manual_order(asset_id: int) -> ResponseReturnValue:
    """Place a manual order through the same service as the API."""
    asset = _load_asset(asset_id)
    form = ManualOrderForm()
    status = 200
    refusal = None
    if not form.validate():
        # The service's rules too, in the same round (a missing limit price is reported
        # with the bad quantity, not after it is fixed).
        add_rule_errors(form, orders.order_errors(asset, **form.values()))
        status = 422
    else:
        try:
            result = orders.place_manual_order(actor(), asset_id, ip=client_ip(),
                                               **form.values())
        except NotFound:
            raise  # the 404 page
        except ServiceError as exc:
            rest = add_service_errors(form, exc.fields)
            if rest or not exc.fields:
                form.form_errors.append(exc.message)
            status = 422
        else:
            if result.rejected_by:
                # Shown beside the form (kept filled in); the refused order's row, if
                # one was stored, appears in the orders table.
                refusal = result
                status = 422
            else:
                flash(result.summary(), "success")
                form = ManualOrderForm(formdata=None)
    context = {**_asset_context(asset, form, chart=False), "refusal": refusal}
    if is_htmx():
        response = render_partial("partials/_manual_order.html", **context)
        stored = status == 200 or (refusal is not None and refusal.order is not None)
        return with_trigger(response, status) if stored else (response, status)
    return render_page("portfolios/asset.html", {}, status=status,
                       **{**context, "chart": dashboard_queries.asset_chart(asset,
                                                                            context["now"])})
