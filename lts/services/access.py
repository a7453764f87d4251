"""Who may see and change what, for the service layer; the aaa plugin decides.

Services receive the acting user explicitly (``actor``) instead of reading the request,
so the dashboard, the API, the CLI and tests call them alike. Every check goes through
the aaa plugin, so swapping the plugin swaps the policy, for lists as for single objects:

* :func:`load_owned` loads one object (pages and API alike): ids outside the database's
  integers, missing objects and other users' objects are the same NotFound;
* :func:`list_scope` asks the plugin whose objects a list may show
  (:meth:`~lts.plugins.aaa.base.AAAPlugin.visible_owner_ids`) and :func:`scoped` /
  :func:`owner_filter` turn that answer into SQL for every kind of list.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from lts.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from lts.extensions import db
from lts.models import Asset, AuditLog, Order, Portfolio, Position, Statistic, User, UserSession
from lts.models.backtest import BacktestRun
from lts.plugins.aaa import current_aaa
from lts.plugins.aaa.base import ADMIN_ACTION

T = TypeVar("T")

MAX_ID = 2**31 - 1  # ids beyond the database's integers are simply not found
# How an object appears in audit rows and messages (``token:7``); default: class name.
RESOURCE_NAMES: dict[type, str] = {UserSession: "token", BacktestRun: "backtest"}


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


def refuse_invalid_or_taken(errors: Mapping[str, Any], what: str, model: Any,
                            current_id: int | None, clash: Conflict, **same: Any) -> None:
    """Raise ValidationFailed naming ``errors``, else ``clash`` if a row holds ``same``.

    The create/update check of objects with a unique name in their scope (a portfolio's
    name per owner, an asset's symbol per portfolio): ``same`` are the column values
    another row of ``model`` must not share; the row being updated (``current_id``)
    does not count against itself.
    """
    if errors:
        raise ValidationFailed(f"the {what} is not valid", dict(errors))
    taken = select(model.id).filter_by(**same)
    if current_id is not None:
        taken = taken.where(model.id != current_id)
    if db.session.scalar(taken) is not None:
        raise clash


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


def resource_name(model: type) -> str:
    """The audit name of a model class (``portfolio``, ``token``...)."""
    return RESOURCE_NAMES.get(model, model.__name__.lower())


def is_valid_id(object_id: Any) -> bool:
    """Whether ``object_id`` is an id the database could hold (1..MAX_ID, not a bool)."""
    return isinstance(object_id, int) and not isinstance(object_id, bool) \
        and 0 < object_id <= MAX_ID


def check_id_filter(name: str, value: Any) -> None:
    """Refuse a list filter on an id the database cannot hold, naming the filter.

    Bound as a parameter, ``2**63`` would crash the query (a 500) on either database.
    """
    if value is not None and not is_valid_id(value):
        raise ValidationFailed("invalid filter", {name: [f"must be an id from 1 to {MAX_ID}"]})


def load_owned(model: type[T], object_id: Any, actor: User | None, action: str = "read",
               *, ip: str | None = None) -> T:
    """Return ``model`` ``object_id`` when ``actor`` may ``action`` it, else NotFound.

    The one loader of single objects, for services, pages and the API. Someone else's
    object is reported exactly like a missing one (and audited), so ids leak nothing;
    an id the database cannot hold (``2**63``) is not found without a query.
    """
    name = resource_name(model)
    obj = _load_with_owner(model, object_id) if is_valid_id(object_id) else None
    if obj is None:
        raise NotFound(f"{name} {object_id} not found")
    if not current_aaa().authorize(actor, f"{name}.{action}", obj):
        record(actor, "access.denied", f"{name}:{object_id}", {"action": action}, "denied",
               ip=ip)
        raise NotFound(f"{name} {object_id} not found")
    return obj


def _owner_path(model: type) -> tuple[Any, ...]:
    """The relationships from ``model`` up to the portfolio that carries its owner."""
    if model in (Order, Position):
        return (model.asset, Asset.portfolio)  # type: ignore[attr-defined]
    if model is Asset:
        return (Asset.portfolio,)
    return ()


# The columns of an owning parent the owner check needs (its id, its own parent's id).
_KEYS: dict[type, tuple[Any, ...]] = {Asset: (Asset.id, Asset.portfolio_id),
                                      Portfolio: (Portfolio.id, Portfolio.user_id)}


@functools.cache
def _owned_statement(model: type) -> Select[Any]:
    """One statement loading ``model`` by id with its owning chain (built once per model).

    The aaa plugin's owner check walks ``order.asset.portfolio``: loaded here in the same
    query instead of two lazy loads (three round trips for one order).
    """
    statement = select(model)
    path = _owner_path(model)
    if path:
        # Of the parents, only what the owner check reads (ids and the owner's id): the
        # rest of their columns load on first use, as a lazy load would have.
        loader = joinedload(path[0], innerjoin=True)
        for step in path[1:]:
            loader = loader.load_only(*_KEYS[step.property.parent.class_]).joinedload(
                step, innerjoin=True)
        statement = statement.options(loader.load_only(*_KEYS[Portfolio]))
    return statement.where(model.id == bindparam("object_id"))  # type: ignore[attr-defined]


def _load_with_owner(model: type[T], object_id: int) -> T | None:
    """``model`` ``object_id`` (or None), its owner chain loaded with it."""
    if not _owner_path(model):
        return db.session.get(model, object_id)
    return db.session.scalars(_owned_statement(model), {"object_id": object_id}).first()


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
            raise PreconditionFailed(f"{type(obj).__name__.lower()} {obj.id} was changed by "
                                     "someone else; reload it and try again",
                                     {"If-Match": ["does not match the current ETag"]})


@dataclass(frozen=True)
class Scope:
    """Whose objects a list may show, as the aaa plugin answered: ``owners`` None is all.

    ``shape`` (``all``, ``one``, ``many``) is what a cached statement depends on; the
    owner ids themselves are bind parameters (:meth:`params`), so one user's ids never
    end up in a statement cached for another's request.
    """

    kind: str
    owners: frozenset[int] | None

    @property
    def everything(self) -> bool:
        """Whether every owner's objects are visible (an administrator, by default)."""
        return self.owners is None

    @property
    def shape(self) -> str:
        """``all``, ``one`` (the common case: a user's own) or ``many`` (also none)."""
        if self.owners is None:
            return "all"
        return "one" if len(self.owners) == 1 else "many"

    def params(self) -> dict[str, Any]:
        """The bind parameters the clauses of :func:`owner_filter` (``bound``) expect."""
        if self.owners is None:
            return {}
        if len(self.owners) == 1:
            return {"owner_id": next(iter(self.owners))}
        return {"owner_ids": sorted(self.owners)}


def list_scope(actor: User | None, kind: str) -> Scope:
    """Ask the aaa plugin whose objects of ``kind`` ``actor`` may list."""
    owners = current_aaa().visible_owner_ids(actor, kind)
    return Scope(kind, None if owners is None else frozenset(int(o) for o in owners))


def user_condition(shape: str, column: Any, owners: frozenset[int] | None = None
                   ) -> ColumnElement[bool] | None:
    """``column`` (a user id) restricted to the owners in scope (None: no restriction).

    With ``owners`` the values are literal; without, bind parameters named as
    :meth:`Scope.params` names them.
    """
    if shape == "all":
        return None
    if owners is None:
        if shape == "one":
            return column == bindparam("owner_id")
        return column.in_(bindparam("owner_ids", expanding=True))
    if not owners:
        return false()
    return column.in_(sorted(owners)) if len(owners) > 1 else column == next(iter(owners))


def owner_filter(kind: str, shape: str, owners: frozenset[int] | None = None
                 ) -> ColumnElement[bool] | None:
    """The condition that keeps the rows of ``kind`` whose owner is in scope.

    Without ``owners`` the condition uses bind parameters (for statements built once
    per ``shape`` and cached); with them it carries the values. How each kind reaches
    its owning user is written here and only here.
    """
    user = user_condition(shape, Portfolio.user_id, owners)
    if user is None:
        return None
    portfolios = select(Portfolio.id).where(user)
    assets = select(Asset.id).where(Asset.portfolio_id.in_(portfolios))
    conditions: dict[str, Any] = {
        "portfolio": lambda: user,
        "asset": lambda: Asset.portfolio_id.in_(portfolios),
        "order": lambda: Order.asset_id.in_(assets),
        "position": lambda: Position.asset_id.in_(assets),
        "statistic": lambda: or_(Statistic.portfolio_id.in_(portfolios),
                                 Statistic.asset_id.in_(assets)),
        "token": lambda: user_condition(shape, UserSession.user_id, owners),
        "audit": lambda: user_condition(shape, AuditLog.user_id, owners),
        "user": lambda: user_condition(shape, User.id, owners),
    }
    return conditions[kind]()  # type: ignore[no-any-return]


def scoped(statement: Select[Any], actor: User | None, kind: str) -> Select[Any]:
    """``statement`` (rows of ``kind``) limited to what ``actor`` may see.

    The list helper of every service: swapping the aaa plugin changes every list.
    """
    scope = list_scope(actor, kind)
    condition = owner_filter(kind, scope.shape, scope.owners)
    return statement if condition is None else statement.where(condition)
