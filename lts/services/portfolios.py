"""Portfolios: list, read, create, update, delete and the per-portfolio kill switch.

Every function takes the acting user; non-admins see and change only their own
portfolios (the aaa plugin decides), someone else's is NotFound. Writes validate
everything first (plugin names and configs through the registry), so nothing is
half-written; each write is audited in the same transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    type_coerce,
)

from lts.errors import Conflict, Forbidden, ValidationFailed
from lts.extensions import db
from lts.limits import total_capital_problem
from lts.models import Asset, Order, Portfolio, Position, Statistic, User
from lts.models.statistic_keys import EQUITY, portfolio_key
from lts.models.types import utcnow
from lts.services.access import (
    check_id_filter,
    check_version,
    commit_recorded,
    edited_values,
    is_admin,
    list_scope,
    load_owned,
    owner_filter,
    record,
    refuse_invalid_or_taken,
    refuse_unknown_fields,
    scoped,
)
from lts.services.listing import check_sort, ordered
from lts.services.pagination import Page, PageQuery, page_query, run_page
from lts.services.plugin_validation import (
    check_plugin,
    config_to_validate,
    registry,
    same_config,
    stored_config,
)
from lts.services.risk_controls import apply_portfolio_state
from lts.trading import statistics as trading_statistics
from lts.trading.plugin_source import public_config

EDITABLE = ("name", "description", "is_active", "portfolio_plugin", "portfolio_config",
            "total_capital", "portfolio_latency", "max_drawdown_pct", "currency")
# An ISO 4217 code: money is shown in it; nothing is converted.
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


PORTFOLIO_SORTS = {"id": Portfolio.id, "name": Portfolio.name,
                   "created_at": Portfolio.created_at, "updated_at": Portfolio.updated_at,
                   "total_capital": Portfolio.total_capital}


def list_portfolios(actor: User, *, user_id: int | None = None, is_active: bool | None = None,
                    page: int | None = 1, per_page: int | None = None, rows: bool = False,
                    sort: str = "id", direction: str = "asc", money: bool = False
                    ) -> Page[Any]:
    """The portfolios the aaa plugin lets the actor see (or ``user_id``'s), ordered by id.

    ``user_id`` of someone whose portfolios the actor may not see is Forbidden.
    ``rows=True``: items are column mappings, not ORM objects (the JSON API's lists).
    ``sort``/``direction``: one of PORTFOLIO_SORTS, the id breaking ties.
    ``money`` (with ``rows``): each row carries its equity and P&L (:data:`MONEY_FIELDS`),
    read by the page's own statement.
    """
    check_id_filter("user_id", user_id)
    check_sort(PORTFOLIO_SORTS, sort, direction)
    scope = list_scope(actor, "portfolio")
    params: dict[str, Any] = scope.params()
    if user_id is not None:
        if not scope.everything and user_id not in (scope.owners or ()):
            raise Forbidden("only administrators may list another user's portfolios")
        params["user_id"] = user_id
    if is_active is not None:
        params["is_active"] = is_active
    filters = tuple(name for name in ("user_id", "is_active") if name in params)
    return run_page(_portfolio_list(filters, scope.shape, rows, sort, direction,
                                    money and rows), params, page, per_page)


@functools.lru_cache(maxsize=64)
def _portfolio_list(filters: tuple[str, ...], scope_shape: str, rows: bool,
                    sort: str = "id", direction: str = "asc", money: bool = False
                    ) -> PageQuery:
    """The statements of one shape of portfolio list: which filters are bound, by name.

    Built once per shape (values are bind parameters, see
    :class:`lts.services.pagination.PageQuery`). ``money``: the rows carry
    :func:`money_columns` too.
    """
    statement = select(Portfolio)
    visible = owner_filter("portfolio", scope_shape)
    if visible is not None:
        statement = statement.where(visible)
    if "user_id" in filters:
        statement = statement.where(Portfolio.user_id == bindparam("user_id"))
    if "is_active" in filters:
        statement = statement.where(Portfolio.is_active == bindparam("is_active"))
    return page_query(ordered(statement, PORTFOLIO_SORTS, sort, direction, Portfolio.id),
                      rows=rows, extra=money_columns() if money else ())


MONEY_FIELDS = ("equity", "realized_pnl", "unrealized_pnl")


def money_columns() -> tuple[Any, ...]:
    """A portfolio's equity and P&L as three columns correlated to ``portfolios.id``.

    ``realized_pnl`` sums its positions' realized P&L, ``unrealized_pnl`` its open
    positions' (both as the engine last marked them, 0.0 without positions);
    ``equity`` is the newest stored ``portfolio.<id>.equity`` statistic (found by the
    ``(key, timestamp)`` index), NULL before the first tick wrote one. The one
    definition of these values: the list's page statement carries them (no second
    query, no id list to expand), and :func:`portfolio_money` reads them by id.
    """
    positions, assets, statistics = (Position.__table__, Asset.__table__,
                                     Statistic.__table__)
    portfolio_id = Portfolio.__table__.c.id
    of_portfolio = (positions.join(assets, positions.c.asset_id == assets.c.id))
    realized = (select(func.coalesce(func.sum(positions.c.realized_pnl), 0.0))
                .select_from(of_portfolio).where(assets.c.portfolio_id == portfolio_id)
                .scalar_subquery())
    unrealized = (select(func.coalesce(func.sum(case(
        (positions.c.status == "open", positions.c.unrealized_pnl), else_=0.0)), 0.0))
                  .select_from(of_portfolio).where(assets.c.portfolio_id == portfolio_id)
                  .scalar_subquery())
    # The key names come from the one module that writes them: "portfolio." id ".equity".
    head, _, tail = str(portfolio_key(1, EQUITY)).partition(".1.")
    key = literal(f"{head}.") + cast(portfolio_id, String) + literal(f".{tail}")
    equity = (select(statistics.c.value).where(statistics.c.key == key)
              .order_by(statistics.c.timestamp.desc(), statistics.c.id.desc()).limit(1)
              .scalar_subquery())
    return (type_coerce(equity, Float).label("equity"),
            type_coerce(realized, Float).label("realized_pnl"),
            type_coerce(unrealized, Float).label("unrealized_pnl"))


def portfolio_money(portfolio_ids: list[int]) -> dict[int, dict[str, float | None]]:
    """Equity and P&L per portfolio (:func:`money_columns`): what a portfolio GET shows.

    One statement for any number of portfolios, built once (:func:`_money_statement`).
    """
    if not portfolio_ids:
        return {}
    return {pid: {"equity": None if equity is None else float(equity),
                  "realized_pnl": float(realized or 0.0),
                  "unrealized_pnl": float(unrealized or 0.0)}
            for pid, equity, realized, unrealized in db.session.connection().execute(
                _money_statement(), {"ids": portfolio_ids})}


@functools.cache
def _money_statement() -> Any:
    """:func:`portfolio_money`'s statement (an expanding ``ids`` list)."""
    portfolio_id = Portfolio.__table__.c.id
    return (select(portfolio_id, *money_columns())
            .where(portfolio_id.in_(bindparam("ids", expanding=True))))


def get_portfolio(actor: User, portfolio_id: int, action: str = "read", *,
                  ip: str | None = None) -> Portfolio:
    """One portfolio the actor may ``action``; NotFound otherwise."""
    return load_owned(Portfolio, portfolio_id, actor, action, ip=ip)


def field_errors(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every broken rule of ``values``, by field (plugin config errors included).

    The one place the portfolio rules live: the service raises with them, and the
    page form asks for them even when some of its own fields failed to parse, so a
    user sees every problem in one round.
    """
    errors: dict[str, Any] = {}
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["must not be empty"]
    elif len(name) > 100:
        errors["name"] = ["at most 100 characters"]
    if not isinstance(values.get("description", ""), str):
        errors["description"] = ["must be text"]
    capital_problem = total_capital_problem(values.get("total_capital"))
    if capital_problem:
        errors["total_capital"] = [capital_problem]
    latency = values.get("portfolio_latency")
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 1:
        errors["portfolio_latency"] = ["must be greater than 0 (whole minutes)"]
    drawdown = values.get("max_drawdown_pct")
    if drawdown is not None and (isinstance(drawdown, bool)
                                 or not isinstance(drawdown, int | float)
                                 or not 0 < drawdown <= 100):
        errors["max_drawdown_pct"] = ["must be > 0 and <= 100, or empty"]
    if not isinstance(values.get("is_active", True), bool):
        errors["is_active"] = ["must be true or false"]
    currency = values.get("currency", "USD")
    if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency):
        errors["currency"] = ["must be a three-letter currency code, e.g. USD or EUR"]
    check_plugin("portfolio", values.get("portfolio_plugin"), values.get("portfolio_config"),
                 errors)
    return errors


def check_portfolio(data: Mapping[str, Any], portfolio: Portfolio | None) -> dict[str, Any]:
    """The rule errors ``data`` would meet on create (``portfolio`` None) or update.

    Nothing is written. Masked secrets are restored from ``portfolio`` as an update
    would, so an unchanged secret is not reported. Used by the page form to report
    every problem at once, its own parse errors and these together.
    """
    values = {"description": "", "is_active": True, "portfolio_config": {},
              "portfolio_plugin": registry().default("portfolio"), "max_drawdown_pct": None,
              **(_editable_values(portfolio) if portfolio is not None else {}), **data}
    plugin = values.get("portfolio_plugin")
    stored = (portfolio.portfolio_config if portfolio is not None
              and plugin == portfolio.portfolio_plugin else {})
    try:
        values["portfolio_config"] = config_to_validate(
            "portfolio", plugin, values.get("portfolio_config"), stored)
    except ValidationFailed as exc:
        return dict(exc.fields)
    return field_errors(values)


def _editable_values(portfolio: Portfolio) -> dict[str, Any]:
    """The stored values of the editable fields (the base an update starts from)."""
    return {key: getattr(portfolio, key) for key in EDITABLE}


def _validate(values: Mapping[str, Any], owner_id: int, current_id: int | None) -> None:
    """Raise ValidationFailed/Conflict naming every offending field of ``values``."""
    name = str(values.get("name")).strip()
    refuse_invalid_or_taken(field_errors(values), "portfolio", Portfolio, current_id,
                            Conflict(f"a portfolio named {name!r} already exists",
                                     {"name": ["already used by another of your portfolios"]}),
                            user_id=owner_id, name=name)


def _commit(actor: User, action: str, portfolio: Portfolio, details: Mapping[str, Any],
            ip: str | None) -> None:
    """Commit with its audit row; a race on the unique name is a Conflict."""
    commit_recorded(actor, action, "portfolio", portfolio, details, ip=ip,
                    clash=Conflict("the portfolio clashes with another one (same name?)",
                                   {"name": ["already used"]}))


def owner_choices(actor: User) -> list[tuple[int, str]] | None:
    """Who an admin may create a portfolio for (active users, by name); None for others."""
    if not is_admin(actor):
        return None
    users = db.session.execute(select(User.id, User.username)
                               .where(User.is_active.is_(True))
                               .order_by(func.lower(User.username))).all()
    return [(int(user_id), str(name)) for user_id, name in users]


def create_portfolio(actor: User, data: Mapping[str, Any], *, owner_id: int | None = None,
                     ip: str | None = None) -> Portfolio:
    """Create a portfolio for the actor (admins: for ``owner_id``) from ``data``.

    ``data`` holds the EDITABLE fields; ``name`` and ``total_capital`` are required.
    """
    refuse_unknown_fields(data, EDITABLE)
    if owner_id is not None and owner_id != actor.id:
        if not is_admin(actor):
            raise Forbidden("only administrators may create portfolios for other users")
        if db.session.get(User, owner_id) is None:
            raise ValidationFailed("unknown owner", {"user_id": ["no such user"]})
    owner = owner_id if owner_id is not None else actor.id
    from lts.runtime_config import effective_setting

    values: dict[str, Any] = {
        "description": "", "is_active": True,
        "portfolio_plugin": registry().default("portfolio"), "portfolio_config": {},
        "portfolio_latency": int(effective_setting("default_portfolio_latency")),
        "max_drawdown_pct": None,
    }
    values.update(data)
    values["portfolio_config"] = config_to_validate(
        "portfolio", values.get("portfolio_plugin"), values.get("portfolio_config"), {})
    _validate(values, owner, None)
    values["name"] = values["name"].strip()
    values["portfolio_config"] = stored_config("portfolio", values["portfolio_plugin"],
                                               values.get("portfolio_config"))
    portfolio = Portfolio(user_id=owner, **values)
    db.session.add(portfolio)
    _commit(actor, "portfolio.create", portfolio,
            {"name": portfolio.name, "user_id": owner}, ip)
    return portfolio


def update_portfolio(actor: User, portfolio_id: int, changes: Mapping[str, Any], *,
                     expected_updated_at: datetime | None = None, if_match: str | None = None,
                     ip: str | None = None, now: datetime | None = None) -> Portfolio:
    """Change some fields; Conflict when the caller's version is stale.

    A new ``total_capital`` is a deposit or withdrawal: see :func:`_record_capital_change`.
    ``now`` (tests) is when it happened; default the current time.
    """
    portfolio = get_portfolio(actor, portfolio_id, "update", ip=ip)
    refuse_unknown_fields(changes, EDITABLE)
    check_version(portfolio, expected_updated_at=expected_updated_at, if_match=if_match)
    values = edited_values(portfolio, changes, EDITABLE, ("portfolio",))
    plugin = values["portfolio_plugin"]
    stored = portfolio.portfolio_config if plugin == portfolio.portfolio_plugin else {}
    if "portfolio_config" not in changes:  # kept as stored: secrets round-trip masked
        values["portfolio_config"] = public_config("portfolio", plugin, stored)
    values["portfolio_config"] = config_to_validate("portfolio", plugin,
                                                    values["portfolio_config"], stored)
    _validate(values, portfolio.user_id, portfolio.id)
    values["name"] = values["name"].strip()
    values["portfolio_config"] = stored_config("portfolio", plugin, values["portfolio_config"])
    changed = sorted(k for k in EDITABLE if not _same(k, values[k], getattr(portfolio, k)))
    if "total_capital" in changed:
        _record_capital_change(actor, portfolio, float(values["total_capital"]),
                               now or utcnow(), ip)
    for key in changed:
        setattr(portfolio, key, dict(values[key]) if key.endswith("_config") else values[key])
    _commit(actor, "portfolio.update", portfolio, {"changed": changed}, ip)
    return portfolio


def _record_capital_change(actor: User, portfolio: Portfolio, after: float, now: datetime,
                           ip: str | None) -> None:
    """Audit a deposit/withdrawal, restart the drawdown peak and mark it on the equity chart.

    All in the caller's transaction. ``capital_changed_at`` makes the drawdown kill
    switch measure from equity recorded after now, so lowering 10,000 to 5,000 is not
    read as a 50 % loss (SPEC 2a "Drawdown"); the ``capital_change`` series lets the
    equity chart show the step as a deposit or withdrawal, not a gain or loss.
    """
    before = float(portfolio.total_capital)
    portfolio.capital_changed_at = now
    record(actor, "portfolio.capital_changed", f"portfolio:{portfolio.id}",
           {"before": before, "after": after, "change": after - before}, ip=ip, commit=False)
    trading_statistics.record(db.session, [(trading_statistics.capital_change_key(portfolio.id),
                                            after - before)], now)


def public_portfolio_config(portfolio: Portfolio) -> dict[str, Any]:
    """The portfolio plugin's config as it may be shown: secrets masked."""
    return public_config("portfolio", portfolio.portfolio_plugin, portfolio.portfolio_config)


def _same(key: str, new: Any, old: Any) -> bool:
    """Whether an edited field keeps its value (configs compared with secrets decrypted)."""
    return same_config(new, old) if key.endswith("_config") else bool(new == old)


def delete_portfolio(actor: User, portfolio_id: int, *,
                     expected_updated_at: datetime | None = None, if_match: str | None = None,
                     ip: str | None = None) -> None:
    """Delete a portfolio and its assets; one with trading history is a Conflict."""
    portfolio = get_portfolio(actor, portfolio_id, "delete", ip=ip)
    check_version(portfolio, expected_updated_at=expected_updated_at, if_match=if_match)
    has_orders = db.session.scalar(select(exists().where(
        Order.asset_id == Asset.id, Asset.portfolio_id == portfolio.id)))
    if has_orders:
        raise Conflict(f"portfolio {portfolio.id} has orders and cannot be deleted; "
                       "deactivate it instead")
    name = portfolio.name
    db.session.delete(portfolio)
    db.session.flush()
    record(actor, "portfolio.delete", f"portfolio:{portfolio_id}", {"name": name}, ip=ip)


def set_kill_switch(actor: User, portfolio_id: int, on: bool, *, ip: str | None = None
                    ) -> Portfolio:
    """Halt a portfolio (no order is sent) or let it trade again (owner or admin)."""
    if not isinstance(on, bool):
        raise ValidationFailed("invalid kill switch", {"on": ["must be true or false"]})
    portfolio = get_portfolio(actor, portfolio_id, "update", ip=ip)
    # The risk state halted (or active again), written like every risk-state change.
    return apply_portfolio_state(actor, portfolio, "halted" if on else "active", None, ip=ip,
                                 action="portfolio.kill_switch", on=on)


def owned_portfolio_ids(actor: User) -> list[int] | None:
    """Ids of the portfolios the actor may see, or None when that is every portfolio."""
    if list_scope(actor, "portfolio").everything:
        return None
    return list(db.session.scalars(scoped(select(Portfolio.id), actor, "portfolio")))

