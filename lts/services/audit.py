"""Reading the audit log: filters and pagination shared by the admin page and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from lts.extensions import db
from lts.models import AuditLog, User
from lts.models.enums import AUDIT_OUTCOMES
from lts.services.access import scoped
from lts.services.listing import ordered
from lts.services.pagination import Page, paginate

AUDIT_SORTS = {"timestamp": AuditLog.timestamp}


@dataclass(frozen=True)
class AuditFilter:
    """What to show: every field optional; dates are inclusive UTC days."""

    user: str | None = None
    action: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _filtered(statement: Select[Any], flt: AuditFilter) -> Select[Any]:
    """Apply the filter to a statement over AuditLog."""
    if flt.user:
        statement = statement.join(User, User.id == AuditLog.user_id).where(
            func.lower(User.username) == flt.user.lower())
    if flt.action:
        statement = statement.where(AuditLog.action.startswith(flt.action, autoescape=True))
    if flt.outcome in AUDIT_OUTCOMES:
        statement = statement.where(AuditLog.outcome == flt.outcome)
    if flt.date_from:
        statement = statement.where(
            AuditLog.timestamp >= datetime.combine(flt.date_from, time.min, UTC))
    if flt.date_to:
        statement = statement.where(
            AuditLog.timestamp < datetime.combine(flt.date_to + timedelta(days=1), time.min,
                                                  UTC))
    return statement


def usernames(user_ids: set[int]) -> dict[int, str]:
    """Map user ids to usernames (for showing audit rows), in one query."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {user_id: username for user_id, username in rows}


def query_audit(actor: User, flt: AuditFilter, page: int = 1, per_page: int = 50
                ) -> Page[AuditLog]:
    """Rows the actor may see, newest first: ``per_page`` of ``page`` (both clamped)."""
    statement = _filtered(scoped(select(AuditLog), actor, "audit"), flt)
    return paginate(ordered(statement, AUDIT_SORTS, "timestamp", "desc", AuditLog.id),
                    page, per_page, key=AuditLog.id)
