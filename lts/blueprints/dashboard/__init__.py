"""The dashboard pages: overview, orders, positions and statistics."""

from typing import Any

from flask import Blueprint

from lts.blueprints.dashboard.filters import register_filters

bp = Blueprint("dashboard", __name__)
register_filters(bp)


@bp.app_context_processor
def viewer_role() -> dict[str, Any]:
    """``is_admin_user``: whether the viewer may use admin-only buttons (display only)."""
    from flask_login import current_user

    from lts.services.access import is_admin

    user = current_user._get_current_object() if current_user else None
    return {"is_admin_user": bool(user is not None and user.is_authenticated
                                  and is_admin(user))}


from lts.blueprints.dashboard import routes  # noqa: E402,F401  (routes attach to bp)
