"""Pages of query results: one clamped page size, a total, stable ordering by the caller.

Two ways to a page: a page number (the dashboard's pager: an offset, so rows inserted
before it shift what the next page shows) and a cursor (``?cursor=``: the page after
the last row seen, by its sort value and id, so inserts elsewhere never make a
client skip or repeat a row). The cursor is opaque to clients: base64 of that
``(sort, direction, value, id)``, checked against the request's own sort.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, bindparam, func, or_

from lts.errors import ValidationFailed
from lts.extensions import db
from lts.list_limits import DEFAULT_PER_PAGE, MAX_PER_PAGE

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and what is needed to draw a pager or build links."""

    items: list[T]
    page: int
    per_page: int
    total: int
    #: The cursor of the page after this one (None: this is the last page, or the
    #: list's sort cannot be paged by cursor).
    next_cursor: str | None = None
    #: Whether this page was found by cursor (it then has no page number).
    by_cursor: bool = False

    @property
    def pages(self) -> int:
        """Number of pages (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1 and not self.by_cursor

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        if self.by_cursor:
            return self.next_cursor is not None
        return self.page < self.pages


def clamp(page: int | None, per_page: int | None) -> tuple[int, int]:
    """Return ``page`` >= 1 and ``1 <= per_page <= MAX_PER_PAGE`` (defaults for None)."""
    page = max(int(page or 1), 1)
    per_page = min(max(int(per_page or DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    return page, per_page


def _dicts(result: Any) -> list[dict[str, Any]]:
    """The rows of a Core result as plain dicts (cheapest to read and to dump)."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _counting(statement: Select[Any]) -> Select[Any]:
    """``SELECT count(*) FROM <same joins> WHERE <same filters>``.

    No ORDER BY, no subquery, so SQLite answers from the indexes alone.
    """
    return statement.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)


@dataclass(frozen=True)
class PageQuery:
    """A list's count and page statements, built once per shape of the list.

    SQLAlchemy spends as long building and keying a statement with its joins, filters,
    count and window (~0.4 ms) as SQLite spends answering it; a list whose filters
    are bind parameters (``bindparam("user_id")``) has a handful of shapes, so each
    is built once (see :func:`page_query`) and run with that request's values.
    The page statement takes ``page_limit`` and ``page_offset`` besides the list's own.
    """

    count: Select[Any]
    page: Select[Any]
    rows: bool


def page_query(statement: Select[Any], *, key: Any = None, rows: bool = False,
               omit: tuple[str, ...] = (), extra: tuple[Any, ...] = ()) -> PageQuery:
    """The :class:`PageQuery` of ``statement`` (one entity, ordered, ending in a unique key).

    ``statement`` must hold no literal values that differ between callers: build it
    from bind parameters only, in a function whose arguments are the list's shape.
    With ``key`` (the entity's primary-key column) the page is found on ids alone, in
    a subquery, and only its rows are then read: sorting thousands of narrow index
    entries instead of whole rows makes a deep table's page several times faster on
    SQLite, and one statement (``... AND id IN (SELECT id ... LIMIT n)``, same ORDER
    BY) costs one round trip and no IN list to expand.

    ``rows=True`` reads the entity's columns as read-only dicts (same values and types,
    no ORM objects): what the JSON API dumps, at a fraction of the cost of hydrating
    objects into the session. ``omit`` leaves those columns out of the rows (not read);
    ``extra`` (labelled column expressions, e.g. correlated subqueries) are read
    beside them, in the same statement.
    """
    window = statement.limit(bindparam("page_limit")).offset(bindparam("page_offset"))
    if key is not None:
        window = statement.where(key.in_(window.with_only_columns(
            key, maintain_column_froms=True)))
    if rows:
        table = statement.column_descriptions[0]["entity"].__table__
        window = window.with_only_columns(
            *(column for column in table.columns if column.key not in omit), *extra,
            maintain_column_froms=True)
    return PageQuery(count=_counting(statement), page=window, rows=rows)


def run_page(query: PageQuery, params: Mapping[str, Any], page: int | None = 1,
             per_page: int | None = None) -> Page[Any]:
    """One page of ``query`` with the list's bind ``params``; an empty page skips its query.

    ORM pages go through the session (pending changes are flushed first, objects land
    in the identity map); ``rows`` pages read on the session's connection, in the same
    transaction, without the ORM's per-statement work.
    """
    page, per_page = clamp(page, per_page)
    run = db.session.connection().execute if query.rows else db.session.execute
    total = int(run(query.count, params).scalar() or 0)
    if total == 0 or (page - 1) * per_page >= total:
        return Page(items=[], page=page, per_page=per_page, total=total)
    values = {**params, "page_limit": per_page, "page_offset": (page - 1) * per_page}
    result = run(query.page, values)
    items = _dicts(result) if query.rows else list(result.scalars())
    return Page(items=items, page=page, per_page=per_page, total=total)


