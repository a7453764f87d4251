"""The sidebar menu, built per request from the endpoints the app really has.

The full menu is declared once, in order, in :data:`MENU`. An entry is shown only
when its endpoint is registered, so the menu grows by itself as blueprints are
added, and a half-built app never renders a link that would 404 or fail to build.
Admin entries are shown to admins only; hiding them is a courtesy, the admin
views still check the role themselves.

:func:`register_navigation` exposes the menu and a few layout values to every
template through a context processor, so views never pass them by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from werkzeug.routing import BuildError

from lts.version import __version__

ADMIN_ROLE = "admin"
ADMIN_SECTION = "Administration"
ACCOUNT_SECTION = "Account"


@dataclass(frozen=True)
class MenuEntry:
    """One declared menu entry, before it is checked against the running app."""

    label: str
    icon: str
    endpoint: str
    admin_only: bool = False
    section: str = ""


@dataclass(frozen=True)
class NavItem:
    """One link of the rendered sidebar, ready for the template.

    ``section`` names the group the link belongs to ("" for the main group); the
    layout prints a header wherever it changes.
    """

    label: str
    icon: str
    endpoint: str
    url: str
    active: bool
    admin_only: bool
    section: str = ""


MENU: tuple[MenuEntry, ...] = (
    MenuEntry("Overview", "bi-speedometer2", "dashboard.overview"),
    MenuEntry("Portfolios", "bi-briefcase", "portfolios.index"),
    MenuEntry("Orders", "bi-receipt", "dashboard.orders"),
    MenuEntry("Positions", "bi-graph-up-arrow", "dashboard.positions"),
    MenuEntry("Statistics", "bi-bar-chart-line", "dashboard.statistics"),
    MenuEntry("Backtests", "bi-clock-history", "dashboard.backtests"),
    MenuEntry("Performance", "bi-trophy", "dashboard.performance"),
    MenuEntry("Closed trades", "bi-journal-check", "dashboard.trades"),
    MenuEntry("Users", "bi-people", "admin.users", admin_only=True, section=ADMIN_SECTION),
    MenuEntry(
        "Audit log", "bi-journal-text", "admin.audit", admin_only=True, section=ADMIN_SECTION
    ),
    MenuEntry("Config", "bi-sliders", "admin.config", admin_only=True, section=ADMIN_SECTION),
    MenuEntry("Plugins", "bi-puzzle", "admin.plugins", admin_only=True, section=ADMIN_SECTION),
    MenuEntry("Loop", "bi-arrow-repeat", "admin.loop", admin_only=True, section=ADMIN_SECTION),
    MenuEntry("Logs", "bi-file-text", "admin.logs", admin_only=True, section=ADMIN_SECTION),
    MenuEntry("Profile", "bi-person-circle", "auth.profile", section=ACCOUNT_SECTION),
    MenuEntry("API docs", "bi-code-slash", "api_docs", section=ACCOUNT_SECTION),
)


def is_admin(user: Any) -> bool:
    """Tell whether ``user`` has the admin role.

    Accepts a plain string role or an enum whose value is the string, so the menu
    does not depend on how the user model stores roles.
    """
    role = getattr(user, "role", None)
    role = getattr(role, "value", role)
    return role == ADMIN_ROLE


def _blueprint(endpoint: str) -> str:
    """Return the blueprint part of ``endpoint`` ("" for app-level endpoints)."""
    return endpoint.rpartition(".")[0]


def _common_prefix_length(left: str, right: str) -> int:
    """Count the leading characters ``left`` and ``right`` share."""
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def _active_endpoint(endpoints: Iterable[str], current_endpoint: str | None) -> str | None:
    """Pick the menu endpoint to highlight for the page being shown.

    An exact match wins. Otherwise a page that is not in the menu (a portfolio's
    detail page, a user's edit form) highlights the entry of the same blueprint
    whose endpoint name shares the longest prefix with it, so
    ``portfolios.detail`` lights up Portfolios and ``admin.audit_entry`` Audit log.
    """
    if not current_endpoint:
        return None
    candidates = list(endpoints)
    if current_endpoint in candidates:
        return current_endpoint
    blueprint = _blueprint(current_endpoint)
    if not blueprint:
        return None
    best: str | None = None
    best_length = -1
    for endpoint in candidates:
        if _blueprint(endpoint) != blueprint:
            continue
        length = _common_prefix_length(endpoint, current_endpoint)
        if length > best_length:
            best, best_length = endpoint, length
    return best


def _active_by_path(urls: dict[str, str], path: str | None) -> str | None:
    """The entry whose URL is the longest leading part of ``path`` (whole segments).

    A form posted to its list page (``POST /admin/users`` failing validation) renders
    under another endpoint (``admin.create_user``), whose name shares more letters with
    ``admin.config`` than with ``admin.users``; its path does not mislead. The root
    ``/`` matches only itself.
    """
    if not path:
        return None
    best: str | None = None
    best_length = 0
    for endpoint, url in urls.items():
        base = url.split("?", 1)[0].rstrip("/")
        if not base:
            continue
        if (path == base or path.startswith(base + "/")) and len(base) > best_length:
            best, best_length = endpoint, len(base)
    return best


def build_nav(user: Any, current_endpoint: str | None,
              current_path: str | None = None) -> list[NavItem]:
    """Build the sidebar items for ``user`` on the page ``current_endpoint``.

    Needs an application context (and a request context to build URLs). ``user``
    is None when the app has no login manager: every non-admin entry is shown.
    An anonymous (not authenticated) user gets no menu at all.
    """
    if user is not None and not getattr(user, "is_authenticated", False):
        return []
    show_admin = is_admin(user)
    view_functions = current_app.view_functions
    entries = [
        entry
        for entry in MENU
        if entry.endpoint in view_functions and (show_admin or not entry.admin_only)
    ]
    urls: dict[str, str] = {}
    for entry in entries:
        try:
            urls[entry.endpoint] = url_for(entry.endpoint)
        except BuildError:
            # An endpoint that needs URL arguments cannot be a menu link.
            continue
    entries = [entry for entry in entries if entry.endpoint in urls]
    active = (current_endpoint if current_endpoint in urls else None) \
        or _active_by_path(urls, current_path) \
        or _active_endpoint((entry.endpoint for entry in entries), current_endpoint)
    items: list[NavItem] = []
    for entry in entries:
        url = urls[entry.endpoint]
        items.append(
            NavItem(
                label=entry.label,
                icon=entry.icon,
                endpoint=entry.endpoint,
                url=url,
                active=entry.endpoint == active,
                admin_only=entry.admin_only,
                section=entry.section,
            )
        )
    return items


def _app_version() -> str:
    """Return the version of this source tree (``lts.version``)."""
    return __version__


def register_navigation(app: Flask) -> None:
    """Give every template ``nav_items``, ``nav_urls``, ``nav_endpoints``, ``lts_version``.

    The menu is built for Flask-Login's ``current_user``, or for no user when the
    app has no login manager (a bare test app still renders the layout). Outside
    a request (a mail rendered by the CLI) ``nav_items`` is empty.
    ``nav_urls`` maps the endpoint of each shown item to its URL, so a page links
    to another only when that page is in the viewer's menu; ``nav_endpoints`` lets
    templates link to any endpoint only once it exists.
    """

    @app.context_processor
    def inject_navigation() -> dict[str, Any]:
        """Compute the layout values for the template being rendered."""
        nav_items: list[NavItem] = []
        if has_request_context():
            user = None
            if hasattr(app, "login_manager"):
                # Imported only when Flask-Login is bound to this app.
                from flask_login import current_user

                user = current_user
            nav_items = build_nav(user, request.endpoint, request.script_root + request.path)
        return {
            "nav_items": nav_items,
            "nav_urls": {item.endpoint: item.url for item in nav_items},
            "nav_endpoints": set(app.view_functions),
            "lts_version": _app_version(),
        }
