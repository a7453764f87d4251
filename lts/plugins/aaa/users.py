"""Creating and updating users: the rules that hold whoever asks (CLI, admin page, API).

Next to the aaa plugin, whose registration and login create and find users here; the
admin services and the CLI call the same functions (plugins import no service).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from lts.errors import Conflict, ValidationFailed
from lts.extensions import db
from lts.models import User
from lts.models.enums import ROLES
from lts.plugins.aaa.passwords import hash_password, password_problems

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}\Z")  # \Z: "$" would let a final "\n" in
# The WHATWG HTML "valid email address" (what a browser's type=email accepts), with a
# dotted domain: no markup characters (< > " ( ) ; , \ spaces) in either part.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
                      r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z")


def validate_new_user(username: str, email: str, role: str, password: str) -> None:
    """Raise ValidationFailed naming every bad field of a new user."""
    fields: dict[str, list[str]] = {}
    if not USERNAME_RE.match(username or ""):
        fields["username"] = ["must be 3-64 characters: letters, digits, _ . -"]
    if not EMAIL_RE.match(email or "") or len(email) > 254:
        fields["email"] = ["must be a valid email address"]
    if role not in ROLES:
        fields["role"] = [f"must be one of: {', '.join(ROLES)}"]
    problems = password_problems(password or "", username=username or "", email=email or "")
    if problems:
        fields["password"] = problems
    if fields:
        raise ValidationFailed("the user was not created", fields)


def find_user(username: str) -> User | None:
    """Return the user with this username (case-insensitive), or None."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def create_user(username: str, email: str, role: str, password: str) -> User:
    """Validate and store a new user; usernames and emails are unique case-insensitively."""
    validate_new_user(username, email, role, password)
    if find_user(username) is not None:
        raise Conflict("username taken", {"username": ["is already taken"]})
    if db.session.scalar(select(User).where(func.lower(User.email) == email.lower())):
        raise Conflict("email taken", {"email": ["is already registered"]})
    user = User(username=username, email=email.lower(), role=role,
                password_hash=hash_password(password))
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    """Validate and store a new password for ``user``."""
    problems = password_problems(password, username=user.username, email=user.email)
    if problems:
        raise ValidationFailed("the password was not changed", {"password": problems})
    user.password_hash = hash_password(password)
    db.session.commit()
