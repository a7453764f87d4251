"""Risk states set by people: per portfolio (owners and admins) and globally (admins).

SPEC 2a: ``active`` trades, ``reducing`` lets only closing orders and cancels through,
``halted`` sends no strategy or manual order while marks, protective fills and cancels
go on. Every change commits together with its audit row, which says who (a user, or
``cli`` for the operator's command line) and why (an optional free-text reason).

The global state is two runtime settings kept in step: ``risk_state`` and the older
``kill_switch`` (on exactly when the state is ``halted``), so the kill switch endpoints,
pages and config files keep working; :func:`lts.trading.risk.global_risk_state` reads
them (either one saying halted means halted).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from lts.database import write_transaction
from lts.errors import NotFound, ValidationFailed
from lts.extensions import db
from lts.models import AuditLog, Portfolio, User
from lts.models.enums import RISK_STATES
from lts.runtime_config import effective_settings, stage_runtime_setting
from lts.services.access import load_owned, record, require_admin
from lts.trading.risk import global_risk_state

MAX_REASON = 500
CLI = "cli"
GLOBAL_RESOURCE = "loop"
# Audit actions that change a portfolio's state (the engine's drawdown trip included).
PORTFOLIO_ACTIONS = ("portfolio.risk_state", "portfolio.kill_switch")
GLOBAL_ACTIONS = ("loop.risk_state", "loop.kill_switch")


@dataclass(frozen=True)
class RiskChange:
    """The last recorded change of a risk state: what, who, why and when."""

    state: str | None
    by: str
    reason: str
    at: datetime


def check_state(state: Any, reason: Any) -> str | None:
    """Refuse an unknown state or an unusable reason (naming the field); return the reason.

    The reason is optional; blank text is stored as none.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(state, str) or state not in RISK_STATES:
        errors["state"] = [f"must be one of {', '.join(RISK_STATES)}"]
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = ["must be text"]
    elif reason is not None and len(reason) > MAX_REASON:
        errors["reason"] = [f"at most {MAX_REASON} characters"]
    if errors:
        raise ValidationFailed("invalid risk state change", errors)
    return (reason or "").strip() or None


def _who(actor: User | None) -> str:
    """How the audit names the one acting: the username, or ``cli``."""
    return actor.username if actor is not None else CLI


# ------------------------------------------------------------------- portfolios


def set_portfolio_risk_state(actor: User, portfolio_id: int, state: Any,
                             reason: Any = None, *, ip: str | None = None) -> Portfolio:
    """Set one portfolio's risk state (its owner or an admin); audited with the reason."""
    portfolio = load_owned(Portfolio, portfolio_id, actor, "update", ip=ip)
    reason = check_state(state, reason)
    return apply_portfolio_state(actor, portfolio, state, reason, ip=ip)


def operator_set_portfolio_risk_state(portfolio_id: int, state: Any,
                                      reason: Any = None) -> Portfolio:
    """The command line's way (``flask lts risk set --portfolio``): audited as ``cli``."""
    reason = check_state(state, reason)
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None:
        raise NotFound(f"portfolio {portfolio_id} not found")
    return apply_portfolio_state(None, portfolio, state, reason, ip=None)


def apply_portfolio_state(actor: User | None, portfolio: Portfolio, state: str,
                          reason: str | None, *, ip: str | None,
                          action: str = "portfolio.risk_state", **details: Any) -> Portfolio:
    """Change the row and write its audit row in one write transaction.

    For callers that already checked the actor's right to ``portfolio`` and the state
    (the kill-switch endpoints pass ``action="portfolio.kill_switch", on=...``).

    The state is re-read under the write lock (``FOR UPDATE`` on PostgreSQL), so the
    audited ``from`` is what this change replaced, even with the engine halting the
    portfolio at the same moment.
    """
    session = db.session()
    with write_transaction(session):
        before = session.scalar(select(Portfolio.risk_state)
                                .where(Portfolio.id == portfolio.id).with_for_update())
        portfolio.risk_state = state
        record(actor, action, f"portfolio:{portfolio.id}",
               {**details, "from": before, "to": state, "reason": reason, "by": _who(actor)},
               ip=ip, commit=False)
    return portfolio


# ----------------------------------------------------------------------- global


def get_global_risk_state() -> str:
    """The global risk state in force now (``kill_switch`` on reads as halted)."""
    return global_risk_state(effective_settings(("kill_switch", "risk_state")))


