"""Filter, sort and page state of an HTMX table, read from the query string."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import request, url_for


@dataclass(frozen=True)
class TableState:
    """What a table shows: filters, sort column and direction, page; builds its links.

    ``target`` is the id of the element a sort or page link swaps; ``endpoint`` and
    ``view_args`` give the URL the links point at (the page itself).
    """

    endpoint: str
    target: str
    sort: str
    direction: str
    page: int
    filters: dict[str, str] = field(default_factory=dict)
    view_args: dict[str, Any] = field(default_factory=dict)

    def url(self, **changes: Any) -> str:
        """The page URL with these filters and ``changes`` applied (empty values dropped)."""
        params: dict[str, Any] = {**self.filters, "sort": self.sort,
                                  "direction": self.direction, "page": self.page}
        params.update(changes)
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return url_for(self.endpoint, **self.view_args, **params)

    def arg(self, name: str) -> str:
        """One filter's value ("" when unset)."""
        return self.filters.get(name, "")


def table_state(endpoint: str, target: str, filter_names: tuple[str, ...],
                default_sort: str, **view_args: Any) -> TableState:
    """Read the table state from ``request.args``; unknown values are checked by services."""
    args = request.args
    filters = {name: args.get(name, "").strip() for name in filter_names
               if args.get(name, "").strip()}
    direction = args.get("direction", "desc")
    return TableState(endpoint=endpoint, target=target,
                      sort=args.get("sort", default_sort) or default_sort,
                      direction=direction if direction in ("asc", "desc") else "desc",
                      page=max(args.get("page", 1, type=int) or 1, 1),
                      filters=filters, view_args=view_args)
