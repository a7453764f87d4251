"""User administration by admins: the rules hold for the page, the API and the CLI.

Every change is audited with the acting admin. The last active admin can be neither
demoted nor deactivated, even by two admins acting at once: LTS must never be left
without someone able to administer it. No admin deactivates their own account.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from lts.database import write_transaction
from lts.errors import Conflict, Forbidden, ValidationFailed
from lts.extensions import db
from lts.models import User
from lts.models.enums import ROLES
from lts.plugins.aaa import current_aaa
from lts.plugins.aaa.users import create_user
from lts.services.access import scoped


def list_users(actor: User) -> list[User]:
    """The users the actor may see (administrators: all), by username."""
    return list(db.session.scalars(scoped(select(User), actor, "user")
                                   .order_by(func.lower(User.username))))


def _lock_admins_and(user: User) -> None:
    """Lock the rows of every active admin and of ``user``, reloading them, in id order.

    The last-admin rule read the count and wrote later: two admins demoting each other
    at once both saw the other still an admin, and LTS was left with none (issue 11,
    finding 12). Under these row locks a concurrent change waits, and PostgreSQL hands it
    the committed rows; one id order for everyone means two changes cannot deadlock.
    On SQLite the transaction already holds the database's write lock.
    """
    db.session.scalars(
        select(User)
        .where(or_(and_(User.role == "admin", User.is_active.is_(True)), User.id == user.id))
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)).all()


def _guard_last_admin(user: User) -> None:
    """Refuse a change that would leave no active admin (rows locked by the caller)."""
    if not (user.role == "admin" and user.is_active):
        return
    others = db.session.scalar(select(func.count(User.id)).where(
        User.role == "admin", User.is_active.is_(True), User.id != user.id))
    if not others:
        raise Conflict("the last active admin cannot be removed",
                       {"user": ["is the last active admin"]})


def admin_create_user(actor: User, username: str, email: str, role: str, password: str,
                      *, ip: str | None = None) -> User:
    """Create a user on an admin's behalf."""
    user = create_user(username, email, role, password)
    current_aaa().account(actor, "user.create", f"user:{user.id}",
                          {"username": user.username, "role": role}, ip=ip)
    return user


def set_role(actor: User, user: User, role: str, *, ip: str | None = None) -> User:
    """Change a user's role (not the last active admin's to ``user``), atomically."""
    if role not in ROLES:
        raise ValidationFailed("the role was not changed",
                               {"role": [f"must be one of: {', '.join(ROLES)}"]})
    with write_transaction(db.session()):
        _lock_admins_and(user)
        old = user.role
        if role == old:
            return user
        if role != "admin":
            _guard_last_admin(user)
        user.role = role
    current_aaa().account(actor, "user.role", f"user:{user.id}", {"from": old, "to": role},
                          ip=ip)
    return user


def set_active(actor: User, user: User, active: bool, *, ip: str | None = None) -> User:
    """Activate or deactivate; deactivation ends every session and token at once.

    Nobody deactivates their own account: another admin must, so a slip of the mouse
    cannot lock the only person at the keyboard out.
    """
    if not active and actor.id == user.id:
        raise Forbidden("you cannot deactivate your own account: another admin must",
                        {"is_active": ["cannot be turned off for your own account"]})
    with write_transaction(db.session()):
        _lock_admins_and(user)
        if active == user.is_active:
            return user
        if not active:
            _guard_last_admin(user)
        user.is_active = active
    ended = 0 if active else current_aaa().revoke_all(user)
    current_aaa().account(actor, "user.activate" if active else "user.deactivate",
                          f"user:{user.id}", {"sessions_ended": ended}, ip=ip)
    return user


def unlock(actor: User, user: User, *, ip: str | None = None) -> User:
    """Lift a lockout and reset the failed-login counter."""
    user.locked_until = None
    user.failed_logins = 0
    db.session.commit()
    current_aaa().account(actor, "user.unlock", f"user:{user.id}", None, ip=ip)
    return user


def revoke_sessions(actor: User, user: User, *, ip: str | None = None) -> int:
    """End every browser session and API token of ``user`` (admin sign-out)."""
    ended = current_aaa().revoke_all(user)
    current_aaa().account(actor, "user.sessions_revoked", f"user:{user.id}",
                          {"sessions_ended": ended}, ip=ip)
    return ended
