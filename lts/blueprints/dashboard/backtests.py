"""The Backtests pages: start one, follow its progress, read its report, compare two.

Thin views over :mod:`lts.services.backtests` (the API calls the same functions). The
list and a running run's page refresh themselves over htmx while a run is queued or
running (the ``_poll`` pattern): each answers its own partial when ``HX-Target`` names
it, so page and refresh render the same template code.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, InputRequired

from lts.blueprints.dashboard import bp
from lts.errors import ServiceError
from lts.security.authz import client_ip
from lts.services import backtests, portfolios
from lts.web.forms import LtsForm
from lts.web.htmx import hx_redirect, render_page
from lts.web.request import actor

RUNS_PER_PAGE = 25
#: The service names the range ``from``/``to``; the form's fields are these.
FORM_FIELD = {"from": "date_from", "to": "date_to", "portfolio_id": "portfolio_id"}
RUNS_PARTIALS = {"backtest-runs": "backtests/_runs.html"}
RUN_PARTIALS = {"backtest-run": "backtests/_run.html"}


class BacktestForm(LtsForm):
    """Which portfolio, over which days (UTC; ``to`` is exclusive)."""

    portfolio_id = SelectField("Portfolio", coerce=int, validators=[InputRequired()])
    date_from = DateField("From (UTC)", validators=[DataRequired()],
                          description="The first day replayed.")
    date_to = DateField("To (UTC, exclusive)", validators=[DataRequired()],
                        description="The day after the last one replayed; not in the future.")


def _form() -> BacktestForm:
    """The start form, offering the viewer's portfolios."""
    form = BacktestForm()
    form.portfolio_id.choices = [
        (p.id, p.name) for p in portfolios.list_portfolios(actor(), per_page=200).items]
    return form


def _index(form: BacktestForm, status: int = 200) -> ResponseReturnValue:
    """The page: the form and the viewer's runs (the list alone for its htmx poll)."""
    page = backtests.list_runs(actor(), page=request.args.get("page", 1, type=int),
                               per_page=RUNS_PER_PAGE)
    finished = [run for run in page.items if run.status == "done"]
    return render_page("backtests/index.html", RUNS_PARTIALS, status, form=form, page=page,
                       finished=finished, polling=any(run.is_active for run in page.items),
                       headlines={run.id: backtests.headline(run) for run in page.items})


@bp.get("/backtests", endpoint="backtests")
def backtests_page() -> ResponseReturnValue:
    """Start a backtest; every run with its status and progress."""
    return _index(_form())


@bp.post("/backtests", endpoint="backtest_start")
def start_backtest() -> ResponseReturnValue:
    """Check the form, start the run (the service checks the rest), go to its page."""
    form = _form()
    if not form.validate_on_submit():
        return _index(form, 422)
    try:
        run = backtests.start(actor(), form.portfolio_id.data, form.date_from.data.isoformat(),
                              form.date_to.data.isoformat(), ip=client_ip())
    except ServiceError as exc:
        _add_errors(form, exc)
        return _index(form, exc.status)
    return hx_redirect(url_for("dashboard.backtest", run_id=run.id))


def _add_errors(form: BacktestForm, exc: ServiceError) -> None:
    """The service's field errors under the form's fields, the rest above the form."""
    for name, messages in exc.fields.items():
        field: Any = getattr(form, FORM_FIELD.get(name, ""), None)
        if field is None:
            form.form_errors.append(f"{name}: {'; '.join(map(str, messages))}")
        else:
            field.errors = [*field.errors, *map(str, messages)]
    if not exc.fields:
        form.form_errors.append(exc.message)


@bp.get("/backtests/<int:run_id>", endpoint="backtest")
def backtest_page(run_id: int) -> ResponseReturnValue:
    """One run: its progress while it runs, then its report (metrics, charts, trades)."""
    run = backtests.get_run(actor(), run_id, ip=client_ip())
    report = backtests.report(run) if run.status == "done" else None
    return render_page("backtests/run.html", RUN_PARTIALS, run=run, report=report)


@bp.get("/backtests/compare", endpoint="backtest_compare")
def compare_page() -> ResponseReturnValue:
    """Two finished runs side by side (``?first=&second=``)."""
    comparison = backtests.compare(actor(), request.args.get("first", type=int),
                                   request.args.get("second", type=int), ip=client_ip())
    return render_page("backtests/compare.html", {}, comparison=comparison)
