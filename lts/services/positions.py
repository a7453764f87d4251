"""Positions: filtered, paginated lists, one position, and closing one at market."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import select

from lts.database import write_transaction
from lts.errors import Conflict
from lts.extensions import db
from lts.models import Position, User
from lts.models.enums import POSITION_SIDES, POSITION_STATUSES
from lts.models.sorting import POSITION_SORTS
from lts.services.access import load_owned, record
from lts.services.listing import ListShape, cursor_column, ordered, scoped_list
from lts.services.orders import ManualOrderResult
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
from lts.trading import manual


def list_positions(actor: User, *, portfolio_id: int | None = None,
                   asset_id: int | None = None, status: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   side: str | None = None, sort: str = "opened_at", direction: str = "desc",
                   page: int | None = 1, per_page: int | None = None,
                   updated_since: datetime | None = None, cursor: str | None = None
                   ) -> Page[Position]:
    """Positions the actor may see, filtered; newest opened first unless ``sort`` says.

    ``sort`` is one of POSITION_SORTS; the id always breaks ties, so pages are stable.
    ``updated_since`` (``updated_at >=``) finds what changed since a client last looked;
    ``cursor`` (a page's ``next_cursor``) gives the page after it instead of ``page``.
    """
    shape, params = ListShape.of(actor, {
        "portfolio_id": portfolio_id, "asset_id": asset_id, "status": status, "side": side,
        "since": since, "until": until, "updated_since": updated_since}, sort, direction,
        kind="position", statuses=POSITION_STATUSES, sides=POSITION_SIDES,
        sorts=POSITION_SORTS)
    column = cursor_column(POSITION_SORTS, "positions", sort, cursor)
    if cursor is not None:
        at = decode_cursor(cursor, sort=sort, direction=direction)
        return run_cursor_page(_position_cursor_list(shape), params, at, per_page, column)
    found = run_page(_position_list(shape), params, page, per_page)
    return with_next_cursor(found, sort, direction, column) if column else found


@functools.lru_cache(maxsize=256)
def _position_cursor_list(shape: ListShape) -> PageQuery:
    """The statements of one shape of position list paged by cursor (built once)."""
    statement = scoped_list(select(Position), Position, Position.opened_at, shape)
    statement = ordered(statement, POSITION_SORTS, shape.sort, shape.direction, Position.id)
    return cursor_query(statement, POSITION_SORTS[shape.sort], Position.id, shape.direction,
                        key=Position.id)


@functools.lru_cache(maxsize=256)
def _position_list(shape: ListShape) -> PageQuery:
    """The statements of one shape of position list (built once, see ListShape)."""
    statement = scoped_list(select(Position), Position, Position.opened_at, shape)
    return page_query(ordered(statement, POSITION_SORTS, shape.sort, shape.direction,
                              Position.id), key=Position.id)


def get_position(actor: User, position_id: int, *, ip: str | None = None) -> Position:
    """One position the actor may see; NotFound otherwise."""
    return load_owned(Position, position_id, actor, "read", ip=ip)


def close_position(actor: User, position_id: int, *, now: datetime | None = None,
                   ip: str | None = None) -> ManualOrderResult:
    """Close an open position at market through its broker (a manual closing order)."""
    position = load_owned(Position, position_id, actor, "close", ip=ip)
    if position.status != "open":
        # A state conflict (409), not bad input: the same request was fine a moment ago.
        raise Conflict("the position is already closed", {"position": ["is not open"]})
    db.session.commit()  # the engine path refuses an open transaction
    placed = manual.close_position(position.id, user_id=actor.id, now=now)
    result = ManualOrderResult.of(placed)
    with write_transaction(db.session()):  # IMMEDIATE, as for manual orders
        record(actor, "position.close", f"position:{position_id}",
               {"client_order_id": result.client_order_id, "status": result.status,
                "rejected_by": result.rejected_by}, result.outcome, ip=ip, commit=False)
    return result
