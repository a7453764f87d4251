"""``/api/v1/audit``: the audit log, filtered and paginated (admins only)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from lts.blueprints.api import bp, load_args
from lts.blueprints.api._common import documented
from lts.schemas.audit import AuditLogSchema, AuditPageSchema, AuditQuerySchema
from lts.schemas.common import instance
from lts.security.authz import role_required
from lts.services.audit import AuditFilter, query_audit, usernames
from lts.web.request import actor


@bp.get("/audit")
@documented(query=AuditQuerySchema, responses={200: AuditPageSchema})
@role_required("admin")
def list_audit() -> Any:
    """Audit rows, newest first; filters: user, action (prefix), outcome, date_from/to."""
    args = load_args(instance(AuditQuerySchema))
    page = query_audit(actor(), AuditFilter(user=args["user"], action=args["action"],
                                   outcome=args["outcome"], date_from=args["date_from"],
                                   date_to=args["date_to"]),
                       page=args["page"], per_page=args["per_page"])
    ids = {row.user_id for row in page.items if row.user_id is not None}
    names = usernames(ids)
    items = instance(AuditLogSchema, many=True).dump(page.items)
    for item in items:
        item["username"] = names.get(item["user_id"])
    return jsonify({"items": items, "page": page.page, "per_page": page.per_page,
                    "total": page.total, "pages": page.pages})
