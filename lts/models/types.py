"""Column types shared by the models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the value is stored
    as naive UTC text (which sorts correctly) and given back its UTC zone on load.
    Naive datetimes are refused on the way in: an unknown zone is a bug, not a default.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; strip the zone only for SQLite."""
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"naive datetime {value!r}: LTS stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite gives back; normalise PostgreSQL's zone to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any
                         ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, parse and attach UTC in one step (the API's lists load thousands).

        The generic TypeDecorator path calls the impl's parser and then
        :meth:`process_result_value` through two Python frames per value; on SQLite
        every value is naive UTC text, so one closure does the same work.
        """
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)
        if parse is None:  # pragma: no cover - SQLite's DATETIME always parses text
            return super().result_processor(dialect, coltype)

        def process(value: Any, parse: Callable[[Any], datetime] = parse) -> datetime | None:
            return None if value is None else parse(value).replace(tzinfo=UTC)

        return process