def set_global_risk_state(actor: User, state: Any, reason: Any = None, *,
                          ip: str | None = None, action: str = "loop.risk_state") -> str:
    """Set the global risk state (admins only); returns the state now in force."""
    require_admin(actor, action, ip=ip)
    reason = check_state(state, reason)
    return _apply_global_state(actor, state, reason, ip=ip, action=action)


def operator_set_global_risk_state(state: Any, reason: Any = None) -> str:
    """The command line's way (``flask lts risk set``): audited as ``cli``."""
    reason = check_state(state, reason)
    return _apply_global_state(None, state, reason, ip=None, action="loop.risk_state")


def _apply_global_state(actor: User | None, state: str, reason: str | None, *,
                        ip: str | None, action: str) -> str:
    """Write both settings and the audit row in one write transaction."""
    session = db.session()
    with write_transaction(session):
        before = global_risk_state(effective_settings(("kill_switch", "risk_state"), session))
        stage_runtime_setting(session, "risk_state", state)
        stage_runtime_setting(session, "kill_switch", state == "halted")
        details: dict[str, Any] = {"from": before, "to": state, "reason": reason,
                                   "by": _who(actor)}
        if action == "loop.kill_switch":
            details["on"] = state == "halted"
        record(actor, action, GLOBAL_RESOURCE, details, ip=ip, commit=False)
    return state


# ---------------------------------------------------------------------- history


def last_changes(portfolio_ids: Iterable[int]) -> dict[int, RiskChange]:
    """The last recorded risk-state change of each portfolio that has one."""
    resources = {f"portfolio:{pid}": pid for pid in portfolio_ids}
    if not resources:
        return {}
    rows = db.session.execute(
        select(AuditLog.resource, AuditLog.details, AuditLog.timestamp, User.username)
        .outerjoin(User, User.id == AuditLog.user_id)
        .where(AuditLog.action.in_(PORTFOLIO_ACTIONS),
               AuditLog.resource.in_(list(resources)), AuditLog.outcome == "ok")
        .order_by(AuditLog.id.desc())).all()
    changes: dict[int, RiskChange] = {}
    for resource, details, at, username in rows:
        pid = resources[resource]
        if pid not in changes:
            changes[pid] = _change_of(details or {}, at, username)
    return changes


def last_global_change() -> RiskChange | None:
    """The last recorded change of the global risk state (or kill switch), if any."""
    row = db.session.execute(
        select(AuditLog.details, AuditLog.timestamp, User.username)
        .outerjoin(User, User.id == AuditLog.user_id)
        .where(AuditLog.action.in_(GLOBAL_ACTIONS), AuditLog.outcome == "ok")
        .order_by(AuditLog.id.desc()).limit(1)).first()
    return _change_of(row[0] or {}, row[1], row[2]) if row else None


def _change_of(details: dict[str, Any], at: datetime, username: str | None) -> RiskChange:
    """Read a change from an audit row, older kill-switch rows and engine trips included.

    Rows written before risk states had ``by`` (the kill-switch endpoints' own rows
    still lack it) name their user; rows without a user are the engine's.
    """
    state = details.get("to")
    if state is None and "on" in details:
        state = "halted" if details["on"] else "active"
    by = details.get("by") or username or "the engine"
    reason = details.get("reason") or ""
    if not reason and details.get("trigger"):
        reason = f"{details['trigger']} tripped"
    return RiskChange(state=state, by=str(by), reason=str(reason), at=at)


@dataclass(frozen=True)
class PortfolioRisk:
    """One line of ``flask lts risk show``."""

    id: int
    name: str
    owner: str
    state: str
    is_active: bool
    change: RiskChange | None


def risk_overview() -> tuple[str, RiskChange | None, list[PortfolioRisk]]:
    """The global state with its last change, and every portfolio's state (the CLI's view)."""
    rows = db.session.execute(
        select(Portfolio.id, Portfolio.name, User.username, Portfolio.risk_state,
               Portfolio.is_active)
        .join(User, User.id == Portfolio.user_id).order_by(Portfolio.id)).all()
    changes = last_changes([row[0] for row in rows])
    portfolios = [PortfolioRisk(id=pid, name=name, owner=owner, state=state,
                                is_active=bool(active), change=changes.get(pid))
                  for pid, name, owner, state, active in rows]
    return get_global_risk_state(), last_global_change(), portfolios
