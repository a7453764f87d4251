"""Reading the audit log: filters and pagination shared by the admin page and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from lts.errors import ValidationFailed
from lts.extensions import db
from lts.models import AuditLog, User
from lts.models.enums import AUDIT_OUTCOMES
from lts.services.access import scoped
from lts.services.listing import ordered
from lts.services.pagination import (
    Page,
    cursor_query,
    decode_cursor,
    paginate,
    run_cursor_page,
    with_next_cursor,
)

AUDIT_SORTS = {"timestamp": AuditLog.timestamp}


@dataclass(frozen=True)
class AuditFilter:
    """What to show: every field optional; dates are inclusive UTC days."""

    user: str | None = None
    action: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: Aware datetimes, ``[since, until)``: the time filters of every other list.
    since: datetime | None = None
    until: datetime | None = None


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
    if flt.since:
        statement = statement.where(AuditLog.timestamp >= flt.since)
    if flt.until:
        statement = statement.where(AuditLog.timestamp < flt.until)
    return statement


def usernames(user_ids: set[int]) -> dict[int, str]:
    """Map user ids to usernames (for showing audit rows), in one query."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {user_id: username for user_id, username in rows}


def query_audit(actor: User, flt: AuditFilter, page: int = 1, per_page: int = 50,
                cursor: str | None = None) -> Page[AuditLog]:
    """Rows the actor may see, newest first: ``per_page`` of ``page`` (both clamped).

    ``cursor`` (a page's ``next_cursor``) gives the page after it instead: new rows
    arrive all the time, and a cursor never shows one twice or skips one.
    """
    if flt.since and flt.until and flt.since >= flt.until:
        raise ValidationFailed("invalid time range", {"until": ["must be after since"]})
    statement = _filtered(scoped(select(AuditLog), actor, "audit"), flt)
    statement = ordered(statement, AUDIT_SORTS, "timestamp", "desc", AuditLog.id)
    if cursor is not None:
        at = decode_cursor(cursor, sort="timestamp", direction="desc")
        query = cursor_query(statement, AuditLog.timestamp, AuditLog.id, "desc",
                             key=AuditLog.id)
        return run_cursor_page(query, {}, at, per_page, "timestamp")
    return with_next_cursor(paginate(statement, page, per_page, key=AuditLog.id),
                            "timestamp", "desc", "timestamp")