def paginate(statement: Select[Any], page: int | None = 1, per_page: int | None = None,
             *, key: Any = None, rows: bool = False) -> Page[Any]:
    """Run ``statement`` for one page: :func:`page_query` then :func:`run_page`.

    For lists that are not hot enough to keep their statements (literal values are
    fine here: nothing is kept).
    """
    return run_page(page_query(statement, key=key, rows=rows), {}, page, per_page)


# ------------------------------------------------------------------------- cursors

CURSOR_VALUE = "cursor_value"
CURSOR_ID = "cursor_id"


@dataclass(frozen=True)
class Cursor:
    """Where a cursor page starts: after the row with this sort value and id."""

    sort: str
    direction: str
    value: Any
    id: int


def encode_cursor(sort: str, direction: str, value: Any, row_id: int) -> str:
    """The opaque text of a cursor (base64url of a small JSON, no padding)."""
    kind = "dt" if isinstance(value, datetime) else "raw"
    shown = value.isoformat() if isinstance(value, datetime) else value
    text = json.dumps([sort, direction, kind, shown, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str, *, sort: str, direction: str) -> Cursor:
    """Read a cursor of this sort and direction; ValidationFailed naming ``cursor`` if not."""
    try:
        padded = text + "=" * (-len(text) % 4)
        loaded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        c_sort, c_direction, kind, value, row_id = loaded
        if kind == "dt":
            value = datetime.fromisoformat(value)
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError("id")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", {"cursor": [
            "is not a cursor this API gave (use next_cursor as it is)"]}) from None
    if (c_sort, c_direction) != (sort, direction):
        raise ValidationFailed("invalid cursor", {"cursor": [
            f"was made for sort={c_sort}&direction={c_direction}: keep the same sort"]})
    return Cursor(sort=sort, direction=direction, value=value, id=row_id)


def after_cursor(statement: Select[Any], column: Any, unique: Any, direction: str
                 ) -> Select[Any]:
    """Rows after ``(cursor_value, cursor_id)`` in ``(column, unique)`` order (bound later).

    Spelled with OR/AND rather than a row-value comparison: both SQLite and PostgreSQL
    use the (column, id) index for it.
    """
    value, row_id = bindparam(CURSOR_VALUE), bindparam(CURSOR_ID)
    if direction == "desc":
        return statement.where(or_(column < value, and_(column == value, unique < row_id)))
    return statement.where(or_(column > value, and_(column == value, unique > row_id)))


def cursor_query(statement: Select[Any], column: Any, unique: Any, direction: str, *,
                 key: Any = None, rows: bool = False, omit: tuple[str, ...] = ()
                 ) -> PageQuery:
    """A :class:`PageQuery` whose page starts after a cursor, counting the whole list."""
    paged = page_query(after_cursor(statement, column, unique, direction), key=key, rows=rows,
                       omit=omit)
    return dataclasses.replace(paged, count=_counting(statement))


def _value_of(item: Any, name: str) -> Any:
    """A column's value on a row mapping or an ORM object."""
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def next_cursor_of(items: list[Any], sort: str, direction: str, column_name: str) -> str:
    """The cursor continuing after the last of ``items``."""
    last = items[-1]
    return encode_cursor(sort, direction, _value_of(last, column_name), _value_of(last, "id"))


def run_cursor_page(query: PageQuery, params: Mapping[str, Any], cursor: Cursor,
                    per_page: int | None, column_name: str) -> Page[Any]:
    """The page after ``cursor`` of a :func:`cursor_query`; one row more tells if it ends."""
    _, per_page = clamp(1, per_page)
    run = db.session.connection().execute if query.rows else db.session.execute
    total = int(run(query.count, params).scalar() or 0)
    values = {**params, "page_limit": per_page + 1, "page_offset": 0,
              CURSOR_VALUE: cursor.value, CURSOR_ID: cursor.id}
    result = run(query.page, values)
    items = _dicts(result) if query.rows else list(result.scalars())
    following = next_cursor_of(items[:per_page], cursor.sort, cursor.direction,
                               column_name) if len(items) > per_page else None
    return Page(items=items[:per_page], page=1, per_page=per_page, total=total,
                next_cursor=following, by_cursor=True)


def with_next_cursor(page: Page[Any], sort: str, direction: str, column_name: str
                     ) -> Page[Any]:
    """A page-number page with the cursor of the page after it (a client may switch)."""
    if not page.has_next or not page.items:
        return page
    return dataclasses.replace(page, next_cursor=next_cursor_of(page.items, sort, direction,
                                                                column_name))
