"""Admin pages: users and the audit log (admins only; users get 403)."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from lts.blueprints.admin import logs, routes, system  # noqa: E402,F401  (routes attach to bp)
