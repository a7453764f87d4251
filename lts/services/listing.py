"""List helpers of every paged list (orders, positions, statistics, audit).

The order and position lists run through one function (:func:`list_page`): they differ
only in their table, time column and sorts (:data:`LIST_KINDS`).

One place for what each list used to repeat: a filter value outside its choices, an
unknown sort column or a naive/empty time range is a ValidationFailed naming the field;
the sort always ends on the unique id, so pages never overlap; and a hot list's SQL is
keyed by its :class:`ListShape` (never by values), so its statements are built once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select

from lts.errors import ValidationFailed
from lts.models import Asset, Order, Portfolio, Position, User
from lts.models.sorting import ORDER_SORTS, POSITION_SORTS
from lts.services.access import check_id_filter, list_scope, user_condition
from lts.services.pagination import (
    Page,
    PageQuery,
    cursor_query,
    decode_cursor,
    page_query,
    run_cursor_page,
    run_page,
    with_next_cursor,
)

# Filters an order or position list may carry, in the order their bind parameters are
# named; which of them a request sets is part of the list's shape (see ListShape).
LIST_FILTERS = ("portfolio_id", "asset_id", "status", "side", "since", "until",
                "client_order_id", "source", "updated_since")


@dataclass(frozen=True)
class ListShape:
    """What decides the SQL of an order/position list, and nothing that varies with values.

    The statements of a shape are built once and cached (see
    :func:`lts.services.pagination.page_query`); the request's values (the actor's id,
    the filters) are bound at run time, from the parameters :meth:`of` returns. Keeping
    values out of the shape is what makes the cache safe: a statement can never carry
    one user's id into another's request.
    """

    kind: str
    scope: str
    filters: tuple[str, ...]
    sort: str
    direction: str

    @classmethod
    def of(cls, actor: User, values: dict[str, Any], sort: str, direction: str, *,
           kind: str, statuses: tuple[str, ...], sides: tuple[str, ...],
           sorts: dict[str, Any]) -> tuple[ListShape, dict[str, Any]]:
        """The shape of a request and its bind parameters, once its values are checked.

        Each filter and the sort must be one of the list's choices and the time range
        must be aware and not empty: ValidationFailed names the offending filter.
        """
        check_id_filter("portfolio_id", values.get("portfolio_id"))
        check_id_filter("asset_id", values.get("asset_id"))
        check_choice("status", values.get("status"), statuses)
        check_choice("side", values.get("side"), sides)
        check_range(values.get("since"), values.get("until"))
        check_sort(sorts, sort, direction)
        filters = tuple(name for name in LIST_FILTERS if values.get(name) is not None)
        scope = list_scope(actor, kind)
        params = {name: values[name] for name in filters} | scope.params()
        return cls(kind=kind, scope=scope.shape, filters=filters, sort=sort,
                   direction=direction), params


def scoped_list(statement: Select[Any], model: Any, time_column: Any, shape: ListShape
                ) -> Select[Any]:
    """Restrict a statement over ``model`` (a table with ``asset_id``) to the shape.

    Rows outside the actor's scope (:func:`lts.services.access.list_scope`) are left
    out: the owner is compared on the joined portfolio, the SQL these lists always ran
    (cheaper than :func:`~lts.services.access.owner_filter`'s subqueries on the API's
    hottest list). Every filter of the shape compares with the bind parameter of its
    name, the time range being ``[since, until)`` on ``time_column``.
    """
    column = model.asset_id
    statement = statement.join(Asset, Asset.id == column)
    visible = user_condition(shape.scope, Portfolio.user_id)
    if visible is not None:
        statement = statement.join(Portfolio, Portfolio.id == Asset.portfolio_id).where(
            visible)
    conditions = {"portfolio_id": lambda: Asset.portfolio_id == bindparam("portfolio_id"),
                  "asset_id": lambda: column == bindparam("asset_id"),
                  "status": lambda: model.status == bindparam("status"),
                  "side": lambda: model.side == bindparam("side"),
                  "since": lambda: time_column >= bindparam("since"),
                  "until": lambda: time_column < bindparam("until"),
                  # Orders only (positions have no such filters):
                  "client_order_id": lambda: model.client_order_id == bindparam(
                      "client_order_id"),
                  "source": lambda: model.source == bindparam("source"),
                  "updated_since": lambda: model.updated_at >= bindparam("updated_since")}
    for name in shape.filters:
        statement = statement.where(conditions[name]())
    return statement


DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True)
class ListKind:
    """What differs between the order and the position lists: the table and its columns."""

    model: Any
    time_column: Any  # what since/until compare with
    sorts: dict[str, Any]
    table: str


LIST_KINDS = {
    "order": ListKind(Order, Order.created_at, ORDER_SORTS, "orders"),
    "position": ListKind(Position, Position.opened_at, POSITION_SORTS, "positions"),
}


def list_page(shape: ListShape, params: dict[str, Any], *, page: int | None,
              per_page: int | None, cursor: str | None, rows: bool = False,
              omit: tuple[str, ...] = ()) -> Page[Any]:
    """One page of an order or position list of ``shape`` (``cursor``: the page after it).

    A page by number carries the ``next_cursor`` of its sort when that sort can page
    by cursor. ``rows``/``omit``: column mappings instead of ORM objects, less ``omit``.
    """
    kind = LIST_KINDS[shape.kind]
    column = cursor_column(kind.sorts, kind.table, shape.sort, cursor)
    if cursor is not None:
        at = decode_cursor(cursor, sort=shape.sort, direction=shape.direction)
        return run_cursor_page(list_query(shape, rows, omit, by_cursor=True), params, at,
                               per_page, column)
    found = run_page(list_query(shape, rows, omit), params, page, per_page)
    return with_next_cursor(found, shape.sort, shape.direction, column) if column else found


@functools.lru_cache(maxsize=512)
def list_query(shape: ListShape, rows: bool = False, omit: tuple[str, ...] = (), *,
               by_cursor: bool = False) -> PageQuery:
    """The statements of one shape of list, built once (see :class:`ListShape`)."""
    kind = LIST_KINDS[shape.kind]
    model = kind.model
    statement = scoped_list(select(model), model, kind.time_column, shape)
    statement = ordered(statement, kind.sorts, shape.sort, shape.direction, model.id)
    if by_cursor:
        return cursor_query(statement, kind.sorts[shape.sort], model.id, shape.direction,
                            key=model.id, rows=rows, omit=omit)
    return page_query(statement, key=model.id, rows=rows, omit=omit)


def _cursor_sorts(columns: dict[str, Any], table: str) -> dict[str, str]:
    """``sort name -> column name`` of the sorts a cursor can page: on ``table``, NOT NULL."""
    found = {}
    for name, attribute in columns.items():
        column = attribute.property.columns[0]
        if column.table.name == table and not column.nullable:
            found[name] = column.key
    return found


def cursor_column(columns: dict[str, Any], table: str, sort: str, cursor: str | None
                  ) -> str | None:
    """The column a cursor of ``sort`` reads (None: this sort pages by number only).

    A cursor needs the sort value on the row itself and never NULL (NULLs order
    differently in SQLite and PostgreSQL): a joined column (``symbol``) or a nullable
    one (``closed_at``) pages by number; asked for a cursor, it is a 422 naming it.
    """
    usable = _cursor_sorts(columns, table)
    if sort in usable:
        return usable[sort]
    if cursor is not None:
        raise ValidationFailed("invalid cursor", {"cursor": [
            f"paging by cursor needs sort to be one of {', '.join(usable)}"]})
    return None


def check_sort(columns: dict[str, Any], sort: str, direction: str) -> None:
    """Refuse a sort column outside ``columns`` or a direction other than asc/desc."""
    errors = {}
    if sort not in columns:
        errors["sort"] = [f"must be one of {', '.join(columns)}"]
    if direction not in DIRECTIONS:
        errors["direction"] = ["must be asc or desc"]
    if errors:
        raise ValidationFailed("invalid sort", errors)


def ordered(statement: Select[Any], columns: dict[str, Any], sort: str, direction: str,
            unique: Any) -> Select[Any]:
    """ORDER BY one allowed column then the id (same direction), so pages never overlap."""
    check_sort(columns, sort, direction)
    column = columns[sort]
    if direction == "desc":
        return statement.order_by(column.desc(), unique.desc())
    return statement.order_by(column.asc(), unique.asc())


def check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse a filter value outside ``allowed``, naming the filter."""
    if value is not None and value not in allowed:
        raise ValidationFailed("invalid filter", {name: [f"must be one of {', '.join(allowed)}"]})


def check_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse naive datetimes and an empty range."""
    errors = {}
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            errors[name] = ["must carry a time zone (ISO-8601 with Z or an offset)"]
    if not errors and since is not None and until is not None and since > until:
        errors["until"] = ["must not be before since"]
    if errors:
        raise ValidationFailed("invalid time range", errors)
