"""``/api/v1/audit``: the audit log, filtered and paginated (admins only)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from lts.blueprints.api import bp
from lts.blueprints.api._common import Extended, admin_only
from lts.schemas.audit import AuditPageSchema, AuditQuerySchema
from lts.services.audit import AuditFilter, query_audit, usernames
from lts.web.request import actor


@bp.get("/audit")
@admin_only
@bp.arguments(AuditQuerySchema, location="query", unknown=RAISE)
@bp.response(200, AuditPageSchema)
def list_audit(args: dict[str, Any]) -> Any:
    """Audit rows, newest first; filters: user, action (prefix), outcome, date_from/to."""
    page = query_audit(actor(), AuditFilter(user=args["user"], action=args["action"],
                                            outcome=args["outcome"],
                                            date_from=args["date_from"],
                                            date_to=args["date_to"], since=args["since"],
                                            until=args["until"]),
                       page=args["page"], per_page=args["per_page"], cursor=args["cursor"])
    names = usernames({row.user_id for row in page.items if row.user_id is not None})
    return {"items": [Extended(row, username=names.get(row.user_id)) for row in page.items],
            "page": None if page.by_cursor else page.page, "per_page": page.per_page,
            "total": page.total, "pages": page.pages, "next_cursor": page.next_cursor}
