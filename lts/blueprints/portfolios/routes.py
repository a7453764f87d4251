"""Portfolio views: list, create/edit in a modal, actions, detail page, plugin config fields.

Views parse (a Flask-WTF form plus the generated plugin inputs), call
:mod:`lts.services.portfolios` and friends, and render a page or, for htmx, the
partial it targets. Validation errors come back as 422 with the form re-rendered,
each message under its field. Any other broken rule raises and the app-wide handler
answers it (:mod:`lts.web.errors`: a toast for htmx, flash and back for a form post).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from lts.blueprints.portfolios import bp
from lts.blueprints.portfolios.forms import (
    PortfolioForm,
    add_rule_errors,
    add_service_errors,
    expected_version,
)
from lts.errors import NotFound, ServiceError
from lts.models import Portfolio, statistic_keys
from lts.plugins.base import PLUGIN_KINDS
from lts.runtime_config import effective_setting
from lts.security.authz import client_ip
from lts.services import (
    assets,
    dashboard_queries,
    loop_control,
    portfolios,
    risk_controls,
    statistics,
)
from lts.services.access import is_admin
from lts.services.overview import PortfolioFigures, portfolio_figures
from lts.services.plugin_forms import (
    parse_plugin_choice,
    plugin_choice,
    raw_values,
)
from lts.trading.clock import system_clock
from lts.web.htmx import hx_redirect, hx_target, render_page, render_partial
from lts.web.request import actor, is_htmx, submitted_reason, with_trigger

FORM_KINDS = ("pipeline", "strategy", "broker", "portfolio")


# ------------------------------------------------------------------------- list


def _list_context() -> dict[str, Any]:
    """Portfolios with their money figures and owners (admins see everyone's)."""
    items = portfolios.list_portfolios(actor(), per_page=200).items
    return {"items": items, "figures": portfolio_figures([p.id for p in items]),
            "owners": dashboard_queries.portfolio_owner_names(items)
            if is_admin(actor()) else {},
            "show_owner": is_admin(actor())}


@bp.get("/portfolios")
def index() -> ResponseReturnValue:
    """Every portfolio of the viewer with equity, P&L, state and actions."""
    context = _list_context()
    return render_page("portfolios/index.html",
                       {"portfolio-list": "partials/_portfolio_list.html"},
                       open_new=request.args.get("new") == "1", **context)


# ------------------------------------------------------------------ create, edit


def _form_context(form: PortfolioForm, portfolio: Portfolio | None,
                  config_errors: dict[str, Any] | None = None,
                  plugin_errors: tuple[str, ...] = (), raw: bool = False) -> dict[str, Any]:
    """Context of the portfolio form partial (plugin select with generated fields)."""
    submitted = request.form if raw else None
    selected = (submitted.get("portfolio_plugin") if submitted is not None
                else portfolio.portfolio_plugin if portfolio is not None else None)
    values = portfolios.public_portfolio_config(portfolio) if portfolio is not None else None
    choice = plugin_choice(
        "portfolio", selected, values=values, errors=config_errors,
        raw=raw_values("portfolio_config", submitted) if submitted is not None else None,
        plugin_errors=plugin_errors,
        secrets=assets.config_secret_names("portfolio", selected or "", values or {}))
    return {"form": form, "portfolio": portfolio, "choice": choice}


def _form_response(form: PortfolioForm, portfolio: Portfolio | None,
                   status: int = 200, **errors: Any) -> ResponseReturnValue:
    """The form in the modal for htmx, or alone on a page for a direct link."""
    context = _form_context(form, portfolio, **errors)
    return render_page("portfolios/form_page.html",
                       {"portfolio-modal-content": "partials/_portfolio_form.html"},
                       status=status, **context)


@bp.get("/portfolios/new")
def new() -> ResponseReturnValue:
    """The empty create form (loaded into the modal, or as a page)."""
    form = PortfolioForm(formdata=None, portfolio_latency=int(
        effective_setting("default_portfolio_latency")), is_active=True)
    form.offer_owners(portfolios.owner_choices(actor()), actor().id)
    return _form_response(form, None)


def _save(portfolio: Portfolio | None) -> ResponseReturnValue:
    """Validate and save the submitted form; 422 with inline errors when it fails."""
    form = PortfolioForm()
    # Admins choose the owner of a new portfolio; an existing one keeps its owner.
    form.offer_owners(portfolios.owner_choices(actor()) if portfolio is None else None,
                      actor().id)
    name, config, parse_errors = parse_plugin_choice("portfolio", request.form)
    data = {**form.values(), "portfolio_plugin": name, "portfolio_config": config}
    if not form.validate() or parse_errors:
        # One round: the service's rules (plugin config included) are asked too, so
        # every problem shows now, not after the first ones are fixed.
        rest = add_rule_errors(form, portfolios.check_portfolio(data, portfolio))
        config_errors = {**(rest.pop("portfolio_config", None) or {}), **parse_errors}
        plugin_errors = tuple(str(m) for m in rest.pop("portfolio_plugin", ()))
        return _form_response(form, portfolio, 422, config_errors=config_errors,
                              plugin_errors=plugin_errors, raw=True)
    try:
        if portfolio is None:
            saved = portfolios.create_portfolio(actor(), data, owner_id=form.owner(),
                                                ip=client_ip())
        else:
            saved = portfolios.update_portfolio(actor(), portfolio.id, data, ip=client_ip(),
                                                expected_updated_at=expected_version(
                                                    request.form))
    except NotFound:
        raise  # the 404 page: someone else's portfolio looks missing
    except ServiceError as exc:
        rest = add_service_errors(form, exc.fields)
        config_errors = rest.pop("portfolio_config", None) or {}
        plugin_errors = tuple(str(m) for m in rest.pop("portfolio_plugin", ()))
        if rest or not exc.fields:
            form.form_errors.append(exc.message)
        return _form_response(form, portfolio, 422, config_errors=config_errors,
                              plugin_errors=plugin_errors, raw=True)
    flash(f"Portfolio {saved.name} {'created' if portfolio is None else 'saved'}.", "success")
    if portfolio is None:
        return hx_redirect(url_for("portfolios.detail", portfolio_id=saved.id))
    return hx_redirect(request.form.get("next_url") or url_for("portfolios.detail",
                                                                portfolio_id=saved.id))


@bp.post("/portfolios")
def create() -> ResponseReturnValue:
    """Create a portfolio from the modal form, then open its page."""
    return _save(None)


@bp.get("/portfolios/<int:portfolio_id>/edit")
def edit(portfolio_id: int) -> ResponseReturnValue:
    """The edit form of a portfolio, filled with its values."""
    portfolio = portfolios.get_portfolio(actor(), portfolio_id, "update")
    form = PortfolioForm(formdata=None, obj=portfolio)
    form.offer_owners(None, actor().id)
    return _form_response(form, portfolio)


@bp.post("/portfolios/<int:portfolio_id>/edit")
def update(portfolio_id: int) -> ResponseReturnValue:
    """Save the edit form."""
    portfolio = portfolios.get_portfolio(actor(), portfolio_id, "update")
    return _save(portfolio)


@bp.get("/plugin-fields")
def plugin_fields() -> ResponseReturnValue:
    """The generated config inputs of the plugin chosen in a form's plugin select.

    ``?kind=strategy&strategy_plugin=sma_cross``: the select sends its own value.
    """
    kind = request.args.get("kind", "")
    if kind not in PLUGIN_KINDS or kind not in FORM_KINDS:
        abort(404)
    name = request.args.get(f"{kind}_plugin")
    choice = plugin_choice(kind, name, secrets=assets.config_secret_names(kind, name or ""))
    return render_partial("partials/_plugin_fields.html", choice=choice)


# ---------------------------------------------------------------------- actions


def _after_action(portfolio_id: int) -> ResponseReturnValue:
    """Answer an action: the row or header htmx targets, else back to where it came from.

    ``HX-Trigger: lts-orders-changed`` makes the page's polled sections refresh at once.
    """
    response = _action_answer(portfolio_id)
    if is_htmx() and isinstance(response, str):
        return with_trigger(response)
    return response


def _action_answer(portfolio_id: int) -> ResponseReturnValue:
    """The body answering a portfolio action (see :func:`_after_action`)."""
    target = hx_target()
    if target == f"portfolio-row-{portfolio_id}":
        context = _list_context()
        portfolio = portfolios.get_portfolio(actor(), portfolio_id)
        return render_partial("partials/_portfolio_row.html", p=portfolio,
                              fig=context["figures"].get(portfolio_id, PortfolioFigures(
                                  portfolio.total_capital, 0.0, 0.0)),
                              owners=context["owners"], show_owner=context["show_owner"])
    if target == "portfolio-header":
        portfolio = portfolios.get_portfolio(actor(), portfolio_id)
        return render_partial("partials/_portfolio_header.html", **detail_context(portfolio))
    if is_htmx():
        return hx_redirect(request.headers.get("HX-Current-URL")
                           or url_for("portfolios.detail", portfolio_id=portfolio_id))
    return redirect(url_for("portfolios.detail", portfolio_id=portfolio_id))


def _action(portfolio_id: int, run: Any, done: str) -> ResponseReturnValue:
    """Run one portfolio action from a button; outcome as a toast (a refusal: the handler's)."""
    run()
    if done:
        flash(done, "success")
    return _after_action(portfolio_id)


@bp.post("/portfolios/<int:portfolio_id>/activate")
def activate(portfolio_id: int) -> ResponseReturnValue:
    """Let the loop run the portfolio again."""
    return _action(portfolio_id, lambda: portfolios.update_portfolio(
        actor(), portfolio_id, {"is_active": True}, ip=client_ip()), "Portfolio activated.")


@bp.post("/portfolios/<int:portfolio_id>/deactivate")
def deactivate(portfolio_id: int) -> ResponseReturnValue:
    """Stop running the portfolio (its positions stay as they are)."""
    return _action(portfolio_id, lambda: portfolios.update_portfolio(
        actor(), portfolio_id, {"is_active": False}, ip=client_ip()),
        "Portfolio deactivated: the loop skips it.")


@bp.post("/portfolios/<int:portfolio_id>/kill-switch")
def kill_switch(portfolio_id: int) -> ResponseReturnValue:
    """Halt the portfolio (``on=1``) or let it trade again (``on=0``)."""
    on = request.form.get("on") == "1"
    return _action(portfolio_id, lambda: portfolios.set_kill_switch(
        actor(), portfolio_id, on, ip=client_ip()),
        "Kill switch on: no order is sent for this portfolio." if on
        else "Kill switch off: the portfolio trades again.")


RISK_STATE_DONE = {
    "active": "The portfolio trades again.",
    "reducing": "Reducing: only closing orders and cancels are sent for this portfolio.",
    "halted": "Halted: no order is sent for this portfolio; marks and protective fills "
              "go on.",
}


@bp.post("/portfolios/<int:portfolio_id>/risk-state")
def risk_state(portfolio_id: int) -> ResponseReturnValue:
    """Set the portfolio's risk state (``state``) with an optional ``reason``."""
    state = request.form.get("state", "")
    return _action(portfolio_id, lambda: risk_controls.set_portfolio_risk_state(
        actor(), portfolio_id, state, submitted_reason(), ip=client_ip()),
        RISK_STATE_DONE.get(state, ""))


@bp.post("/portfolios/<int:portfolio_id>/run")
def run_now(portfolio_id: int) -> ResponseReturnValue:
    """Make the portfolio due and run a tick now (its owner or an admin)."""

    def run() -> None:
        report = loop_control.run_portfolio_now(actor(), portfolio_id, ip=client_ip())
        ran = portfolio_id in report["portfolios_run"]
        flash(f"Tick done in {report['duration_seconds']:.2f} s: "
              f"{report['assets_run']} asset(s) run, {report['errors']} error(s)"
              + ("." if ran else f"; this portfolio did not run"
                 f"{': ' + report['skipped_reason'] if report['skipped_reason'] else ''}."),
              "info" if ran and not report["errors"] else "warning")

    return _action(portfolio_id, run, "")


@bp.post("/portfolios/<int:portfolio_id>/delete")
def delete(portfolio_id: int) -> ResponseReturnValue:
    """Delete a portfolio without trading history."""
    portfolios.delete_portfolio(actor(), portfolio_id, ip=client_ip())
    flash("Portfolio deleted.", "success")
    return hx_redirect(url_for("portfolios.index"))


# ----------------------------------------------------------------------- detail

DETAIL_PARTIALS = {
    "portfolio-header": "partials/_portfolio_header.html",
    "portfolio-assets": "partials/_portfolio_assets.html",
    "portfolio-orders": "partials/_portfolio_orders.html",
    "portfolio-positions": "partials/_portfolio_positions.html",
    "portfolio-charts": "partials/_portfolio_charts.html",
}


def detail_context(portfolio: Portfolio) -> dict[str, Any]:
    """Everything the portfolio page and its partials show."""
    from lts.services import orders, positions

    who = actor()
    series = statistics.portfolio_series(who, portfolio.id, statistic_keys.EQUITY)
    changes = statistics.portfolio_series(who, portfolio.id, statistic_keys.CAPITAL_CHANGE)
    return {
        "portfolio": portfolio,
        "fig": portfolio_figures([portfolio.id]).get(
            portfolio.id, PortfolioFigures(portfolio.total_capital, 0.0, 0.0)),
        "assets": list(portfolio.assets),
        "open_positions": assets.open_position_counts(a.id for a in portfolio.assets),
        "allocation": dashboard_queries.allocation(portfolio),
        "equity": [{"t": ts.isoformat(), "v": round(v, 2)} for ts, v in series.points],
        # Deposits (+) and withdrawals (-): marked on the equity chart as such.
        "capital_changes": [{"t": ts.isoformat(), "v": round(v, 2)}
                            for ts, v in changes.points],
        "orders": orders.list_orders(who, portfolio_id=portfolio.id, per_page=20).items,
        "positions": positions.list_positions(who, portfolio_id=portfolio.id, status="open",
                                              per_page=50).items,
        "is_admin": is_admin(who),
        "risk_change": risk_controls.last_changes([portfolio.id]).get(portfolio.id),
        "global_risk_state": risk_controls.get_global_risk_state(),
        "now": system_clock(),
        "poll_url": url_for("portfolios.detail", portfolio_id=portfolio.id),
    }


@bp.get("/portfolios/<int:portfolio_id>")
def detail(portfolio_id: int) -> ResponseReturnValue:
    """A portfolio: assets (editable inline), allocation, equity curve, orders, positions."""
    portfolio = portfolios.get_portfolio(actor(), portfolio_id)
    return render_page("portfolios/detail.html", DETAIL_PARTIALS, **detail_context(portfolio))

