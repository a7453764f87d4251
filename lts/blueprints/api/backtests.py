"""``/api/v1/backtests``: start a backtest of a portfolio, list runs, read one.

A run is replayed in the background: ``POST`` answers ``202 Accepted`` with the run
(``queued``) and its ``Location``; poll ``GET /backtests/<id>`` until ``status`` is
``done`` (metrics, curve, trades) or ``failed`` (``error``).
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import RAISE

from lts.blueprints.api import bp, page_body
from lts.schemas.backtests import (
    BacktestCreateSchema,
    BacktestDetailSchema,
    BacktestPageSchema,
    BacktestQuerySchema,
    BacktestSchema,
)
from lts.schemas.common import ErrorSchema
from lts.security.authz import client_ip
from lts.services import backtests
from lts.web.request import actor

TAGS = ["backtests"]


@bp.post("/backtests")
@bp.arguments(BacktestCreateSchema)
@bp.response(202, BacktestSchema, description="Queued; poll the Location until done.",
             headers={"Location": {"description": "The run's URL",
                                   "schema": {"type": "string"}}})
@bp.alt_response(409, schema=ErrorSchema,
                 description="Too many of your backtests are queued or running.")
@bp.alt_response(422, schema=ErrorSchema,
                 description="A field is wrong: portfolio_id (not yours, no active asset, "
                             "no history), from or to (empty range, in the future).")
@bp.doc(operationId="createBacktest", tags=TAGS)
def create_backtest(data: dict[str, Any]) -> Any:
    """Backtest one of your portfolios over ``[from, to)`` on its assets' history."""
    run = backtests.start(actor(), data["portfolio_id"], data["date_from"], data["date_to"],
                          ip=client_ip())
    return run, 202, {"Location": url_for("api.get_backtest", run_id=run.id)}


@bp.get("/backtests")
@bp.arguments(BacktestQuerySchema, location="query", unknown=RAISE)
@bp.response(200, BacktestPageSchema)
@bp.alt_response(422, schema=ErrorSchema, description="A filter is wrong.")
@bp.doc(operationId="listBacktests", tags=TAGS)
def list_backtests(args: dict[str, Any]) -> Any:
    """Your backtests, newest first (admins: everyone's)."""
    page = backtests.list_runs(actor(), portfolio_id=args["portfolio_id"],
                               status=args["status"], page=args["page"],
                               per_page=args["per_page"])
    return page_body(page, args)


@bp.get("/backtests/<int:run_id>")
@bp.response(200, BacktestDetailSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No such backtest of yours.")
@bp.doc(operationId="getBacktest", tags=TAGS)
def get_backtest(run_id: int) -> Any:
    """One backtest: its progress, and once done its metrics, equity curve and trades."""
    return backtests.get_run(actor(), run_id, ip=client_ip())
