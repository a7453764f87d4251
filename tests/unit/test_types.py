"""UTCDateTime reads SQLite's text exactly as the generic TypeDecorator path would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from lts.models.types import UTCDateTime

DIALECT = sqlite.dialect()


def _fast():
    return UTCDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)


def _stored(value: datetime) -> str:
    """What SQLAlchemy writes into SQLite for ``value`` (naive UTC text)."""
    return DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)(value.replace(tzinfo=None))


def test_reads_what_sqlalchemy_writes_as_aware_utc():
    read = _fast()
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    for value in (start, start + timedelta(microseconds=1), start + timedelta(days=400,
                  seconds=59, microseconds=999_999), datetime(1970, 1, 1, tzinfo=UTC)):
        assert read(_stored(value)) == value and read(_stored(value)).tzinfo is UTC


def test_text_the_fast_path_does_not_take_is_read_the_generic_way():
    read, generic = _fast(), DateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
    for text in ("2026-03-02", "2026-03-02 12:00:00+00:00", "2026-03-02 12:00:00.5"):
        assert read(text) == generic(text).replace(tzinfo=UTC)
    assert read(None) is None
