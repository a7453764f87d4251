"""Pages of query results: one clamped page size, a total, stable ordering by the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, func

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

    @property
    def pages(self) -> int:
        """Number of pages (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
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


def page_query(statement: Select[Any], *, key: Any = None, rows: bool = False) -> PageQuery:
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
    objects into the session.
    """
    window = statement.limit(bindparam("page_limit")).offset(bindparam("page_offset"))
    if key is not None:
        window = statement.where(key.in_(window.with_only_columns(
            key, maintain_column_froms=True)))
    if rows:
        table = statement.column_descriptions[0]["entity"].__table__
        window = window.with_only_columns(*table.columns, maintain_column_froms=True)
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
