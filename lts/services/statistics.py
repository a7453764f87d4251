"""Statistics series for charts: scoped to the actor, downsampled on the server.

Rows carry the portfolio or asset they belong to (``portfolio_id``, ``asset_id``);
reading a series asks the aaa plugin about that owner, listing keys filters by the
list scope (:mod:`lts.services.access`). Key names are never parsed for it (they live
in :mod:`lts.models.statistic_keys`). Rows without an owner (``loop.tick_seconds``)
are for those who see everything (administrators). A series never has more than
``max_points`` points: rows are averaged per time bucket in SQL, so a chart gets at
most ~1,000 points whatever the range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select

from lts.errors import Forbidden, NotFound, ValidationFailed
from lts.extensions import db
from lts.list_limits import MAX_POINTS
from lts.models import Asset, Portfolio, Statistic, User
from lts.models.statistic_keys import GLOBAL_SERIES, KEY_MAX_LENGTH, portfolio_key
from lts.services.access import list_scope, load_owned, record, scoped
from lts.services.listing import check_range
from lts.services.pagination import decode_cursor, encode_cursor

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
    #: Raw paging (``raw=True``): the cursor of the rows after these, None at the end.
    next_cursor: str | None = None


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


def check_key_access(actor: User, key: str, *, ip: str | None = None) -> Any:
    """The condition selecting the rows of ``key`` the actor may read, or an error.

    The owner comes from the rows' ids: the portfolio or asset is loaded like any
    owned object (someone else's is NotFound, audited); rows without an owner need
    the whole scope (else Forbidden, as the loop's series always are). Any other key
    without rows is NotFound to those who do not see everything, so a name says
    nothing about other users' series.
    """
    if not isinstance(key, str) or not key or len(key) > KEY_MAX_LENGTH:
        raise ValidationFailed("invalid key", {"key": ["must be a statistics key"]})
    rows, portfolio_id, asset_id = db.session.execute(
        select(func.count(Statistic.id), func.max(Statistic.portfolio_id),
               func.max(Statistic.asset_id)).where(Statistic.key == key)).one()
    if asset_id is not None:
        load_owned(Asset, int(asset_id), actor, "read", ip=ip)
        return Statistic.asset_id == int(asset_id)
    if portfolio_id is not None:
        load_owned(Portfolio, int(portfolio_id), actor, "read", ip=ip)
        return Statistic.portfolio_id == int(portfolio_id)
    if list_scope(actor, "statistic").everything:
        return Statistic.key == key
    if not rows and key not in GLOBAL_SERIES:
        raise NotFound(f"no statistics series {key}")
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
    owned = check_key_access(actor, key, ip=ip)
    return _series(key, [Statistic.key == key, owned], since=since, until=until,
                   bucket=bucket, max_points=max_points)


def read_series(actor: User, key: str, *, since: datetime | None = None,
                until: datetime | None = None, bucket: str | int | None = None,
                max_points: int = MAX_POINTS, raw: bool = False, cursor: str | None = None,
                ip: str | None = None) -> Series:
    """``GET /statistics``: averaged (:func:`get_series`) or, with ``raw``, raw by cursor.

    ``bucket`` only averages and ``cursor`` only pages raw rows: mixing them is a
    ValidationFailed naming the field.
    """
    if raw and bucket is not None:
        raise ValidationFailed("invalid filter", {"bucket": ["cannot be used with raw"]})
    if not raw and cursor is not None:
        raise ValidationFailed("invalid filter", {"cursor": ["needs raw=true"]})
    if raw:
        return raw_series(actor, key, since=since, until=until, cursor=cursor,
                          max_points=max_points, ip=ip)
    return get_series(actor, key, since=since, until=until, bucket=bucket,
                      max_points=max_points, ip=ip)


def raw_series(actor: User, key: str, *, since: datetime | None = None,
               until: datetime | None = None, cursor: str | None = None,
               max_points: int = MAX_POINTS, ip: str | None = None) -> Series:
    """The raw rows of ``key``, oldest first, ``max_points`` at a time, by cursor.

    For a client copying a series: each answer's ``next_cursor`` gives the rows after
    its last one (by timestamp, then id), so rows written meanwhile are neither skipped
    nor repeated; None when no row follows (yet).
    """
    owned = check_key_access(actor, key, ip=ip)
    check_range(since, until)
    max_points = max(1, min(int(max_points), MAX_POINTS))
    conditions = [Statistic.key == key, owned]
    if since is not None:
        conditions.append(Statistic.timestamp >= since)
    if until is not None:
        conditions.append(Statistic.timestamp < until)
    total = int(db.session.scalar(select(func.count(Statistic.id)).where(*conditions)) or 0)
    statement = select(Statistic.id, Statistic.timestamp, Statistic.value).where(*conditions)
    if cursor is not None:
        at = decode_cursor(cursor, sort="timestamp", direction="asc")
        statement = statement.where(or_(
            Statistic.timestamp > at.value,
            and_(Statistic.timestamp == at.value, Statistic.id > at.id)))
    rows = db.session.execute(statement.order_by(Statistic.timestamp, Statistic.id)
                              .limit(max_points + 1)).all()
    following = None
    if len(rows) > max_points:
        last = rows[max_points - 1]
        following = encode_cursor("timestamp", "asc", _as_utc(last.timestamp), last.id)
    return Series(key=key, points=[(_as_utc(ts), float(v)) for _, ts, v in rows[:max_points]],
                  bucket_seconds=0, raw_count=total, next_cursor=following)


def portfolio_series(actor: User, portfolio_id: int, name: str, *,
                     since: datetime | None = None, until: datetime | None = None,
                     bucket: str | int | None = None, max_points: int = MAX_POINTS,
                     ip: str | None = None) -> Series:
    """The portfolio's series ``name`` (``statistic_keys.EQUITY``...).

    Empty before its first sample; NotFound when the portfolio is not the actor's to
    read (the portfolio page's charts).
    """
    load_owned(Portfolio, portfolio_id, actor, "read", ip=ip)
    key = portfolio_key(portfolio_id, name)
    return _series(key, [Statistic.key == key, Statistic.portfolio_id == portfolio_id],
                   since=since, until=until, bucket=bucket, max_points=max_points)


def _series(key: str, conditions: Sequence[Any], *, since: datetime | None,
            until: datetime | None, bucket: str | int | None, max_points: int) -> Series:
    """The rows matching ``conditions`` in ``[since, until)``, bucketed when needed."""
    check_range(since, until)
    seconds = parse_bucket(bucket)
    max_points = max(1, min(int(max_points), MAX_POINTS))
    conditions = list(conditions)
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
    statement = scoped(select(Statistic.key).distinct(), actor, "statistic")
    if prefix:
        statement = statement.where(Statistic.key.startswith(prefix, autoescape=True))
    return list(db.session.scalars(statement.order_by(Statistic.key).limit(limit)))
