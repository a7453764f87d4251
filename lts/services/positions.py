"""Positions: filtered, paginated lists, one position, and closing one at market."""

from __future__ import annotations

from datetime import datetime

from lts.database import write_transaction
from lts.errors import Conflict
from lts.extensions import db
from lts.models import Position, User
from lts.models.enums import POSITION_SIDES, POSITION_STATUSES
from lts.models.sorting import POSITION_SORTS
from lts.services.access import load_owned, record
from lts.services.listing import ListShape, list_page
from lts.services.orders import ManualOrderResult
from lts.services.pagination import Page
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
    return list_page(shape, params, page=page, per_page=per_page, cursor=cursor)


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
