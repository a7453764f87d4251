"""Admin views: users (list, create, role, activate, unlock, sign out) and the audit log."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from lts.blueprints.admin import bp
from lts.blueprints.admin.forms import AuditFilterForm, RoleForm, UserCreateForm
from lts.errors import ServiceError
from lts.models import User
from lts.plugins.aaa import current_aaa
from lts.security.authz import client_ip, role_required
from lts.services import auth_admin
from lts.services.audit import AuditFilter, query_audit, usernames
from lts.web.forms import ActionForm
from lts.web.owned import get_owned_or_404
from lts.web.request import actor, is_htmx

AUDIT_PER_PAGE = 50


def _users_page(form: UserCreateForm | None = None, status: int = 200) -> Any:
    """Render the users page (with the create form, possibly showing errors)."""
    return render_template(
        "admin/users.html", users=auth_admin.list_users(actor()),
        form=form or UserCreateForm(),
        action_form=ActionForm(), role_form=RoleForm(), now=current_aaa().clock(),
    ), status


@bp.get("/users")
@role_required("admin")
def users() -> Any:
    """Every user with their state and the actions an admin can take."""
    return _users_page()


@bp.post("/users")
@role_required("admin")
def create_user() -> Any:
    """Create a user from the form on the users page."""
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = auth_admin.admin_create_user(
                actor(), form.username.data or "", form.email.data or "",
                form.role.data or "user", form.password.data or "", ip=client_ip())
        except ServiceError as exc:
            for field, messages in exc.fields.items():
                target = getattr(form, field, None)
                if target is not None:
                    target.errors = [*list(target.errors), *messages]
        else:
            flash(f"User {user.username} created.", "success")
            return redirect(url_for("admin.users"))
    return _users_page(form, 422)


def _user_action(user_id: int, change: Any, done: str) -> Any:
    """Run one state change on a user from a CSRF-protected button, then go back.

    A refused change shows the users page again with the reason and the rule's 4xx.
    """
    user = get_owned_or_404(User, user_id, "update")
    try:
        change(user)
    except ServiceError as exc:
        flash(exc.message, "danger")
        return _users_page(status=exc.status)
    else:
        flash(done.format(username=user.username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/role")
@role_required("admin")
def change_role(user_id: int) -> Any:
    """Change a user's role."""
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    return _user_action(user_id, lambda u: auth_admin.set_role(actor(), u, form.role.data or "",
                                                               ip=client_ip()),
                        "Role of {username} changed.")


@bp.post("/users/<int:user_id>/deactivate")
@role_required("admin")
def deactivate(user_id: int) -> Any:
    """Deactivate a user: every session and token ends immediately."""
    return _user_action(user_id, lambda u: auth_admin.set_active(actor(), u, False,
                                                                 ip=client_ip()),
                        "{username} deactivated; their sessions ended.")


@bp.post("/users/<int:user_id>/activate")
@role_required("admin")
def activate(user_id: int) -> Any:
    """Re-activate a user."""
    return _user_action(user_id, lambda u: auth_admin.set_active(actor(), u, True,
                                                                 ip=client_ip()),
                        "{username} activated.")


@bp.post("/users/<int:user_id>/unlock")
@role_required("admin")
def unlock(user_id: int) -> Any:
    """Lift a lockout."""
    return _user_action(user_id, lambda u: auth_admin.unlock(actor(), u, ip=client_ip()),
                        "{username} unlocked.")


@bp.post("/users/<int:user_id>/revoke-sessions")
@role_required("admin")
def revoke_sessions(user_id: int) -> Any:
    """Sign a user out of every browser and revoke their API tokens."""
    return _user_action(user_id, lambda u: auth_admin.revoke_sessions(actor(), u,
                                                                      ip=client_ip()),
                        "{username} signed out everywhere.")


@bp.get("/audit")
@role_required("admin")
def audit() -> Any:
    """Show the audit log with filters and pages; htmx gets the table fragment only."""
    form = AuditFilterForm(request.args)
    form.validate()
    flt = AuditFilter(
        user=form.user.data or None if not form.user.errors else None,
        action=form.action.data or None if not form.action.errors else None,
        outcome=form.outcome.data or None if not form.outcome.errors else None,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
    )
    page_number = request.args.get("page", 1, type=int) or 1
    page = query_audit(actor(), flt, page=page_number,
                       per_page=AUDIT_PER_PAGE)
    ids = {row.user_id for row in page.items if row.user_id is not None}
    names = usernames(ids)
    filters = {k: v for k, v in request.args.items() if k != "page" and v}
    template = "partials/_audit_table.html" if is_htmx() else "admin/audit.html"
    return render_template(template, form=form, page=page, names=names, filters=filters)
