"""Browser authentication pages: login, logout, registration, password reset, profile."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from lts.blueprints.auth import routes  # noqa: E402,F401  (routes attach to bp)
