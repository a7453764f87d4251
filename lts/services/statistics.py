"""Statistics series for charts: scoped to the actor, downsampled on the server.

Keys name their owner (``portfolio.<id>.equity``, ``asset.<id>.unrealized_pnl``); a
user may read the keys of their own portfolios and assets, admins every key
(``loop.tick_seconds``...). A series never has more than ``max_points`` points: rows
are averaged per time bucket in SQL, so a chart gets at most ~1,000 points whatever
the range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select

from lts.errors import Forbidden, ValidationFailed
from lts.extensions import db
from lts.list_limits import MAX_POINTS
from lts.models import Asset, Portfolio, Statistic, User
from lts.services.access import is_admin, load_owned, record
from lts.services.orders import check_range

OWNED_KEY = re.compile(r"^(portfolio|asset)\.(\d+)\.[A-Za-z0-9_.\-]+$")
BUCKET = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Series:
    """Points of one key: ``(timestamp, value)`` pairs, oldest first.

    ``bucket_seconds`` is 0 for raw rows, else the width each point averages (its
    timestamp is the bucket's start).
    """

    key: str
    points: list[tuple[datetime, float]]
    bucket_seconds: int
    raw_count: int


def parse_bucket(bucket: str | int | None) -> int | None:
    """Seconds in ``bucket`` (``300``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``); None: auto."""
    if bucket is None or bucket == "":
        return None
    if isinstance(bucket, int) and not isinstance(bucket, bool):
        seconds = bucket
    else:
        text = str(bucket).strip().lower()
        match = BUCKET.match(text)
        if text.isdigit():
            seconds = int(text)
        elif match:
            seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        else:
            raise ValidationFailed("invalid bucket", {"bucket": [
                "seconds, or a number with s, m, h or d (e.g. 5m)"]})
    if not 1 <= seconds <= 366 * 86400:
        raise ValidationFailed("invalid bucket", {"bucket": ["must be 1 s to 366 days"]})
    return seconds


def check_key_access(actor: User, key: str, *, ip: str | None = None) -> None:
    """Raise NotFound/Forbidden unless the actor may read series ``key``."""
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValidationFailed("invalid key", {"key": ["must be a statistics key"]})
    match = OWNED_KEY.match(key)
    if match:
        model = Portfolio if match.group(1) == "portfolio" else Asset
        load_owned(model, int(match.group(2)), actor, "read", ip=ip)
        return
    if not is_admin(actor):
        record(actor, "access.denied", f"statistic:{key}", {"action": "read"}, "denied", ip=ip)
        raise Forbidden("only administrators may read this series")


def _epoch(dialect: str) -> Any:
    """SQL for the epoch seconds of Statistic.timestamp on this database."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", Statistic.timestamp), Integer)
    return func.extract("epoch", Statistic.timestamp)


def get_series(actor: User, key: str, *, since: datetime | None = None,
               until: datetime | None = None, bucket: str | int | None = None,
               max_points: int = MAX_POINTS, ip: str | None = None) -> Series:
    """The series ``key`` in ``[since, until)``, averaged per bucket when needed.

    Without ``bucket`` the rows come raw while there are at most ``max_points`` of them;
    otherwise (or when ``bucket`` would still give too many points) the bucket widens
    so that the answer has at most ``max_points`` points.
    """
    check_key_access(actor, key, ip=ip)
    check_range(since, until)
    seconds = parse_bucket(bucket)
    max_points = max(1, min(int(max_points), MAX_POINTS))
    conditions = [Statistic.key == key]
    if since is not None:
        conditions.append(Statistic.timestamp >= since)
    if until is not None:
        conditions.append(Statistic.timestamp < until)
    count, first, last = db.session.execute(
        select(func.count(Statistic.id), func.min(Statistic.timestamp),
               func.max(Statistic.timestamp)).where(*conditions)).one()
    count = int(count or 0)
    if count == 0:
        return Series(key=key, points=[], bucket_seconds=seconds or 0, raw_count=0)
    if seconds is None and count <= max_points:
        rows = db.session.execute(select(Statistic.timestamp, Statistic.value)
                                  .where(*conditions)
                                  .order_by(Statistic.timestamp, Statistic.id)).all()
        return Series(key=key, points=[(ts, float(v)) for ts, v in rows], bucket_seconds=0,
                      raw_count=count)
    first_ts = _as_utc(first)
    last_ts = _as_utc(last)
    span = max((last_ts - first_ts).total_seconds(), 0.0)
    needed = max(1, math.ceil((span + 1) / max_points))
    seconds = max(seconds or 0, needed)
    epoch = _epoch(db.session.get_bind().dialect.name)
    slot = cast(func.floor(epoch / seconds), Integer)
    rows = db.session.execute(select(slot.label("slot"), func.avg(Statistic.value))
                              .where(*conditions).group_by(slot).order_by(slot)).all()
    points = [(datetime.fromtimestamp(int(s) * seconds, UTC), float(v)) for s, v in rows]
    return Series(key=key, points=points[-max_points:], bucket_seconds=seconds,
                  raw_count=count)


def _as_utc(value: Any) -> datetime:
    """A min/max timestamp as an aware UTC datetime (SQLite's aggregate gives text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def list_keys(actor: User, prefix: str | None = None, limit: int = 500) -> list[str]:
    """Distinct series keys the actor may read (optionally starting with ``prefix``)."""
    statement = select(Statistic.key).distinct().order_by(Statistic.key)
    if prefix:
        statement = statement.where(Statistic.key.startswith(prefix, autoescape=True))
    keys = list(db.session.scalars(statement.limit(limit * 4)))
    if is_admin(actor):
        return keys[:limit]
    portfolios = set(db.session.scalars(select(Portfolio.id).where(
        Portfolio.user_id == actor.id)))
    assets = set(db.session.scalars(select(Asset.id).where(
        Asset.portfolio_id.in_(portfolios)))) if portfolios else set()
    visible = []
    for key in keys:
        match = OWNED_KEY.match(key)
        if match and int(match.group(2)) in (
                portfolios if match.group(1) == "portfolio" else assets):
            visible.append(key)
    return visible[:limit]
