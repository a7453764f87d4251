"""Who may see and change what, for the service layer; the aaa plugin decides.

Services receive the acting user explicitly (``actor``) instead of reading the request,
so the dashboard, the API, the CLI and tests call them alike. Every check goes through
the aaa plugin's ``authorize``, so swapping the plugin swaps the policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from lts.errors import Conflict, Forbidden, NotFound, ValidationFailed
from lts.extensions import db
from lts.models import User
from lts.plugins.aaa import current_aaa

T = TypeVar("T")

ADMIN_ACTION = "admin.access"
MAX_ID = 2**31 - 1  # ids beyond the database's integers are simply not found


def is_admin(actor: User | None) -> bool:
    """Whether the policy lets ``actor`` act on every user's objects."""
    return bool(current_aaa().authorize(actor, ADMIN_ACTION))


def record(actor: User | None, action: str, resource: str | None = None,
           details: Mapping[str, Any] | None = None, outcome: str = "ok", *,
           ip: str | None = None, commit: bool = True) -> None:
    """Write one audit row through the aaa plugin (``commit=False``: caller commits)."""
    current_aaa().account(actor, action, resource, details, outcome, ip=ip, commit=commit)


def commit_recorded(actor: User, action: str, kind: str, obj: Any,
                    details: Mapping[str, Any], *, ip: str | None, clash: Conflict) -> None:
    """Flush, audit ``kind:<id>`` in the same transaction and commit.

    A unique constraint tripped by a concurrent writer (the rule was checked, but another
    request won the race) raises ``clash`` instead of a 500, and nothing is kept.
    """
    try:
        db.session.flush()
        record(actor, action, f"{kind}:{obj.id}", details, ip=ip, commit=False)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise clash from exc


def edited_values(obj: Any, changes: Mapping[str, Any], editable: Iterable[str],
                  plugin_kinds: Iterable[str]) -> dict[str, Any]:
    """``obj``'s editable values with ``changes`` applied, ready to validate whole.

    A plugin switched without a config of its own starts from an empty config: the old
    plugin's settings mean nothing to the new one.
    """
    values = {field: getattr(obj, field) for field in editable}
    for kind in plugin_kinds:
        plugin, config = f"{kind}_plugin", f"{kind}_config"
        if plugin in changes and config not in changes and changes[plugin] != values[plugin]:
            values[config] = {}
    values.update(changes)
    return values


def refuse_unknown_fields(data: Mapping[str, Any], editable: Iterable[str]) -> None:
    """Raise ValidationFailed naming every key of ``data`` that is not an editable field."""
    unknown = sorted(set(data) - set(editable))
    if unknown:
        raise ValidationFailed("unknown fields", {k: ["unknown field"] for k in unknown})


def require_admin(actor: User | None, action: str, *, ip: str | None = None) -> None:
    """Raise Forbidden (audited) unless ``actor`` is an administrator."""
    if not is_admin(actor):
        record(actor, "access.denied", None, {"action": action}, "denied", ip=ip)
        raise Forbidden("administrators only")


def load_owned(model: type[T], object_id: Any, actor: User | None, action: str = "read",
               *, ip: str | None = None) -> T:
    """Return ``model`` ``object_id`` when ``actor`` may ``action`` it, else NotFound.

    Someone else's object is reported exactly like a missing one (and audited), so
    ids leak nothing.
    """
    name = model.__name__.lower()
    obj = db.session.get(model, object_id) if isinstance(object_id, int) \
        and 0 < object_id <= MAX_ID else None
    if obj is None:
        raise NotFound(f"{name} {object_id} not found")
    if not current_aaa().authorize(actor, f"{name}.{action}", obj):
        record(actor, "access.denied", f"{name}:{object_id}", {"action": action}, "denied",
               ip=ip)
        raise NotFound(f"{name} {object_id} not found")
    return obj


def etag_of(obj: Any) -> str:
    """A strong ETag for a versioned row: changes whenever ``updated_at`` does."""
    stamp = obj.updated_at.isoformat() if obj.updated_at else ""
    digest = hashlib.sha256(f"{type(obj).__name__}:{obj.id}:{stamp}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def check_version(obj: Any, *, expected_updated_at: datetime | None = None,
                  if_match: str | None = None) -> None:
    """Raise Conflict when the caller edited an older version of ``obj``.

    ``expected_updated_at`` is the ``updated_at`` the caller read; ``if_match`` an
    ``If-Match`` header value (one or more ETags, or ``*``). Neither given: no check.
    """
    if expected_updated_at is not None:
        current = obj.updated_at
        if expected_updated_at.tzinfo is None or current is None or \
                abs((current - expected_updated_at).total_seconds()) > 1e-6:
            raise Conflict(f"{type(obj).__name__.lower()} {obj.id} was changed by someone "
                           "else; reload it and try again",
                           {"expected_updated_at": ["does not match the stored version"]})
    if if_match is not None and if_match.strip() != "*":
        tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
        if etag_of(obj) not in tags:
            raise Conflict(f"{type(obj).__name__.lower()} {obj.id} was changed by someone "
                           "else; reload it and try again",
                           {"If-Match": ["does not match the current ETag"]})
