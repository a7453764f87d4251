"""Pages of query results: one clamped page size, a total, stable ordering by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from lts.extensions import db

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


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


def paginate(statement: Select[Any], page: int | None = 1, per_page: int | None = None,
             *, key: Any = None) -> Page[Any]:
    """Run ``statement`` (already ordered, ending in a unique key) for one page.

    The total counts the same filtered rows; ``statement`` must select one entity.
    With ``key`` (the entity's primary-key column) the page is found on ids alone and
    only its rows are then loaded: sorting thousands of narrow index entries instead
    of whole rows makes a deep table's page several times faster on SQLite.
    """
    page, per_page = clamp(page, per_page)
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    total = int(db.session.scalar(counted) or 0)
    window = statement.limit(per_page).offset((page - 1) * per_page)
    if key is None:
        items = list(db.session.scalars(window))
    else:
        ids = list(db.session.scalars(window.with_only_columns(key)))
        rows = {row.id: row for row in db.session.scalars(
            select(key.class_).where(key.in_(ids)))} if ids else {}
        items = [rows[i] for i in ids if i in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)
